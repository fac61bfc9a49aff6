"""The one protocol every provider batch API is driven through (``elicit/batch`` does the driving).

An adapter wraps a model's online backend: it reuses the backend's SDK client, its key and its request
parameters (so a batch line is the very body online asking would send, learned adaptations included),
and its translation of a response body (so a batch answer is read exactly like an online one).
It only speaks to the provider; what is recorded when, and what is asked again, lives in
``elicit/batch``.

Providers: ``openai-compatible`` (OpenAI and any endpoint with ``/v1/files`` + ``/v1/batches``),
``anthropic`` (Message Batches), ``gemini`` (Gemini API batch mode). Others have no batch API: the run
says so and asks those models online.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar

from whosevalues.models.base import Backend, BackendError, ChatRequest, ProviderReply, request_body
from whosevalues.models.remote import RemoteBackend, is_retryable_status, redact
from whosevalues.models.spec import ModelSpec


def batch_price_factor(spec: ModelSpec) -> float | None:
    """The fraction of the online price a batch request costs, where documented (``Backend.batch_price_factor``:
    the catalog's figure for the model or its host, else the provider's)."""
    from whosevalues.models.registry import create_backend

    return create_backend(spec).batch_price_factor()


@dataclass
class RemoteBatch:
    """A batch as the provider reports it. ``ended``: no line will change any more."""

    id: str
    status: str  # the provider's own word
    ended: bool
    total: int | None = None
    completed: int = 0
    failed: int = 0
    input_file_id: str | None = None
    label: str | None = None
    created_at: float | None = None  # unix seconds
    results_ref: dict[str, Any] = field(default_factory=dict)  # what ``results`` needs (file ids, ...)


@dataclass
class LineResult:
    """One line of a batch's results: an answer body to translate, or why the line failed."""

    custom_id: str
    body: Any = None  # the provider's response body for this request (parsed JSON)
    raw: str | None = None  # that body as text, for the store
    error: str | None = None  # set when the line failed (expired, cancelled, errored, non-200)
    http_status: int | None = None


class BatchUnavailable(Exception):
    """The provider or endpoint has no batch API (the message says which and why)."""


class BatchAdapter(ABC):
    """A provider's batch API. One instance per model, around that model's online backend."""

    #: most requests and bytes one batch may carry (None: no byte limit that matters)
    max_requests: ClassVar[int]
    max_bytes: ClassVar[int | None] = None
    #: True when lines go up as a file first (OpenAI, Gemini), False when sent with the create call
    uploads_file: ClassVar[bool] = True

    def __init__(self, backend: RemoteBackend):  # batch APIs are hosted ones: the SDK, its client and key
        self.backend = backend
        self.spec = backend.spec

    @property
    def price_factor(self) -> float | None:
        return batch_price_factor(self.spec)

    # -- lines

    @abstractmethod
    def line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        """One request as a line of the batch (the online request body, wrapped)."""

    # -- the provider

    async def _call(self, what: str, factory):
        """``await factory(client)`` with the SDK's errors as BackendError (openai and anthropic SDKs share
        their exception names; Gemini's adapter overrides this)."""
        sdk = self.backend.sdk()
        key = self.backend._key()
        try:
            return await factory(self.backend.client())
        except sdk.APIStatusError as exc:
            message = redact(f"{what}: HTTP {exc.status_code}: {exc.message}", key) or what
            raise BackendError(message, retryable=is_retryable_status(exc.status_code),
                               status=exc.status_code) from None
        except (sdk.APITimeoutError, sdk.APIConnectionError) as exc:
            raise BackendError(redact(f"{what}: {type(exc).__name__}: {exc}", key) or what, retryable=True) from None

    async def upload(self, label: str, lines: list[dict[str, Any]]) -> str:
        """Upload the lines as one file named after ``label``; return the provider's file id."""
        raise NotImplementedError

    async def find_upload(self, label: str) -> str | None:
        """The id of a file uploaded earlier under ``label`` (a run killed before recording it), if any."""
        return None

    @abstractmethod
    async def find(self, label: str, input_file_id: str | None, n_requests: int,
                   not_after: float, claimed: set[str]) -> RemoteBatch | None:
        """A batch created earlier for ``label`` whose id never reached the store, if any."""

    @abstractmethod
    async def create(self, label: str, input_file_id: str | None, lines: list[dict[str, Any]]) -> RemoteBatch:
        """Create the batch. Must return as soon as the provider accepted it."""

    @abstractmethod
    async def retrieve(self, remote_id: str) -> RemoteBatch:
        ...

    @abstractmethod
    async def results(self, remote: RemoteBatch) -> list[LineResult]:
        """Every line's result (answers and failures) of an ended batch."""

    @abstractmethod
    async def cancel(self, remote_id: str) -> RemoteBatch:
        ...

    @abstractmethod
    def reply(self, result: LineResult, request: ChatRequest) -> ProviderReply:
        """Translate a successful line exactly as the online backend translates a response.

        Raises ``BackendError`` when the body is not an answer (the line then counts as failed)."""

    async def aclose(self) -> None:
        await self.backend.aclose()


def online_params(backend: Backend, request: ChatRequest) -> dict[str, Any]:
    """The exact body online asking sends (``build_params``: thinking control and the endpoint's learned
    adaptations applied), without the SDK-only keywords."""
    params = dict(backend.build_params(request))
    # no batch API takes a stream: a line that needs one fails and is asked online, streamed
    for name in ("timeout", "extra_headers", "extra_query", "stream", "stream_options"):
        params.pop(name, None)
    return request_body(params)  # extra_body merged in, as the SDK sends it online


def batch_adapter(backend: Backend) -> BatchAdapter:
    """The batch adapter of a backend, or BatchUnavailable naming why there is none."""
    target = type(backend).batch_adapter  # each backend class names its own
    if target is None or not isinstance(backend, RemoteBackend):
        raise BatchUnavailable(f"provider {backend.spec.provider!r} has no batch API")
    module_name, class_name = target.split(":")
    return getattr(importlib.import_module(module_name), class_name)(backend)
