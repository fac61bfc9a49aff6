"""Per-model throttling and retries (a first, simple version; the providers issue extends it).

The runner calls ``call_with_retries(backend, request, gate)`` for every request. ``ModelGate`` bounds
concurrency per model; ``call_with_retries`` retries ``BackendError``s that are retryable and raises
``FinalFailure`` with the provider's message (and raw body) once attempts are exhausted.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from whosevalues.models.base import Backend, BackendError, ChatRequest, Completion


class FinalFailure(Exception):
    def __init__(self, message: str, attempts: int, raw: str | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.raw = raw


@dataclass
class ModelGate:
    """How many requests of one model may be in flight."""

    max_concurrency: int

    def __post_init__(self) -> None:
        self._semaphore = asyncio.Semaphore(self.max_concurrency)

    async def __aenter__(self) -> "ModelGate":
        await self._semaphore.acquire()
        return self

    async def __aexit__(self, *exc) -> None:
        self._semaphore.release()


async def call_with_retries(backend: Backend, request: ChatRequest, gate: ModelGate,
                            max_attempts: int = 6, base_delay: float = 0.5) -> tuple[Completion, int]:
    """Returns the completion and the number of attempts it took."""
    last: BackendError | None = None
    for attempt in range(1, max_attempts + 1):
        try:
            async with gate:
                return await backend.complete(request), attempt
        except BackendError as exc:
            last = exc
            if not exc.retryable or attempt == max_attempts:
                break
            delay = exc.retry_after if exc.retry_after is not None else base_delay * 2 ** (attempt - 1)
            await asyncio.sleep(delay * (1 + random.random() * 0.25))
    raise FinalFailure(str(last), attempt, getattr(last, "raw", None))
