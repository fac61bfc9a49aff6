"""limits.py in isolation: AIMD concurrency, backoff with jitter, attempt caps, timeouts, odd exceptions."""

from __future__ import annotations

import asyncio
import random

import pytest

from whosevalues.elicit.limits import (
    DECREASE_FACTOR, FinalFailure, ModelGate, backoff_delay, call_with_retries,
)
from whosevalues.models.base import Backend, BackendError, ChatRequest, ProviderReply
from whosevalues.models.spec import ModelSpec

REQUEST = ChatRequest(key="k", system="s", user="u", mode="sample", scale_min=1, scale_max=5, temperature=None,
                      max_tokens=10, seed=0)


class ScriptedBackend(Backend):
    """Raises the scripted exceptions in order, then answers; records the most requests in flight."""

    name = "scripted"

    def __init__(self, script=(), delay: float = 0.0):
        super().__init__(ModelSpec(id="scripted", provider="openai-compatible", api_model="m"))
        self.script, self.delay, self.in_flight, self.peak, self.calls = list(script), delay, 0, 0, 0

    async def complete(self, request: ChatRequest) -> ProviderReply:
        self.calls += 1
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            await asyncio.sleep(self.delay)
            if self.script:
                raise self.script.pop(0)
            return ProviderReply(answer_text="3", finish_reason="stop")
        finally:
            self.in_flight -= 1


async def no_sleep(seconds: float) -> None:
    return None


def test_backoff_is_full_jitter_with_retry_after_as_floor():
    rng = random.Random(0)
    draws = [backoff_delay(4, 0.5, 30, None, rng) for _ in range(500)]
    assert min(draws) >= 0 and max(draws) <= 0.5 * 2 ** 3
    assert max(draws) > 0.9 * 4 and min(draws) < 0.1 * 4  # spread over the whole range
    assert backoff_delay(10, 0.5, 30, None, rng) <= 30
    assert all(5 <= backoff_delay(1, 0.5, 30, 5.0, rng) <= 6 for _ in range(100))


def test_aimd_halves_once_per_burst_and_grows_back():
    now = [0.0]
    gate = ModelGate(32, clock=lambda: now[0])
    for _ in range(10):  # a burst of 429s at one moment is one piece of news
        gate.on_slow_down()
    assert gate.limit == int(32 * DECREASE_FACTOR) and gate.stats["decreases"] == 1
    now[0] += 5.0
    gate.on_slow_down()
    assert gate.limit == int(32 * DECREASE_FACTOR ** 2)
    limit = gate.limit
    for _ in range(limit + 1):  # about one round trip of successes adds one
        gate.on_success(0.1)
    assert gate.limit == limit + 1
    for _ in range(10_000):
        gate.on_success(0.1)
    assert gate.limit == 32  # never above the configured maximum


def test_gate_never_lets_more_than_its_limit_in_flight():
    backend = ScriptedBackend(delay=0.01)
    gate = ModelGate(5)

    async def go():
        return await asyncio.gather(*(call_with_retries(backend, REQUEST, gate) for _ in range(40)))

    results = asyncio.run(go())
    assert len(results) == 40 and backend.peak == 5 and gate.in_flight == 0


def test_rate_limits_do_not_use_up_attempts_but_other_errors_do():
    limited = [BackendError("429", status=429, retry_after=0.0) for _ in range(8)]
    backend = ScriptedBackend(limited)
    completion, attempts = asyncio.run(call_with_retries(backend, REQUEST, ModelGate(2), max_attempts=3,
                                                         sleep=no_sleep))
    assert completion.answer_text == "3" and attempts == 9
    failing = ScriptedBackend([BackendError("boom", status=502, raw="<html>bad gateway</html>")] * 5)
    with pytest.raises(FinalFailure) as caught:
        asyncio.run(call_with_retries(failing, REQUEST, ModelGate(2), max_attempts=3, sleep=no_sleep))
    assert caught.value.attempts == 3 and caught.value.raw == "<html>bad gateway</html>"
    assert caught.value.status == 502 and caught.value.retryable
    with pytest.raises(FinalFailure, match="rate limited 3 times"):
        asyncio.run(call_with_retries(ScriptedBackend(list(limited)), REQUEST, ModelGate(2), max_rate_limited=2,
                                      sleep=no_sleep))


def test_non_retryable_error_fails_at_once():
    backend = ScriptedBackend([BackendError("HTTP 400: bad", retryable=False, status=400, raw="{}")])
    with pytest.raises(FinalFailure) as caught:
        asyncio.run(call_with_retries(backend, REQUEST, ModelGate(1), sleep=no_sleep))
    assert caught.value.attempts == 1 and backend.calls == 1 and not caught.value.retryable


def test_unexpected_exceptions_and_hangs_are_retried_not_crashes():
    backend = ScriptedBackend([KeyError("choices"), OSError("reset by peer")])
    completion, attempts = asyncio.run(call_with_retries(backend, REQUEST, ModelGate(1), sleep=no_sleep))
    assert attempts == 3 and completion.answer_text == "3"
    slow = ScriptedBackend(delay=5.0)
    with pytest.raises(FinalFailure, match="no answer within"):
        asyncio.run(call_with_retries(slow, REQUEST, ModelGate(1), max_attempts=1, timeout=0.01, sleep=no_sleep))


def test_gate_for_model_reads_the_spec():
    spec = ModelSpec(id="m", provider="openai-compatible", max_concurrency=7, requests_per_minute=600,
                     tokens_per_minute=90_000, timeout=12)
    gate = ModelGate.for_model(spec, default_concurrency=32)
    assert gate.max_concurrency == 7 and gate.timeout == 12
    assert gate.requests.rate == 10 and gate.tokens.rate == 1500
    assert ModelGate.for_model(ModelSpec(id="n", provider="anthropic"), 16).max_concurrency == 16
    with pytest.raises(ValueError, match="max_concurrency"):
        ModelGate(0)


def test_probe_retries_transient_errors_and_reports_unknown():
    from whosevalues.elicit.limits import probe_distribution

    class Probe(ScriptedBackend):
        async def supports_distribution(self) -> bool:
            if self.script:
                raise self.script.pop(0)
            return True

    assert asyncio.run(probe_distribution(Probe([BackendError("429", status=429)] * 2), sleep=no_sleep)) is True
    assert asyncio.run(probe_distribution(Probe([BackendError("500", status=500)] * 9), sleep=no_sleep)) is None
    assert asyncio.run(probe_distribution(Probe([BackendError("400", retryable=False)]), sleep=no_sleep)) is False
