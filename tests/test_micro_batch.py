"""The in-process engine's batcher: requests submitted together are answered in one call, in order, and a
request's own failure reaches only its caller."""

from __future__ import annotations

import asyncio

import pytest

from whosevalues.models.micro_batch import MicroBatcher


def test_concurrent_requests_are_answered_in_one_call_in_the_order_they_came():
    calls: list[list[int]] = []

    def answer_many(requests, deliver):
        calls.append(list(requests))
        for i, r in enumerate(requests):
            deliver(i, ValueError(f"no {r}") if r == 3 else r * 10)

    async def main():
        batcher = MicroBatcher(answer_many, max_batch=4)
        return await asyncio.gather(*(batcher.submit(r) for r in range(6)), return_exceptions=True)

    results = asyncio.run(main())
    assert calls == [[0, 1, 2, 3], [4, 5]]  # at most max_batch a call, in submission order
    assert results[:3] == [0, 10, 20] and results[4:] == [40, 50]
    assert isinstance(results[3], ValueError) and str(results[3]) == "no 3"


def test_a_failed_call_reaches_every_caller_of_that_batch_and_the_next_batch_still_runs():
    def answer_many(requests, deliver):
        if 0 in requests:
            deliver(1, "answered before the engine died")
            raise RuntimeError("engine died")
        for i, r in enumerate(requests):
            deliver(i, r)

    async def main():
        batcher = MicroBatcher(answer_many, max_batch=2)
        return await asyncio.gather(*(batcher.submit(r) for r in range(3)), return_exceptions=True)

    first, second, third = asyncio.run(main())
    assert isinstance(first, RuntimeError) and second == "answered before the engine died" and third == 2


def test_workers_that_submit_after_their_replies_are_gathered_into_the_next_batch():
    """The runner's workers store a reply, then submit their next request: those arrive while the batcher
    waits a few turns of the event loop, so they still travel together."""
    sizes: list[int] = []

    def answer_many(requests, deliver):
        sizes.append(len(requests))
        for i, r in enumerate(requests):
            deliver(i, r)

    async def worker(batcher, numbers):
        for n in numbers:
            await batcher.submit(n)
            await asyncio.sleep(0)  # storing the answer

    async def main():
        batcher = MicroBatcher(answer_many, max_batch=8)
        await asyncio.gather(*(worker(batcher, range(i, 40, 4)) for i in range(4)))

    asyncio.run(main())
    assert sum(sizes) == 40 and max(sizes) == 4 and len(sizes) == 10


@pytest.mark.parametrize("max_batch", [1, 3])
def test_max_batch_bounds_every_call(max_batch):
    sizes: list[int] = []

    def answer_many(requests, deliver):
        sizes.append(len(requests))
        for i, r in enumerate(requests):
            deliver(i, r)

    async def main():
        batcher = MicroBatcher(answer_many, max_batch=max_batch)
        return await asyncio.gather(*(batcher.submit(r) for r in range(7)))

    assert asyncio.run(main()) == list(range(7)) and max(sizes) == max_batch


def test_a_request_the_engine_forgot_fails_loudly_instead_of_hanging():
    async def main():
        batcher = MicroBatcher(lambda requests, deliver: None, max_batch=2)
        return await asyncio.gather(batcher.submit("a"), return_exceptions=True)

    (result,) = asyncio.run(main())
    assert isinstance(result, RuntimeError) and "no reply" in str(result)


def test_each_reply_is_delivered_while_the_rest_of_the_batch_is_still_being_answered():
    import threading

    second_started = threading.Event()
    first_seen_early: list[bool] = []

    def answer_many(requests, deliver):
        deliver(0, "first")
        second_started.wait(5)  # the first caller must get its reply before this one finishes
        deliver(1, "second")

    async def main():
        batcher = MicroBatcher(answer_many, max_batch=2)

        async def first():
            reply = await batcher.submit(0)
            first_seen_early.append(not second_started.is_set())
            second_started.set()
            return reply

        return await asyncio.gather(first(), batcher.submit(1))

    assert asyncio.run(main()) == ["first", "second"] and first_seen_early == [True]


@pytest.mark.slow  # waits past the timeout's floor (1 s)
def test_an_in_process_backend_is_not_cut_short_by_the_per_request_timeout():
    """Its requests wait for their whole batch: a slow batch is no hung connection (no retry, no duplicate)."""
    from whosevalues.elicit.limits import _attempt
    from whosevalues.models.base import BackendError

    class SlowEngine:
        in_process = True
        calls = 0

        async def complete(self, request):
            SlowEngine.calls += 1
            await asyncio.sleep(1.3)  # beyond the limit: timeout x 1.25 + 1 s
            return "answered"

    class SlowServer(SlowEngine):
        in_process = False

    assert asyncio.run(_attempt(SlowEngine(), None, timeout=0.01)) == "answered" and SlowEngine.calls == 1
    with pytest.raises(BackendError, match="no answer within"):
        asyncio.run(_attempt(SlowServer(), None, timeout=0.01))
