"""Test and benchmark helpers: loopback servers that speak the providers' wire formats.

- ``serve_local_openai``: the real llama.cpp OpenAI-compatible server with the embedded model.
- ``StubOpenAIServer``: a tiny deterministic OpenAI-compatible server (pure throughput, no model).
- ``FaultProxy``: a seeded fault-injecting reverse proxy (latency, rate limit, 5xx, drops, bad bodies).
- ``ReplayServer``: answers with recorded HTTP exchanges (Anthropic and Gemini SDK tests).

Everything binds 127.0.0.1 and uses only the standard library.
"""

from whosevalues.testing.fault_proxy import FAULTS, FaultProxy
from whosevalues.testing.llama_server import LocalServer, find_embedded_gguf, serve_local_openai
from whosevalues.testing.replay import ReplayServer, load_exchanges
from whosevalues.testing.stub_openai import StubOpenAIServer

__all__ = ["FAULTS", "FaultProxy", "LocalServer", "ReplayServer", "StubOpenAIServer", "find_embedded_gguf",
           "load_exchanges", "serve_local_openai"]
