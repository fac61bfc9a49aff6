"""Gemini through the official google-genai SDK against recorded exchanges on a loopback replay server."""

from __future__ import annotations

import asyncio
import json
import math
from functools import partial

import pytest

from whosevalues.models.base import BackendError, ChatRequest, ConfigurationError
from whosevalues.models.catalog import resolve_model
from whosevalues.models.gemini_backend import GeminiBackend
from whosevalues.testing import ReplayServer

from replay_helpers import RECORDINGS_ROOT, complete, load_recorded

RECORDINGS = RECORDINGS_ROOT / "gemini"
FAKE_KEY = "AIzaSyFAKE-gemini-key-never-in-output-42"
recorded = partial(load_recorded, RECORDINGS)


def request(mode: str = "sample", scale_max: int = 5) -> ChatRequest:
    return ChatRequest(key="gemini|wvs7|Q177|zh|none|0", system="你是一位调查受访者。", user="请用1到10回答。",
                       mode=mode, scale_min=1, scale_max=scale_max, temperature=1.0, max_tokens=10, seed=5)  # type: ignore[arg-type]


@pytest.fixture
def backend_for(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)

    def make(server: ReplayServer, model: str = "gemini-2.0-flash") -> GeminiBackend:
        spec = resolve_model(model).model_copy(update={"base_url": server.url, "timeout": 5})
        return GeminiBackend(spec)
    return make


def test_answer_and_what_is_sent(backend_for):
    with ReplayServer(recorded("answer", "answer")) as server:
        completion = complete(backend_for(server), request())
        complete(backend_for(server, "gemini-2.5-flash"), request())
    sent = server.received[0]
    assert sent["path"].endswith("/models/gemini-2.0-flash:generateContent")
    assert sent["body"]["systemInstruction"]["parts"][0]["text"] == "你是一位调查受访者。"
    assert sent["body"]["contents"][0]["parts"][0]["text"] == "请用1到10回答。"
    config = sent["body"]["generationConfig"]
    assert config["temperature"] == 1.0 and config["maxOutputTokens"] == 10 and config["seed"] == 5
    assert "thinkingConfig" not in config
    # 2.5 models think by default; with 10 output tokens they would say nothing, so thinking is off
    thinking = server.received[1]["body"]["generationConfig"]["thinkingConfig"]
    assert list(thinking.values()) == [0]
    expected = json.loads((RECORDINGS / "answer.json").read_text())["body"]
    assert completion.text == expected["candidates"][0]["content"]["parts"][0]["text"]
    assert completion.finish_reason == "stop"
    assert completion.input_tokens == expected["usageMetadata"]["promptTokenCount"]
    assert json.loads(completion.raw)["responseId"] == expected["responseId"]


def test_distribution_from_logprobs_result(backend_for):
    with ReplayServer(recorded("distribution")) as server:
        completion = complete(backend_for(server), request("distribution", scale_max=10))
    config = server.received[0]["body"]["generationConfig"]
    assert config["responseLogprobs"] is True and config["logprobs"] == 20 and config["maxOutputTokens"] == 2
    steps = json.loads((RECORDINGS / "distribution.json").read_text())["body"]["candidates"][0]["logprobsResult"]
    first = {c["token"]: math.exp(c["logProbability"]) for c in steps["topCandidates"][0]["candidates"]}
    p_zero = math.exp(steps["topCandidates"][1]["candidates"][0]["logProbability"])
    valid = sum(p for t, p in first.items() if t.isdigit())
    assert completion.valid_mass == pytest.approx(valid)
    # the sampled first token was "1": the second step splits its mass between 1 and 10
    assert completion.distribution[10] == pytest.approx(first["1"] * p_zero / valid)
    assert completion.distribution[1] == pytest.approx(first["1"] * (1 - p_zero) / valid)
    assert completion.distribution[2] == pytest.approx(first["2"] / valid)
    assert sum(completion.distribution.values()) == pytest.approx(1)


@pytest.mark.parametrize("name, reason", [("blocked", "block_reason"), ("safety_finish", "gemini_finish_reason")])
def test_blocked_prompts_are_content_filter_completions(backend_for, name, reason):
    with ReplayServer(recorded(name)) as server:
        completion = complete(backend_for(server), request())
    assert completion.text == "" and completion.finish_reason == "content_filter" and reason in completion.extra
    assert completion.raw


@pytest.mark.parametrize("name, status, retryable, retry_after", [
    ("rate_limit_429", 429, True, 3.0), ("overloaded_503", 503, True, None), ("bad_key_400", 400, False, None)])
def test_errors(backend_for, name, status, retryable, retry_after):
    with ReplayServer(recorded(name)) as server:
        with pytest.raises(BackendError) as caught:
            complete(backend_for(server), request())
    error = caught.value
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, retry_after)
    assert json.loads(error.raw)["error"]["code"] == status
    if status == 400:
        assert "GEMINI_API_KEY" in str(error)
    assert FAKE_KEY not in str(error) + error.raw


def test_probe_reads_logprobs_and_caches(backend_for):
    with ReplayServer(recorded("distribution")) as server:
        backend = backend_for(server)
        assert asyncio.run(backend.supports_distribution()) is True
        assert asyncio.run(backend.supports_distribution()) is True
    assert len(server.received) == 1


def test_bad_extra_body_is_a_configuration_error(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    spec = resolve_model("gemini-2.0-flash").model_copy(update={"extra_body": {"no_such_field": 1}})
    with pytest.raises(ConfigurationError, match="extra_body"):
        complete(GeminiBackend(spec), request())
