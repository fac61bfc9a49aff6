"""Test and benchmark helpers: loopback servers that speak the providers' wire formats.

- ``serve_local_openai``: the real llama.cpp OpenAI-compatible server with the embedded model.
- ``StubOpenAIServer``: a tiny deterministic OpenAI-compatible server (pure throughput, no model).
- ``FaultProxy``: a seeded fault-injecting reverse proxy (latency, rate limit, 5xx, drops, bad bodies).
- ``ProviderStubServer``: models that behave as today's providers do (reasoning, 400s naming parameters,
  inline ``<think>``, one-hot logprobs, markdown, content filters), for end-to-end tests.
- ``ReplayServer``: answers with recorded HTTP exchanges (Anthropic and Gemini SDK tests).
- ``StubBatchServer``: OpenAI's Files and Batch APIs (batches that take seconds, a few lines failing), with
  holds to kill a client at an exact step of a submission.

Everything binds 127.0.0.1 and uses only the standard library.
"""

from importlib import import_module
from typing import Any

# name -> module; imported on first use, so ``python -m whosevalues.testing.stub_openai`` runs cleanly
_EXPORTS = {
    "FAULTS": "fault_proxy", "FaultProxy": "fault_proxy",
    "LocalServer": "llama_server", "find_embedded_gguf": "llama_server", "serve_local_openai": "llama_server",
    "ReplayServer": "replay", "load_exchanges": "replay",
    "StubOpenAIServer": "stub_openai", "ProviderStubServer": "stub_providers",
    "StubBatchServer": "stub_batches",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'whosevalues.testing' has no attribute {name!r}")
    return getattr(import_module(f"whosevalues.testing.{_EXPORTS[name]}"), name)
