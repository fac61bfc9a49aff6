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


class MicroBatcher(Generic[Request, Reply]):
    """``answer_many(requests)`` (run in a thread) returns one reply or exception per request, in order."""

    def __init__(self, answer_many: Callable[[Sequence[Request]], Sequence[Reply | Exception]], max_batch: int):
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
        while True:
            await self._settle()
            if not self._pending:
                return
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
            try:
                replies: Sequence[Reply | Exception] = await asyncio.to_thread(
                    self.answer_many, [request for request, _ in batch])
            except Exception as error:  # the whole call failed: every caller hears it
                replies = [error] * len(batch)
            for (_, future), reply in zip(batch, replies):
                if future.done():  # its worker was cancelled
                    continue
                if isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)

    async def _settle(self) -> None:
        """Let the workers woken by the last replies store them and submit their next requests: wait until
        the queue is full or has not grown for a few turns of the event loop (a worker may await a few times)."""
        seen, quiet = -1, 0
        while quiet < SETTLE_TURNS and len(self._pending) < self.max_batch:
            quiet = quiet + 1 if len(self._pending) == seen else 0
            seen = len(self._pending)
            await asyncio.sleep(0)
