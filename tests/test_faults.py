"""Faults end to end: the openai-compatible backend + limits.call_with_retries through the project's fault
proxy, in front of the stub server (fast) and the real llama.cpp server (slow). Every fault is retried
or recorded with its reason and raw body; 429s slow the model down; no API key ever leaks."""

from __future__ import annotations

import asyncio
import collections
import importlib.util
import logging
import random
import time

import pytest

from whosevalues.elicit.limits import FinalFailure, ModelGate, call_with_retries
from whosevalues.elicit.outcome import decide
from whosevalues.models.base import ChatRequest
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.spec import ModelSpec
from whosevalues.testing import FaultProxy, StubOpenAIServer

FAKE_KEY = "sk-FAKE-fault-test-key-0123456789abcdef"


def request(i: int = 0, mode: str = "sample") -> ChatRequest:
    return ChatRequest(key=f"faults|{i}", system="You are a survey respondent.", user=f"Item {i}: answer 1-5.",
                       mode=mode, scale_min=1, scale_max=5, temperature=0.7, max_tokens=10, seed=i)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def stub():
    with StubOpenAIServer() as server:
        yield server


def backend_behind(proxy: FaultProxy, *, timeout: float = 5.0, key_env: str | None = None) -> OpenAICompatibleBackend:
    spec = ModelSpec(id="faulty", provider="openai-compatible", base_url=proxy.base_url, api_model="stub-model",
                     timeout=timeout, api_key_env=key_env)
    return OpenAICompatibleBackend(spec)


async def ask(backend, requests, gate, **kwargs):
    """Every request ends as (completion, attempts) or a FinalFailure; anything else fails the test."""
    results = await asyncio.gather(*(call_with_retries(backend, r, gate, base_delay=0.01, **kwargs)
                                     for r in requests), return_exceptions=True)
    await backend.aclose()
    for result in results:
        assert isinstance(result, (tuple, FinalFailure)), repr(result)
    return results


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["http_429", "http_500", "http_503", "drop", "truncate", "malformed",
                                   "empty_choices"])
def test_each_transient_fault_is_retried_then_answered(stub, fault):
    with FaultProxy(stub.url) as proxy:
        proxy.script([fault, "ok"])
        [(completion, attempts)] = asyncio.run(ask(backend_behind(proxy), [request()], ModelGate(2)))
    assert attempts == 2 and completion.answer_text in {"1", "2", "3", "4", "5"}
    assert proxy.stats[fault] == 1 and proxy.stats["ok"] == 1


@pytest.mark.slow
def test_a_hung_connection_times_out_and_is_retried(stub):
    with FaultProxy(stub.url, hang_seconds=3) as proxy:
        proxy.script(["hang", "ok"])
        started = time.monotonic()
        [(completion, attempts)] = asyncio.run(ask(backend_behind(proxy, timeout=0.5), [request()], ModelGate(1)))
    assert attempts == 2 and completion.answer_text
    assert time.monotonic() - started < 3  # the timeout fired, we did not wait for the hang


@pytest.mark.slow
def test_content_filter_is_an_answer_not_a_retry(stub):
    with FaultProxy(stub.url) as proxy:
        proxy.script(["content_filter"])
        [(completion, attempts)] = asyncio.run(ask(backend_behind(proxy), [request()], ModelGate(1)))
    assert attempts == 1 and completion.answer_text == "" and completion.finish_reason == "content_filter"
    assert '"content_filter"' in completion.raw


@pytest.mark.slow
def test_persistent_failure_is_recorded_with_reason_and_raw_body(stub):
    with FaultProxy(stub.url) as proxy:
        proxy.script(["http_500"] * 3)
        [failure] = asyncio.run(ask(backend_behind(proxy), [request()], ModelGate(1), max_attempts=3))
    assert isinstance(failure, FinalFailure)
    assert failure.attempts == 3 and failure.status == 500 and failure.retryable
    assert "HTTP 500" in str(failure) and "injected" in failure.raw


@pytest.mark.slow
def test_malformed_body_is_kept_verbatim_when_attempts_run_out(stub):
    with FaultProxy(stub.url) as proxy:
        proxy.script(["truncate", "truncate"])
        [failure] = asyncio.run(ask(backend_behind(proxy), [request()], ModelGate(1), max_attempts=2))
    assert "malformed JSON" in str(failure)
    assert failure.raw.startswith('{"id": "chatcmpl-stub') and not failure.raw.rstrip().endswith("}")


@pytest.mark.slow
def test_a_seeded_storm_of_faults_loses_nothing(stub):
    faults = {"http_429": 0.05, "http_500": 0.08, "http_503": 0.04, "drop": 0.05, "truncate": 0.05,
              "malformed": 0.04, "empty_choices": 0.05, "content_filter": 0.03}
    n = 150
    with FaultProxy(stub.url, faults=faults, seed=7, latency=0.005) as proxy:
        gate = ModelGate(16)
        results = asyncio.run(ask(backend_behind(proxy), [request(i) for i in range(n)], gate, max_attempts=10,
                                  rng=random.Random(1)))
    answered = [r for r in results if isinstance(r, tuple)]
    assert len(results) == n and len(answered) == n  # ten attempts outlast this fault rate
    reasons = collections.Counter(c.finish_reason for c, _ in answered)
    assert reasons["content_filter"] == proxy.stats["content_filter"]
    assert reasons["stop"] == n - proxy.stats["content_filter"]
    retries = sum(attempts - 1 for _, attempts in answered)
    assert retries == sum(count for outcome, count in proxy.stats.items()
                          if outcome not in ("ok", "content_filter"))


@pytest.mark.slow
def test_rate_limited_server_is_used_at_its_limit_and_slows_the_model(stub):
    limit = 40.0
    with FaultProxy(stub.url, latency=0.05, rate_limit=limit) as proxy:
        gate = ModelGate(32)
        results = asyncio.run(ask(backend_behind(proxy), [request(i) for i in range(240)], gate,
                                  rng=random.Random(2)))
    assert all(isinstance(r, tuple) for r in results)  # 429s never turn into failures
    assert proxy.stats["http_429"] > 0 and gate.stats["decreases"] >= 1
    assert gate.stats["lowest_limit"] < 32
    # learned from the 429s: the pace settles where 10-20% of requests meet one (1.1-1.25x the limit), and a
    # look with few 429s by chance may probe once above that; it is never held below, as follows
    assert gate.pace.rate is not None and 0.9 * limit <= gate.pace.rate <= 1.5 * limit, gate.pace.stats
    sustained = proxy.rate(skip_first=1.0)
    assert abs(sustained - limit) / limit <= 0.10, f"sustained {sustained:.1f} req/s vs limit {limit}"


@pytest.mark.slow
def test_faults_use_up_the_rate_limit_like_answers(stub):
    with FaultProxy(stub.url, rate_limit=3, faults={"http_500": 1.0}) as proxy:
        outcomes = [proxy.decide()[0] for _ in range(4)]  # four requests within a second
    assert outcomes == ["http_500"] * 3 + ["http_429"]  # three 500s filled the second's quota
    assert proxy.first_request is not None and proxy.last_request >= proxy.first_request


@pytest.mark.slow
def test_requests_per_minute_paces_without_any_429(stub):
    with FaultProxy(stub.url, rate_limit=25) as proxy:
        gate = ModelGate(16, requests_per_minute=20 * 60)
        started = time.monotonic()
        asyncio.run(ask(backend_behind(proxy), [request(i) for i in range(60)], gate))
        elapsed = time.monotonic() - started
    assert proxy.stats["http_429"] == 0
    burst = gate.requests.capacity
    assert burst == 2
    assert elapsed >= (60 - burst) / 20 * 0.95  # a tenth of a second of burst, then 20 per second


@pytest.mark.slow
def test_api_key_never_appears_in_results_errors_or_logs(stub, monkeypatch, caplog, capfd):
    monkeypatch.setenv("FAULT_TEST_KEY", FAKE_KEY)
    caplog.set_level(logging.DEBUG)
    with FaultProxy(stub.url) as proxy:
        proxy.script(["echo_key_401", "http_500", "ok", "truncate", "truncate", "content_filter"])
        backend = backend_behind(proxy, key_env="FAULT_TEST_KEY")
        results = asyncio.run(ask(backend, [request(i) for i in range(4)], ModelGate(1), max_attempts=2))
    texts = []
    for result in results:
        if isinstance(result, FinalFailure):
            texts += [str(result), result.raw or ""]
        else:
            completion, _ = result
            texts += [completion.answer_text or "", completion.raw or "", repr(completion)]
    rejected = [r for r in results if isinstance(r, FinalFailure) and r.status == 401]
    assert rejected and "FAULT_TEST_KEY" in str(rejected[0]) and "***" in rejected[0].raw
    captured = capfd.readouterr()
    texts += [caplog.text, captured.out, captured.err]
    assert all(FAKE_KEY not in text for text in texts)


# -- the real server behind the proxy (slow) -------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None,
                    reason="needs llama-cpp-python[server]: pip install -e '.[test]'")
def test_real_llama_server_behind_the_fault_proxy():
    from whosevalues.testing import serve_local_openai
    with serve_local_openai() as server, FaultProxy(server.url, seed=3) as proxy:
        proxy.script(["http_429", "drop", "truncate", "empty_choices", "http_500"])
        spec = ModelSpec(id="smollm2-http", provider="openai-compatible", base_url=proxy.base_url,
                         api_model=server.model, timeout=60, temperature=0.0)
        backend = OpenAICompatibleBackend(spec)
        requests = [request(i) for i in range(4)] + [request(9, "distribution")]
        results = asyncio.run(ask(backend, requests, ModelGate(2), rng=random.Random(0)))
    assert all(isinstance(r, tuple) for r in results)
    assert sum(attempts for _, attempts in results) == len(requests) + 5
    distribution = decide(results[-1][0], mode="distribution", scale_min=1, scale_max=5, min_valid_mass=0.0)
    assert 0 < distribution.valid_mass <= 1 and abs(sum(distribution.distribution.values()) - 1) < 1e-9
