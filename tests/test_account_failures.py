"""Account-level failures end that model at once (issue 15, item 1).

Bodies: OpenAI's exhausted quota and revoked key, DeepSeek's 402, served by ``ProviderStubServer`` (see
``ACCOUNT_ERRORS`` there for the documentation each follows); Gemini's RESOURCE_EXHAUSTED bodies as quoted in
google-gemini/gemini-cli#8437 (a per-day QuotaFailure) and continuedev/continue#10062 ("limit: 0"); Gemini's
bad key as the Gemini API answers it (400 INVALID_ARGUMENT, ErrorInfo reason API_KEY_INVALID); Anthropic's
empty balance (docs.anthropic.com/en/api/errors: 400 invalid_request_error "Your credit balance is too low").
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whosevalues.elicit.limits import AccountFailure, ModelGate, call_with_retries
from whosevalues.models.base import ChatRequest
from whosevalues.models.errors import read_error
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.spec import ModelSpec
from whosevalues.testing.stub_providers import ACCOUNT_ERRORS, ProviderStubServer

GEMINI_DAILY = {"error": {"code": 429, "message": "You exceeded your current quota, please check your plan and billing "
                          "details. For more information on this error, head to: "
                          "https://ai.google.dev/gemini-api/docs/rate-limits.", "status": "RESOURCE_EXHAUSTED",
                          "details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [
                              {"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                               "quotaId": "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
                               "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"}}]},
                              {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}
GEMINI_PER_MINUTE = json.loads(json.dumps(GEMINI_DAILY).replace("PerDay", "PerMinute"))
GEMINI_LIMIT_ZERO = {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message":
                               "You exceeded your current quota, please check your plan and billing details.\n"
                               "* Quota exceeded for metric: generativelanguage.googleapis.com/"
                               "generate_content_free_tier_requests, limit: 0, model: gemini-2.5-pro\n"
                               "Please retry in 20.04466179s."}}
GEMINI_BAD_KEY = {"error": {"code": 400, "message": "API key not valid. Please pass a valid API key.",
                            "status": "INVALID_ARGUMENT", "details": [
                                {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                                 "domain": "googleapis.com"}]}}
ANTHROPIC_NO_CREDIT = {"type": "error", "error": {"type": "invalid_request_error", "message":
                       "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing "
                       "to upgrade or purchase credits."}}


@pytest.mark.parametrize("status, body, reason", [
    (*ACCOUNT_ERRORS["empty-quota"], "no_credit"),
    (*ACCOUNT_ERRORS["no-balance"], "no_credit"),
    (*ACCOUNT_ERRORS["revoked-key"], "unauthorized"),
    (429, GEMINI_DAILY, "no_credit"),
    (429, GEMINI_LIMIT_ZERO, "no_credit"),
    (400, GEMINI_BAD_KEY, "unauthorized"),
    (400, ANTHROPIC_NO_CREDIT, "no_credit"),
    (404, {"error": {"message": "The model `gpt-9` does not exist", "code": "model_not_found"}}, "not_found"),
])
def test_account_level_answers_are_read_as_such(status, body, reason):
    error = read_error(status, json.dumps(body), {"retry-after": "20"})
    assert error.reason == reason and error.account_level
    assert not error.retryable and error.retry_after is None


def test_a_429_is_a_rate_limit_only_when_the_provider_says_so():
    per_minute = read_error(429, json.dumps(GEMINI_PER_MINUTE), None)
    assert per_minute.reason == "rate_limit" and per_minute.retryable and not per_minute.account_level
    assert per_minute.retry_after == 37.0


def _request() -> ChatRequest:
    return ChatRequest(key="k", system="s", user="On a scale from 1 to 5?", mode="sample", scale_min=1,
                       scale_max=5, temperature=0.7, max_tokens=16, seed=1)


@pytest.mark.parametrize("model", ["empty-quota", "no-balance", "revoked-key"])
@pytest.mark.slow
def test_the_first_account_level_answer_is_final(model):
    """Before: the exhausted quota went out 11 times in 45 s (every 429 a rate limit); now one request."""
    with ProviderStubServer() as server:
        backend = OpenAICompatibleBackend(ModelSpec(id=model, provider="openai-compatible", base_url=server.base_url,
                                                    api_model=model, origin="USA"))

        async def go():
            try:
                return await call_with_retries(backend, _request(), ModelGate(1), max_attempts=3,
                                               sleep=lambda _s: asyncio.sleep(0))
            finally:
                await backend.aclose()

        started = time.monotonic()
        with pytest.raises(AccountFailure) as caught:
            asyncio.run(go())
    assert server.requests_by_model[model] == 1 and caught.value.attempts == 1
    assert time.monotonic() - started < 30  # one request, no backoff (a loaded machine: generous)
    assert ACCOUNT_ERRORS[model][1]["error"]["message"].split(".")[0] in str(caught.value)


def _study(tmp_path: Path, base_url: str, models: list[str]) -> Path:
    blocks = "".join(f'\n[[models]]\nid = "{m}"\nprovider = "openai-compatible"\nbase_url = "{base_url}"\n'
                     f'api_model = "{m}"\norigin = "USA"\n' for m in models)
    path = tmp_path / "study.toml"
    path.write_text('surveys = ["mfq2"]\nlanguages = ["en"]\npersonas = ["none"]\nsamples = 2\n'
                    f'temperature = 0.7\nmode = "sample"\n{blocks}')
    return path


@pytest.mark.slow
def test_a_run_with_an_empty_account_stops_that_model_and_finishes_the_others(tmp_path):
    healthy, empty = "plain", ["empty-quota", "no-balance"]
    with ProviderStubServer() as server:
        config = _study(tmp_path, server.base_url, [healthy, *empty])
        started = time.monotonic()
        run = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", "--config", str(config),
                              "--no-analysis"], cwd=tmp_path, env={**os.environ, "COLUMNS": "250"},
                             capture_output=True, text=True, timeout=300)
        seconds = time.monotonic() - started
        counts = dict(server.requests_by_model)
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr and seconds < 60
    db = sqlite3.connect(tmp_path / "whosevalues-out" / "whosevalues.sqlite")
    planned = db.execute("SELECT COUNT(*) FROM requests WHERE model = ?", (healthy,)).fetchone()[0]
    stored = db.execute("SELECT COUNT(*) FROM answers a JOIN requests r USING (key) WHERE r.model = ? "
                        "AND a.status = 'valid'", (healthy,)).fetchone()[0]
    assert planned > 10 and stored == planned
    for model in empty:
        assert counts[model] <= 3, counts
        assert db.execute("SELECT COUNT(*) FROM answers a JOIN requests r USING (key) WHERE r.model = ?",
                          (model,)).fetchone()[0] == 0  # nothing that hides the failure: a rerun asks again
    stderr = " ".join(run.stderr.split())
    assert stderr.count("You exceeded your current quota") == 1 and stderr.count("Insufficient Balance") == 1
    assert "top up the account" in stderr


def _replayed(backend_factory, exchanges, monkeypatch):
    from whosevalues.testing import ReplayServer

    monkeypatch.setenv("WV_ACCOUNT_KEY", "sk-FAKE-account-0123456789")
    with ReplayServer(exchanges) as server:
        backend = backend_factory(server.url)

        async def go():
            try:
                return await call_with_retries(backend, _request(), ModelGate(1), max_attempts=3,
                                               sleep=lambda _s: asyncio.sleep(0))
            finally:
                await backend.aclose()

        with pytest.raises(AccountFailure) as caught:
            asyncio.run(go())
        return caught.value, len(server.received)


def _exchange(status: int, body: dict) -> dict:
    return {"status": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


@pytest.mark.slow
def test_gemini_daily_quota_through_the_sdk_stops_at_the_first_answer(monkeypatch):
    from whosevalues.models.gemini_backend import GeminiBackend

    def gemini(url):
        return GeminiBackend(ModelSpec(id="g", provider="gemini", base_url=url, api_model="gemini-2.5-flash",
                                       api_key_env="WV_ACCOUNT_KEY", origin="USA", timeout=5))
    failure, asked = _replayed(gemini, [_exchange(429, GEMINI_DAILY)] * 5, monkeypatch)
    assert asked == 1 and failure.reason == "no_credit" and "exceeded your current quota" in str(failure)


@pytest.mark.slow
def test_anthropic_empty_balance_through_the_sdk_stops_at_the_first_answer(monkeypatch):
    from whosevalues.models.anthropic_backend import AnthropicBackend

    def claude(url):
        return AnthropicBackend(ModelSpec(id="c", provider="anthropic", base_url=url, api_model="claude-haiku-5-5",
                                          api_key_env="WV_ACCOUNT_KEY", origin="USA", timeout=5))
    failure, asked = _replayed(claude, [_exchange(400, ANTHROPIC_NO_CREDIT)] * 5, monkeypatch)
    assert asked == 1 and failure.reason == "no_credit" and "credit balance is too low" in str(failure)


@pytest.mark.slow
def test_an_empty_account_met_while_probing_stops_the_model_and_caches_nothing(tmp_path):
    """auto mode probes first: the empty account must neither be cached as "no logprobs" nor make the healthy
    model be sampled (auto's one-mode-for-all rule counts only the models that will be asked)."""
    from whosevalues.pipeline import run_study
    from whosevalues.study import Study

    with ProviderStubServer() as server:
        specs = {m: ModelSpec(id=m, provider="openai-compatible", base_url=server.base_url, api_model=m,
                              origin="USA", timeout=5) for m in ("plain", "empty-quota")}
        study = Study(models=list(specs), custom_models=specs, surveys=["mfq2"], languages=["en"],
                      personas=["none"], samples=1, mode="auto", variants=["original"])
        result = run_study(study, tmp_path / "out", show_progress=False)
        counts = dict(server.requests_by_model)
    assert counts["empty-quota"] == 1 and result.modes["plain"] == "distribution"
    assert "empty-quota" in result.stats.stopped and "top up" in result.stats.stopped["empty-quota"]
    db = sqlite3.connect(tmp_path / "out" / "whosevalues.sqlite")
    assert db.execute("SELECT COUNT(*) FROM capabilities WHERE model LIKE '%empty-quota%'").fetchone()[0] == 0
    plain = result.answers[result.answers.model == "plain"]
    assert len(plain) == 36 and (plain.status == "valid").all()  # MFQ-2's 36 items, read as distributions


@pytest.mark.slow
def test_models_check_says_no_credit_rather_than_rate_limited():
    from whosevalues.models.check import check_model

    with ProviderStubServer() as server:
        for model in ("empty-quota", "no-balance"):
            spec = ModelSpec(id=model, provider="openai-compatible", base_url=server.base_url, api_model=model,
                             origin="USA")
            result = check_model(spec)
            assert "no credit" in result.note and "rate limited" not in result.note, result.note
