"""limits.py in isolation: AIMD concurrency, backoff with jitter, attempt caps, timeouts, odd exceptions."""

from __future__ import annotations

import asyncio
import random

import pytest

from whosevalues.elicit.limits import (
    DECREASE_FACTOR,
    PACE_BINDING_SHARE,
    PACE_MARGIN,
    PACE_MAX_CUT,
    PACE_PROBE,
    RETRY_AFTER_TRUSTED,
    FinalFailure,
    LearnedPace,
    ModelGate,
    backoff_delay,
    call_with_retries,
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


def _one_second(pace: LearnedPace, now: list[float], accepted: int, limited: int) -> None:
    """Answers spread over one second of the fake clock: ``accepted`` taken, ``limited`` 429s."""
    total, start = accepted + limited, now[0]
    for i in range(total):
        now[0] = start + (i + 1) / total  # the last answer lands exactly one second on
        pace.record(limited=i < limited)


def test_learned_pace_starts_from_what_the_provider_accepted_and_probes_up_only_when_held_back():
    now = [0.0]
    pace = LearnedPace(clock=lambda: now[0])
    pace.record(limited=False)  # the first answer starts the first look
    _one_second(pace, now, accepted=50, limited=4)  # 7% 429s: noise, no pace yet
    assert pace.rate is None
    _one_second(pace, now, accepted=40, limited=60)  # over the limit: pace at what it took, a little over
    assert pace.rate == pytest.approx(40 * PACE_MARGIN, rel=0.03)
    learned = pace.rate
    _one_second(pace, now, accepted=38, limited=2)  # few 429s, but the pace held nobody back: keep it
    assert pace.rate == learned
    pace._held_back = True  # the bucket made a request wait during this second
    _one_second(pace, now, accepted=38, limited=2)
    assert pace.rate == pytest.approx(learned * PACE_PROBE)
    pace._held_back = True
    _one_second(pace, now, accepted=36, limited=6)  # 14%: between the thresholds, hold
    assert pace.rate == pytest.approx(learned * PACE_PROBE)
    assert pace.stats["lowered"] == 1 and pace.stats["raised"] == 1
    _one_second(pace, now, accepted=10, limited=90)  # far over (the limit fell): a look cuts by a fifth at most
    assert pace.rate == pytest.approx(learned * PACE_PROBE * PACE_MAX_CUT)


def test_the_look_after_a_cut_does_not_cut_again():
    """A provider counts over a window (here a second) that still holds the burst sent before a cut: the
    look right after it sees that burst's 429s and must not read them as the new pace being too fast."""
    now = [0.0]
    pace = LearnedPace(clock=lambda: now[0])
    pace.record(limited=False)
    _one_second(pace, now, accepted=80, limited=120)  # the first burst: paced at what it took
    learned = pace.rate
    assert learned == pytest.approx(80 * PACE_MARGIN, rel=0.03)
    _one_second(pace, now, accepted=60, limited=40)  # the burst's retries: the window still holds it
    assert pace.rate == learned and pace.stats["lowered"] == 1
    _one_second(pace, now, accepted=60, limited=40)  # still over a whole look later: that is the pace
    assert pace.rate == pytest.approx(max(60 * PACE_MARGIN, learned * PACE_MAX_CUT), rel=0.03)
    assert pace.stats["lowered"] == 2


def test_learned_pace_is_not_raised_while_the_client_is_slower_than_it():
    now = [0.0]
    pace = LearnedPace(clock=lambda: now[0])
    pace.record(limited=False)
    _one_second(pace, now, accepted=40, limited=60)
    learned = pace.rate
    assert learned is not None
    pace._held_back = True  # a request waited for its turn once, but the second brought far fewer answers
    _one_second(pace, now, accepted=int(learned * (PACE_BINDING_SHARE - 0.1)), limited=0)
    assert pace.rate == learned and pace.stats["raised"] == 0  # slow client: nothing learned about the limit
    pace._held_back = True
    _one_second(pace, now, accepted=int(learned) + 1, limited=0)  # at the pace: it was what held answers back
    assert pace.rate == pytest.approx(learned * PACE_PROBE)


def test_learned_pace_does_not_read_idle_time_as_a_low_limit():
    now = [0.0]
    pace = LearnedPace(clock=lambda: now[0])
    pace.record(limited=False)  # a pilot request, then a pause before the workers start
    now[0] = 5.0
    pace.record(limited=False)  # the workers' first answer starts a new look
    _one_second(pace, now, accepted=30, limited=30)
    assert pace.rate == pytest.approx(31 * PACE_MARGIN)  # 31 taken in that second, not 32 over six seconds


def test_once_paced_a_429_teaches_the_pace_but_overload_still_cuts_concurrency():
    now = [0.0]
    gate = ModelGate(32, clock=lambda: now[0])
    for _ in range(30):  # a burst of 429s before any pace: concurrency is all there is to cut
        now[0] += 0.04
        gate.on_success(0.1) if now[0] < 0.6 else gate.on_slow_down(429)
    assert gate.pace.rate is not None and gate.stats["decreases"] >= 1
    limit = gate.limit
    for _ in range(50):
        now[0] += 0.2
        gate.on_slow_down(429)
    assert gate.limit == limit
    gate.on_slow_down(503)
    assert gate.limit == int(limit * DECREASE_FACTOR)


def test_a_paced_gate_spaces_requests_at_its_learned_rate():
    gate = ModelGate(8)
    gate.pace._set(50.0)  # as if learned: 50 requests a second
    backend = ScriptedBackend(delay=0.0)

    async def go():
        started = asyncio.get_running_loop().time()
        await asyncio.gather(*(call_with_retries(backend, REQUEST, gate) for _ in range(26)))
        return asyncio.get_running_loop().time() - started

    elapsed = asyncio.run(go())
    assert 25 / 50 * 0.9 <= elapsed < 25 / 50 * 2  # one token of burst, then one request every 20 ms


def test_paced_429_retries_wait_the_retry_after_not_an_exponential_backoff():
    waits = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    limited = [BackendError("429", status=429, retry_after=0.2) for _ in range(8)]
    gate = ModelGate(2)
    gate.pace._set(1000.0)
    asyncio.run(call_with_retries(ScriptedBackend(limited), REQUEST, gate, sleep=record, rng=random.Random(0)))
    assert len(waits) == 8 and all(0.2 <= wait <= 0.2 + 0.07 for wait in waits)
    asyncio.run(call_with_retries(ScriptedBackend(list(limited)), REQUEST, ModelGate(2), sleep=record,
                                  rng=random.Random(0)))
    unpaced = waits[8:]
    # before a pace is learned, a request's first 429s trust the Retry-After (the pace is learned within a
    # second; exponential waits there starved it), then back off exponentially (up to 16 s here): a provider
    # that keeps refusing one request may accept nothing, and then no pace can be learned
    trusted = unpaced[:RETRY_AFTER_TRUSTED]
    assert all(0.2 <= wait <= 0.2 + 0.07 for wait in trusted)
    assert max(unpaced[RETRY_AFTER_TRUSTED:]) > 1.0


def test_a_random_fault_amid_successes_is_retried_after_one_base_delay_not_exponentially():
    """Exponential growth is for a failing model; an unlucky request of a healthy one (faults at random) retries
    within one base delay each time, so it does not linger as a run's last seconds."""
    faults = [BackendError("500", status=500) for _ in range(5)]

    def waits_with(gate: ModelGate) -> list[float]:
        waits: list[float] = []

        async def record(seconds: float) -> None:
            waits.append(seconds)

        asyncio.run(call_with_retries(ScriptedBackend(list(faults)), REQUEST, gate, max_attempts=6, sleep=record,
                                      rng=random.Random(3)))
        return waits

    healthy = ModelGate(2)
    for k in range(100):  # 80% successes, 20% faults
        healthy.on_success(0.1) if k % 5 else healthy.on_failure()
    assert not healthy.failing()
    waits = waits_with(healthy)
    assert len(waits) == 5 and max(waits) <= 0.5
    failing = ModelGate(2)
    for _ in range(30):
        failing.on_failure()
    assert failing.failing() and ModelGate(2).failing()  # failing, or not yet known to be healthy
    assert max(waits_with(failing)) > 0.5  # up to 0.5 * 2^4 = 8 s
    assert max(waits_with(ModelGate(2))) > 0.5


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
