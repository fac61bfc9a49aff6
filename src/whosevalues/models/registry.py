"""Provider name -> backend class. Each backend module imports its SDK lazily, inside the class.

To add a provider: write ``models/<name>.py`` with a ``Backend`` subclass and add one line below.
"""

from __future__ import annotations

import importlib

from whosevalues.models.base import Backend, ConfigurationError
from whosevalues.models.spec import ModelSpec

# provider -> "module:Class" (imported only when used, so a missing optional SDK costs nothing)
BACKENDS: dict[str, str] = {
    "local-llama": "whosevalues.models.local_llama:LocalLlamaBackend",
    "openai-compatible": "whosevalues.models.openai_compatible:OpenAICompatibleBackend",
    "anthropic": "whosevalues.models.anthropic_backend:AnthropicBackend",
    "gemini": "whosevalues.models.gemini_backend:GeminiBackend",
}


def backend_class(provider: str) -> type[Backend]:
    if provider not in BACKENDS:
        raise ConfigurationError(f"unknown provider {provider!r}: use one of {', '.join(BACKENDS)}")
    module_name, class_name = BACKENDS[provider].split(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ConfigurationError(f"provider {provider!r} is not available ({exc}); "
                                 f"install it with: pip install 'whosevalues[providers]'") from None
    return getattr(module, class_name)


def create_backend(spec: ModelSpec) -> Backend:
    return backend_class(spec.provider)(spec)
