"""What every hosted-API backend shares: the SDK import, the key, one SDK client per event loop.

A provider module subclasses :class:`RemoteBackend`, sets the class attributes that name its SDK, its
``pip`` extra, its default key variable and an example ``api_model``, and implements
:meth:`RemoteBackend._make_client`. The helpers below (key lookup and redaction, ``Retry-After``,
which statuses to retry) are provider-neutral and used by all of them.
"""

from __future__ import annotations

import asyncio
import importlib
from abc import abstractmethod
from typing import Any, ClassVar

from whosevalues.models.base import Backend, BackendError, ConfigurationError

# parse_retry_after moved to models.errors with the other readers of error responses; still importable here
from whosevalues.models.errors import RETRYABLE_STATUSES, parse_retry_after  # noqa: F401
from whosevalues.models.spec import ModelSpec

#: a key the SDK insists on but a keyless self-hosted server ignores
PLACEHOLDER_KEY = "not-needed"


# ---------------------------------------------------------------- helpers shared by the remote backends

def redact(text: str | None, secret: str | None) -> str | None:
    """Remove an API key from text that will be stored or shown (providers echo keys in 401 bodies)."""
    if not text or not secret or secret == PLACEHOLDER_KEY:
        return text
    return text.replace(secret, "***")


def is_retryable_status(status: int | None) -> bool:
    """408, 409 (lock contention), 425, 429 and every 5xx (incl. Anthropic's 529) are worth retrying."""
    return status is not None and (status in RETRYABLE_STATUSES or status >= 500)


def require_key(spec: ModelSpec, env: str | None = None) -> str:
    """The key from ``env`` (default ``spec.api_key_env``) or a ConfigurationError naming the variable."""
    from whosevalues.models.keys import read_key

    env = env or spec.api_key_env
    value = read_key(env) if env else None  # stripped; a malformed key is refused naming the variable
    if not value:
        raise ConfigurationError(f"model {spec.id!r} needs an API key: set {env} in the "
                                 f"environment (export {env}=...)")
    return value


def import_sdk(module: str, extra: str, model_id: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError:
        raise ConfigurationError(f"model {model_id!r} needs the {module!r} package: "
                                 f"pip install 'whosevalues[{extra}]'") from None


# ---------------------------------------------------------------- the base class

class RemoteBackend(Backend):
    """A backend that calls a provider's API through its official SDK."""

    #: the SDK's importable module, e.g. ``"anthropic"`` or ``"google.genai"``
    sdk_module: ClassVar[str]
    #: the ``whosevalues[...]`` extra that installs it
    extra_name: ClassVar[str]
    #: the key variable when the model sets no ``api_key_env`` (None: no key needed)
    default_key_env: ClassVar[str | None] = None
    #: shown in the "has no api_model" error, e.g. ``"claude-..."``
    api_model_example: ClassVar[str] = "<model name>"

    def __init__(self, spec: ModelSpec):
        super().__init__(spec)
        self._client: Any = None
        self._client_loop: Any = None
        self._distribution: bool | None = None

    # -- configuration

    def sdk(self, module: str | None = None) -> Any:
        """The SDK module (or one of its submodules), or a ConfigurationError naming the extra to install."""
        return import_sdk(module or self.sdk_module, self.extra_name, self.spec.id)

    def key_env(self) -> str | None:
        """The variable the key is read from (None: the endpoint needs no key)."""
        return self.spec.api_key_env or self.default_key_env

    def _key(self) -> str:
        env = self.key_env()
        if env is None:
            return PLACEHOLDER_KEY
        return require_key(self.spec, env)

    def check_ready(self) -> None:
        self.sdk()
        if not self.spec.api_model:
            raise ConfigurationError(f"model {self.spec.id!r} has no api_model: add api_model = "
                                     f"\"{self.api_model_example}\" to its [[models]] block")
        self._key()

    # -- the client

    def client(self) -> Any:
        # one client per event loop: an SDK client's connection pool belongs to the loop that made it
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self.sdk()  # a missing SDK is reported before a missing key, as check_ready does
            self._client = self._make_client(self._key())
            self._client_loop = loop  # only once the client exists, so a failed build is retried
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await self._close_client(client)

    async def _close_client(self, client: Any) -> None:
        """Release the SDK client's connections (the openai and anthropic SDKs: ``await client.close()``)."""
        await client.close()

    @abstractmethod
    def _make_client(self, api_key: str) -> Any:
        """A new async SDK client with the SDK's own retries off (``elicit.limits`` retries)."""

    # -- errors every SDK raises in its own types

    def _timed_out(self) -> BackendError:
        return BackendError(f"timed out after {self.spec.timeout:g}s", retryable=True)

    def _connection_error(self, cause: BaseException, key: str) -> BackendError:
        return BackendError(redact(f"connection error: {type(cause).__name__}: {cause}", key) or "",
                            retryable=True)

    # -- distribution support

    async def supports_distribution(self) -> bool:
        """Probe once (:meth:`_probe_distribution`); the runner caches it under ``spec.endpoint_key``."""
        if self._distribution is None:
            try:
                self._distribution = await self._probe_distribution()
            except BackendError as exc:
                error = getattr(exc, "error", None)
                if exc.retryable or (error is not None and error.account_level):
                    raise  # unknown yet (or the account's fault): let the caller decide, cache nothing
                self._distribution = False
        return self._distribution

    async def _probe_distribution(self) -> bool:
        """One small request asking for token probabilities; True when they came back."""
        return False
