"""Gather the requests that concurrent workers submit while an in-process engine is busy; answer them together.

The runner keeps ``default_concurrency`` requests in flight per model. A remote backend sends each on its own;
an in-process engine has one KV cache, so the embedded model takes them in one call instead: distribution
prompts one after the other in the order they came (the plan's order, which keeps the shared prompt prefix in
the cache), samples side by side. Each request's own failure goes back to its own caller.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Request = TypeVar("Request")
Reply = TypeVar("Reply")
#: turns of the event loop without a new request before a batch starts (each turn costs microseconds)
SETTLE_TURNS = 3


Deliver = Callable[[int, object], None]


class MicroBatcher(Generic[Request, Reply]):
    """``answer_many(requests, deliver)`` runs in a thread and calls ``deliver(index, reply_or_exception)`` once
    per request, as soon as that one is answered (so a worker stores it and queues its next request while the
    rest of the batch is still being answered)."""

    def __init__(self, answer_many: Callable[[Sequence[Request], Deliver], None], max_batch: int):
        self.answer_many = answer_many
        self.max_batch = max_batch
        self._pending: list[tuple[Request, asyncio.Future]] = []
        self._draining: asyncio.Task | None = None

    async def submit(self, request: Request) -> Reply:
        future = asyncio.get_running_loop().create_future()
        self._pending.append((request, future))
        if self._draining is None or self._draining.done():
            self._draining = asyncio.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._settle()
            if not self._pending:
                return
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            futures = [future for _, future in batch]

            def deliver(index: int, reply: object, futures: list[asyncio.Future] = futures) -> None:
                loop.call_soon_threadsafe(_resolve, futures[index], reply)

            try:
                await asyncio.to_thread(self.answer_many, [request for request, _ in batch], deliver)
            except Exception as error:  # the call itself failed: every caller not yet answered hears it
                for future in futures:
                    _resolve(future, error)
            await asyncio.sleep(0)  # the deliveries queued by the thread run first
            for future in futures:
                _resolve(future, RuntimeError("the engine returned no reply for this request (a bug)"))

    async def _settle(self) -> None:
        """Let the workers woken by the last replies store them and submit their next requests: wait until
        the queue is full or has not grown for a few turns of the event loop (a worker may await a few times)."""
        seen, quiet = -1, 0
        while quiet < SETTLE_TURNS and len(self._pending) < self.max_batch:
            quiet = quiet + 1 if len(self._pending) == seen else 0
            seen = len(self._pending)
            await asyncio.sleep(0)


def _resolve(future: asyncio.Future, reply: object) -> None:
    if future.done():  # answered already, or its worker was cancelled
        return
    if isinstance(reply, BaseException):
        future.set_exception(reply)
    else:
        future.set_result(reply)
