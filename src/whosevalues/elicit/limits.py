"""Per-model throttling and retries: how whosevalues runs fast without losing answers.

The runner calls ``call_with_retries(backend, request, gate)`` for every request. One ``ModelGate`` per
model bounds what that model has in flight and how fast it is asked; different models have different
gates, so they run in parallel and a slow or throttled provider never holds up the others.

- **Concurrency, adaptive (AIMD).** The gate starts at the model's ``max_concurrency``. Each success adds
  ``1/limit`` (about +1 per round trip); a 429 or overload response multiplies the limit by 0.9
  (``DECREASE_FACTOR``), at most
  once per typical request latency (one cut per burst, as TCP does). A throttled model slows down
  instead of failing, and recovers when the provider does.
- **Learned request rate.** A provider's real limit is rarely in the spec. Once a second (and at least
  ``PACE_MIN_ANSWERS`` answers) the gate looks at the answers since its last look (``LearnedPace``): when
  more than ``PACE_OVER_SHARE`` of them were 429s, it paces requests at just above what the provider
  accepted (the answers that were not 429s; a look lowers the pace by ``PACE_MAX_CUT`` at most, and the
  look after a cut does not cut again: a provider counts over a window, which still holds what was sent
  before the cut); while
  fewer than ``PACE_UNDER_SHARE`` were, and the pace was
  what held requests back (and answers came near the pace: ``PACE_BINDING_SHARE``), it raises the pace by
  ``PACE_PROBE`` a look to find a limit that rose.
  Pacing sends requests evenly instead of in bursts that all meet 429s and all come back together after
  the same Retry-After; so once the pace is learned, a 429 no longer cuts concurrency (503/529 still do)
  and its retry waits only the Retry-After, then its turn in the pace.
- **Rates.** ``requests_per_minute`` and ``tokens_per_minute`` are token buckets (0.1 s and 1 s of burst),
  so a configured limit is met without ever sending a request the provider must refuse.
- **Retries.** Retryable errors (timeouts, dropped connections, 5xx, malformed bodies) back off
  exponentially with full jitter (a uniform draw in [0, base * 2^n], capped); a ``Retry-After`` from the
  provider is a floor. The growth is for a model that is failing: while most of its recent answers
  succeed (``ModelGate.failing`` false), a failure is a random fault and its retry waits one base delay's
  jitter, however often that request was unlucky (with 20% faults, a few requests in thousands fail four or
  five times in a row; exponential waits left them as a run's last seconds, 8 s of a 56 s run).
  Rate-limit answers (429) are not failures of the request: they do not use up
  ``max_attempts`` (only ``max_rate_limited``, a much larger cap), so a run under a tight limit finishes.
- **Giving up.** After ``max_attempts`` failures, or at once for a non-retryable error (400, 401, 403,
  404), ``FinalFailure`` carries the provider's message, the HTTP status and the raw body for the store.
  An account-level failure (no credit, a rejected key, no such model; ``elicit.account``) raises
  ``AccountFailure`` at once, even on a 429: a 429 is a rate limit only when the provider says so.
- **Why no retry library.** tenacity was considered (issue 16): its waits have no Retry-After floor, and
  the loops here also count 429s apart from failures, turn SDK surprises into retryable errors and teach
  the gate; wrapped in tenacity they would be no shorter and less plain.
- **Timeout.** ``timeout`` (the model's ``timeout``) bounds every attempt, on top of the SDK's own timeout,
  so a connection that hangs without closing is retried too.
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from typing import Awaitable, Callable, TypedDict

from whosevalues.models.base import Backend, BackendError, ChatRequest, ConfigurationError, ProviderReply
from whosevalues.models.spec import ModelSpec

#: statuses meaning "the provider is throttling or overloaded": slow this model down
SLOW_DOWN_STATUSES = frozenset({429, 503, 529})
#: gentler than TCP's halving because it may apply once per round trip: a provider that stays over its
#: limit still sees the pace fall by about two thirds a second at 100 ms latency, while one burst of 429s
#: does not leave the model far below what the provider allows (benchmarks/bench_throughput.py --hostile)
DECREASE_FACTOR = 0.9
#: cut concurrency only when at least this share of the last RECENT_OUTCOMES answers said "slow down": a
#: provider answering a random few percent of requests with 429 (or 503) is not asking us to halve our pace
#: (TCP's lesson about random loss); one that is over its limit answers a large share that way at once
SLOW_DOWN_SHARE = 0.2
RECENT_OUTCOMES = 100
#: a model is failing (retries back off exponentially) when at least this share of its recent answers failed,
#: or before FAILING_MIN_OUTCOMES answers have shown it is not
FAILING_SHARE = 0.5
FAILING_MIN_OUTCOMES = 20
#: the learned pace (``LearnedPace``): above this share of 429s in a second we send faster than the provider
#: takes; below PACE_UNDER_SHARE we may be slower (a few random 429s are noise, not the limit)
PACE_OVER_SHARE = 0.2
PACE_UNDER_SHARE = 0.1
#: pace at this multiple of what the provider accepted: a little over, so its window stays full (a 429
#: costs a short wait; a second it is not asked costs that second's answers)
PACE_MARGIN = 1.02
#: growth per look while few answers are 429s and the pace is what holds the model back: quick, since a
#: pace learned from a burst (or on a busy client) can be far below the limit, and overshooting costs little
PACE_PROBE = 1.1
#: ... but only while the answers came at least this close to the pace: a client slower than its pace (a busy
#: machine, slow responses) learns nothing about the limit, and a pace raised on it overshoots once it catches up
PACE_BINDING_SHARE = 0.85
#: the pace looks at no fewer answers than this at a time (a slow or tightly limited model: several seconds)
PACE_MIN_ANSWERS = 20
#: a pause this long between answers (a pilot request, a sweep's wait) starts a new look
PACE_IDLE_SECONDS = 1.0
#: one look lowers the pace by at most this factor: a few 429s too many among few answers is noise
PACE_MAX_CUT = 0.8
#: before a pace is learned, a request's first 429s wait only their Retry-After (``_rate_limited_delay``)
RETRY_AFTER_TRUSTED = 3
#: the bucket behind a learned pace holds this many seconds of requests: even pacing, no bursts
PACE_BURST_SECONDS = 0.02


class FinalFailure(Exception):
    """A request that will not be retried again. ``raw`` is the provider's body, if it sent one."""

    def __init__(self, message: str, attempts: int, raw: str | None = None, *, status: int | None = None,
                 retryable: bool = False):
        super().__init__(message)
        self.attempts = attempts
        self.raw = raw
        self.status = status
        #: True when we gave up on an error that might succeed later (a rerun asks again)
        self.retryable = retryable


class AccountFailure(FinalFailure):
    """A final failure that concerns the account or the model name, not the request (``reason`` as read)."""

    def __init__(self, message: str, attempts: int, raw: str | None = None, *, status: int | None = None,
                 reason: str = "other"):
        super().__init__(message, attempts, raw, status=status, retryable=False)
        self.reason = reason


class RateBucket:
    """A token bucket refilling ``per_minute / 60`` per second, holding ``burst_seconds`` worth (at least 1).

    A short burst keeps every one-second window within the limit plus a request or two, so even a
    provider that counts over sliding seconds never sees us above its rate.
    """

    def __init__(self, per_minute: float, clock: Callable[[], float] = time.monotonic,
                 burst_seconds: float = 0.1):
        if per_minute <= 0:
            raise ValueError(f"a per-minute limit must be positive, got {per_minute}")
        self.rate = per_minute / 60.0
        self.burst_seconds = burst_seconds
        self.capacity = max(1.0, self.rate * burst_seconds)
        self._tokens = self.capacity
        self._clock = clock
        self._last = clock()
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def set_rate(self, per_second: float) -> None:
        """Change the rate from now on (waiting takers pick it up at their next look)."""
        self._refill()
        self.rate = per_second
        self.capacity = max(1.0, per_second * self.burst_seconds)
        self._tokens = min(self._tokens, self.capacity)

    async def take(self, amount: float = 1.0) -> bool:
        """Wait for ``amount`` tokens; True when there was a wait (the bucket held the caller back)."""
        amount = min(amount, self.capacity)  # one request larger than a second's budget still goes, alone
        waited = False
        async with self._lock:  # first come, first served
            while True:
                self._refill()
                if self._tokens >= amount:
                    self._tokens -= amount
                    return waited
                waited = True
                await asyncio.sleep((amount - self._tokens) / self.rate)


class PaceStats(TypedDict):
    rate: float | None  # requests per second, once a pace is set
    lowered: int
    raised: int


class LearnedPace:
    """The request rate a provider allows, learned from its 429s, second by second (module docstring).

    ``record(limited)`` for every answer; ``take()`` before every request (no wait until a rate is learned).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self.bucket: RateBucket | None = None  # None: no 429 burst seen yet, requests go unpaced
        self._look_started = self._last_answer = -1e9
        self._answers = self._limited = 0
        self._held_back = False  # did the pace make a request wait during this look?
        self._settling = False  # is this the look right after a cut (``_adjust``)?
        self.stats: PaceStats = {"rate": None, "lowered": 0, "raised": 0}

    @property
    def rate(self) -> float | None:
        return self.bucket.rate if self.bucket else None

    async def take(self) -> None:
        if self.bucket and await self.bucket.take(1):
            self._held_back = True

    def record(self, limited: bool) -> None:
        """One answer: ``limited`` when it was a 429. Adjusts the pace once a second (``PACE_MIN_ANSWERS``)."""
        now = self._clock()
        if now - self._last_answer > PACE_IDLE_SECONDS:  # a look spans busy time only: idle seconds would
            self._start_look(now)                        # read as a low rate the provider allowed
        self._last_answer = now
        self._answers += 1
        self._limited += limited
        elapsed = now - self._look_started
        if elapsed >= 1.0 and self._answers >= PACE_MIN_ANSWERS:
            self._adjust(accepted_per_second=(self._answers - self._limited) / elapsed,
                         limited_share=self._limited / self._answers)
            self._start_look(now)

    def _start_look(self, now: float) -> None:
        self._look_started, self._answers, self._limited, self._held_back = now, 0, 0, False

    def _adjust(self, accepted_per_second: float, limited_share: float) -> None:
        settling, self._settling = self._settling, False
        if limited_share > PACE_OVER_SHARE and accepted_per_second > 0:
            if settling:  # the provider's window still counts what was sent before the last cut: its
                return    # 429s are that burst's, not the new pace's (cutting again starved seconds 1-5)
            floor = self.bucket.rate * PACE_MAX_CUT if self.bucket else 0.0
            self._set(max(accepted_per_second * PACE_MARGIN, floor))
            self.stats["lowered"] += 1
            self._settling = True
        elif (self.bucket and limited_share < PACE_UNDER_SHARE and self._held_back
              and accepted_per_second >= PACE_BINDING_SHARE * self.bucket.rate):
            self._set(self.bucket.rate * PACE_PROBE)
            self.stats["raised"] += 1

    def _set(self, per_second: float) -> None:
        if self.bucket is None:
            self.bucket = RateBucket(per_second * 60, self._clock, burst_seconds=PACE_BURST_SECONDS)
        else:
            self.bucket.set_rate(per_second)
        self.stats["rate"] = round(per_second, 1)


class ModelGate:
    """What one model may have in flight (adaptive) and how fast it may be asked.

    ``call_with_retries`` takes a slot with ``async with gate.slot(tokens):`` and reports outcomes with
    ``on_success`` / ``on_slow_down``.
    """

    def __init__(self, max_concurrency: int, *, requests_per_minute: float | None = None,
                 tokens_per_minute: float | None = None, min_concurrency: int = 1,
                 timeout: float | None = None, clock: Callable[[], float] = time.monotonic):
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.max_concurrency = max_concurrency
        self.min_concurrency = max(1, min(min_concurrency, max_concurrency))
        self.timeout = timeout
        self.requests = RateBucket(requests_per_minute, clock) if requests_per_minute else None
        self.tokens = RateBucket(tokens_per_minute, clock, burst_seconds=1.0) if tokens_per_minute else None
        self.pace = LearnedPace(clock)
        self._clock = clock
        self._limit = float(max_concurrency)
        self._in_flight = 0
        self._condition = asyncio.Condition()
        self._last_decrease = -1e9
        self._latency = 1.0  # EWMA of successful request latency, seconds
        self._recent: collections.deque[bool] = collections.deque(maxlen=RECENT_OUTCOMES)  # True: slow down
        self._failed: collections.deque[bool] = collections.deque(maxlen=RECENT_OUTCOMES)  # True: any failure
        self.stats = {"successes": 0, "slow_downs": 0, "decreases": 0, "retries": 0, "lowest_limit": self.limit}

    @classmethod
    def for_model(cls, spec: ModelSpec, default_concurrency: int) -> "ModelGate":
        """The gate a model's spec asks for (its own limits, else the backend's default concurrency)."""
        return cls(spec.max_concurrency or default_concurrency, requests_per_minute=spec.requests_per_minute,
                   tokens_per_minute=spec.tokens_per_minute, timeout=spec.timeout)

    @property
    def limit(self) -> int:
        """Requests this model may have in flight right now."""
        return max(self.min_concurrency, int(self._limit))

    @property
    def in_flight(self) -> int:
        return self._in_flight

    async def acquire(self, tokens: float = 0.0) -> None:
        async with self._condition:
            await self._condition.wait_for(lambda: self._in_flight < self.limit)
            self._in_flight += 1
        try:
            if self.requests:
                await self.requests.take(1)
            await self.pace.take()
            if self.tokens and tokens:
                await self.tokens.take(tokens)
        except BaseException:
            await self.release()
            raise

    async def release(self) -> None:
        async with self._condition:
            self._in_flight -= 1
            self._condition.notify_all()

    def slot(self, tokens: float = 0.0) -> "_Slot":
        return _Slot(self, tokens)

    def failing(self) -> bool:
        """Whether retries should back off exponentially: most recent answers failed, or too few are known."""
        known = len(self._failed)
        return known < FAILING_MIN_OUTCOMES or sum(self._failed) >= FAILING_SHARE * known

    def on_success(self, latency: float) -> None:
        """Additive increase: about +1 per round trip's worth of successes, up to ``max_concurrency``."""
        self.stats["successes"] += 1
        self._recent.append(False)
        self._failed.append(False)
        self.pace.record(limited=False)
        self._latency = 0.9 * self._latency + 0.1 * latency
        # no wake-up needed: the release that follows every success notifies the waiters
        self._limit = min(float(self.max_concurrency), self._limit + 1.0 / max(self._limit, 1.0))

    def on_failure(self) -> None:
        """An answer that was neither a success nor a slow-down (5xx, dropped, malformed): the provider took it."""
        self._failed.append(True)
        self.pace.record(limited=False)

    def on_slow_down(self, status: int | None = 429) -> None:
        """Multiplicative decrease, once per typical latency (the other answers of a burst are the same news).

        A 429 once a pace is learned only teaches the pace: the rate, not the concurrency, was too high.
        """
        self.stats["slow_downs"] += 1
        self._recent.append(True)
        self._failed.append(True)
        if status == 429:
            self.pace.record(limited=True)
            if self.pace.rate is not None:
                return
        if sum(self._recent) < SLOW_DOWN_SHARE * len(self._recent):
            return  # random noise among mostly successful answers, not a limit we are over
        now = self._clock()
        if now - self._last_decrease < max(self._latency, 0.1):
            return
        self._last_decrease = now
        self._limit = max(float(self.min_concurrency), self._limit * DECREASE_FACTOR)
        self.stats["decreases"] += 1
        self.stats["lowest_limit"] = min(self.stats["lowest_limit"], self.limit)


class _Slot:
    def __init__(self, gate: ModelGate, tokens: float):
        self.gate, self.tokens = gate, tokens

    async def __aenter__(self) -> ModelGate:
        await self.gate.acquire(self.tokens)
        return self.gate

    async def __aexit__(self, *exc: object) -> None:
        await self.gate.release()


def backoff_delay(failures: int, base_delay: float, max_delay: float, retry_after: float | None,
                  rng: random.Random) -> float:
    """Full jitter: uniform in [0, min(max_delay, base * 2^(failures-1))]; Retry-After is a floor."""
    delay = rng.uniform(0.0, min(max_delay, base_delay * 2 ** (failures - 1)))
    if retry_after is not None:
        # honour the provider, plus a little spread so the waiting requests do not return as one burst
        delay = max(delay, retry_after + rng.uniform(0.0, min(1.0, 0.1 * retry_after + 0.05)))
    return delay


def _rate_limited_delay(rate_limited: int, gate: ModelGate, base_delay: float, max_delay: float,
                        retry_after: float | None, rng: random.Random) -> float:
    """After a 429 with a Retry-After: that wait (plus a little spread), then, once a pace is learned, the
    pace's queue, which spaces the retries out. Before a pace is learned the Retry-After is trusted for a
    request's first ``RETRY_AFTER_TRUSTED`` 429s: the pace is learned within about a second of the first
    burst, and exponential waits in that second left most requests asleep while the provider had room, so
    the first pace was learned from a starved second (40-60% of the limit) and took seconds to recover.
    Without a Retry-After, or a request still refused after that (the provider accepts nothing, so no
    pace can be learned), exponential backoff."""
    if retry_after is not None and (gate.pace.rate is not None or rate_limited <= RETRY_AFTER_TRUSTED):
        return retry_after + rng.uniform(0.0, min(1.0, 0.1 * retry_after + 0.05))
    return backoff_delay(min(rate_limited, 6), base_delay, max_delay, retry_after, rng)


def estimate_request_tokens(request: ChatRequest) -> int:
    from whosevalues.elicit.cost import estimate_tokens
    return estimate_tokens(request.system) + estimate_tokens(request.user) + request.max_tokens


async def call_with_retries(backend: Backend, request: ChatRequest, gate: ModelGate, max_attempts: int = 6,
                            base_delay: float = 0.5, *, max_delay: float = 30.0, max_rate_limited: int = 100,
                            timeout: float | None = None, rng: random.Random | None = None,
                            sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
                            ) -> tuple[ProviderReply, int]:
    """Returns the reply and the number of attempts it took, or raises ``FinalFailure``.

    ``timeout`` defaults to the gate's; ``max_attempts`` counts failures other than rate limiting.
    """
    rng = rng or random.Random()
    timeout = timeout if timeout is not None else gate.timeout
    tokens = estimate_request_tokens(request) if gate.tokens else 0
    attempts = failures = rate_limited = 0
    while True:
        attempts += 1
        try:
            async with gate.slot(tokens):
                started = time.monotonic()
                completion = await _attempt(backend, request, timeout)
            gate.on_success(time.monotonic() - started)
            return completion, attempts
        except BackendError as exc:
            account = getattr(exc, "error", None)
            if account is not None and account.account_level:  # no credit, bad key, no such model: final
                raise AccountFailure(str(exc), attempts, exc.raw, status=exc.status, reason=account.reason) from None
            if exc.status in SLOW_DOWN_STATUSES and exc.retryable:
                gate.on_slow_down(exc.status)
            else:
                gate.on_failure()
            if exc.status == 429 and exc.retryable:  # a rate limit only when the provider says so
                rate_limited += 1
                if rate_limited > max_rate_limited:
                    raise _final(f"rate limited {rate_limited} times; last: {exc}", attempts, exc) from None
                delay = _rate_limited_delay(rate_limited, gate, base_delay, max_delay, exc.retry_after, rng)
            else:
                failures += 1
                if not exc.retryable or failures >= max_attempts:
                    raise _final(str(exc), attempts, exc) from None
                # exponential only while the model is failing; a random fault amid successes: one base delay
                delay = backoff_delay(failures if gate.failing() else 1, base_delay, max_delay, exc.retry_after,
                                      rng)
        except ConfigurationError as exc:
            raise FinalFailure(str(exc), attempts) from None
        gate.stats["retries"] += 1
        await sleep(delay)


async def _attempt(backend: Backend, request: ChatRequest,
                   timeout: float | None) -> ProviderReply:
    """One try, with unexpected exceptions turned into retryable BackendErrors (none may crash a run)."""
    try:
        # An in-process engine has no network to hang on, and it answers the requests in flight together
        # (models/micro_batch.py): a request's wait includes its batch, which a per-request limit would cut
        # short and ask again, piling duplicates onto the busy engine.
        if timeout is None or backend.in_process:
            return await backend.complete(request)
        # a little beyond the SDK's own timeout, which gives the better message when it fires first
        return await asyncio.wait_for(backend.complete(request), timeout * 1.25 + 1.0)
    except (BackendError, ConfigurationError):
        raise
    except asyncio.TimeoutError:
        raise BackendError(f"no answer within {timeout:g}s", retryable=True) from None
    except Exception as exc:  # an SDK surprise: keep its name and message, retry like a network fault
        raise BackendError(f"{type(exc).__name__}: {exc}", retryable=True) from None


def _final(message: str, attempts: int, exc: BackendError) -> FinalFailure:
    return FinalFailure(message, attempts, exc.raw, status=exc.status, retryable=exc.retryable)


async def probe_distribution(backend: Backend, attempts: int = 4, base_delay: float = 0.5, *,
                             rng: random.Random | None = None,
                             sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> bool | None:
    """``backend.supports_distribution()`` with transient errors retried.

    True/False are answers to cache. None means the endpoint kept failing (429s, 5xx, timeouts): do not
    cache it; sample this time and probe again on the next run.
    """
    rng = rng or random.Random()
    for attempt in range(1, attempts + 1):
        try:
            return bool(await backend.supports_distribution())
        except BackendError as exc:
            account = getattr(exc, "error", None)
            if account is not None and account.account_level:
                raise AccountFailure(str(exc), attempt, exc.raw, status=exc.status, reason=account.reason) from None
            if not exc.retryable:
                return False
            if attempt < attempts:
                await sleep(backoff_delay(attempt, base_delay, 10.0, exc.retry_after, rng))
        except ConfigurationError:
            raise
        except Exception:  # an SDK surprise while probing: treat as unknown, like a transient failure
            if attempt < attempts:
                await sleep(backoff_delay(attempt, base_delay, 10.0, None, rng))
    return None
