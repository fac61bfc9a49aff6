"""Gemini through the official google-genai SDK against recorded exchanges on a loopback replay server."""

from __future__ import annotations

import asyncio
import json
from functools import partial

import pytest

from replay_helpers import RECORDINGS_ROOT, complete, load_recorded
from whosevalues.elicit.adapt import adaptation_for
from whosevalues.elicit.answering import answer
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import ModelGate
from whosevalues.models.base import BackendError, ChatRequest, ConfigurationError
from whosevalues.models.catalog import resolve_model
from whosevalues.models.errors import read_error
from whosevalues.models.gemini_backend import GeminiBackend, _camel_keys
from whosevalues.testing import ReplayServer

pytestmark = pytest.mark.needs("google.genai")  # the providers' official SDKs

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


@pytest.mark.slow
def test_answer_and_what_is_sent(backend_for):
    with ReplayServer(recorded("answer", "answer")) as server:
        reply = complete(backend_for(server), request())
        complete(backend_for(server, "gemini-2.5-flash"), request())
    sent = server.received[0]
    assert sent["path"].endswith("/models/gemini-2.0-flash:generateContent")
    assert sent["body"]["systemInstruction"]["parts"][0]["text"] == "你是一位调查受访者。"
    assert sent["body"]["contents"][0]["parts"][0]["text"] == "请用1到10回答。"
    config = sent["body"]["generationConfig"]
    assert config["temperature"] == 1.0 and config["maxOutputTokens"] == 10 and config["seed"] == 5
    assert "thinkingConfig" not in config
    # thinking "default": a 2.5 model thinks as Google configured it; nothing is sent
    assert "thinkingConfig" not in server.received[1]["body"]["generationConfig"]
    expected = json.loads((RECORDINGS / "answer.json").read_text())["body"]
    assert reply.answer_text == expected["candidates"][0]["content"]["parts"][0]["text"]
    assert reply.finish_reason == "stop" and reply.model_version == expected["modelVersion"]
    assert reply.input_tokens == expected["usageMetadata"]["promptTokenCount"]
    assert json.loads(reply.raw)["responseId"] == expected["responseId"]


@pytest.mark.slow
def test_build_params_is_what_the_sdk_sends(backend_for):
    with ReplayServer(recorded("answer")) as server:
        backend = backend_for(server, "gemini-2.5-flash")
        backend.spec = backend.spec.model_copy(update={"thinking": "off"})
        complete(backend, request())
    sent = server.received[0]["body"]
    built = backend.build_params(request())
    # this SDK sends thinkingConfig's fields in snake_case; the API reads both spellings (the recorded
    # gemini_2.5flash_max_tokens_partial_text exchange sent thinking_budget), build_params uses camelCase
    assert built["generationConfig"] == _camel_keys(sent["generationConfig"])
    assert built["systemInstruction"]["parts"] == sent["systemInstruction"]["parts"]
    assert built["contents"] == sent["contents"]


@pytest.mark.parametrize("model, thinking, expected, noted", [
    ("gemini-2.5-flash", "off", {"thinkingBudget": 0}, False),
    ("gemini-2.5-pro", "off", {"thinkingBudget": 128}, True),           # cannot be turned off
    ("gemini-3-pro-preview", "off", {"thinkingLevel": "LOW"}, True),     # thinking_level, lowest for Pro
    ("gemini-3-flash-preview", "off", {"thinkingLevel": "MINIMAL"}, True),
    ("gemini-3-pro-preview", "on", {"thinkingLevel": "HIGH", "includeThoughts": True}, False),
    ("gemini-2.5-flash", "on", {"thinkingBudget": 1024, "includeThoughts": True}, True),
    ("gemini-3.8-flash", "off", {"thinkingLevel": "LOW"}, True),         # 3.8 Flash dropped minimal
    ("gemini-4-argon", "off", {"thinkingLevel": "LOW"}, True),
    ("gemini-4-argon", "default", None, False),
    ("gemini-2.0-flash", "off", None, False),                            # not a thinking model
])
def test_thinking_control(monkeypatch, model, thinking, expected, noted):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    spec = resolve_model("gemini-2.5-flash").model_copy(update={"api_model": model, "thinking": thinking})
    backend = GeminiBackend(spec)
    config = backend.build_params(request())["generationConfig"]
    assert config.get("thinkingConfig") == expected
    assert bool(backend.departures(request())) == noted
    if thinking == "on" and model.startswith("gemini-2.5"):
        assert config["maxOutputTokens"] > config["thinkingConfig"]["thinkingBudget"]


@pytest.mark.slow
def test_distribution_mode_asks_for_top_candidates_and_keeps_positions(backend_for):
    with ReplayServer(recorded("distribution")) as server:
        reply = complete(backend_for(server), request("distribution", scale_max=10))
    config = server.received[0]["body"]["generationConfig"]
    assert config["responseLogprobs"] is True and config["logprobs"] == 20
    steps = json.loads((RECORDINGS / "distribution.json").read_text())["body"]["candidates"][0]["logprobsResult"]
    assert [p.token for p in reply.positions] == [c["token"] for c in steps["chosenCandidates"]]
    for position, step in zip(reply.positions, steps["topCandidates"]):
        assert position.top == {c["token"]: c["logProbability"] for c in step["candidates"]}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["blocked", "safety_finish"])
def test_blocked_prompts_and_answers_are_content_filter_replies(backend_for, name):
    with ReplayServer(recorded(name)) as server:
        reply = complete(backend_for(server), request())
    body = json.loads((RECORDINGS / f"{name}.json").read_text())["body"]
    reason = (body.get("promptFeedback") or {}).get("blockReason") or body["candidates"][0]["finishReason"]
    assert reply.answer_text is None and reply.finish_reason == "content_filter"
    assert reply.provider_finish_reason == reason and reason in reply.refusal_reason
    assert reply.raw


@pytest.mark.slow
@pytest.mark.parametrize("name, status, retryable, retry_after", [
    ("rate_limit_429", 429, True, 3.0), ("overloaded_503", 503, True, None), ("bad_key_400", 400, False, None)])
def test_errors(backend_for, name, status, retryable, retry_after):
    with ReplayServer(recorded(name)) as server:
        with pytest.raises(BackendError) as caught:
            complete(backend_for(server), request())
    error = caught.value
    assert (error.status, error.retryable, error.retry_after) == (status, retryable, retry_after)
    assert error.error.code == json.loads(error.raw)["error"]["status"]  # what models.errors read
    assert json.loads(error.raw)["error"]["code"] == status
    if status == 400:
        assert "GEMINI_API_KEY" in str(error)
    assert FAKE_KEY not in str(error) + error.raw


@pytest.mark.slow
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


@pytest.mark.slow
def test_the_answering_loop_reads_the_reply_and_keeps_the_departures(backend_for):
    """The decision layer consumes this backend's ProviderReply; its translation notes reach the run notes."""
    with ReplayServer(recorded("answer")) as server:
        backend = backend_for(server, "gemini-2.5-flash")
        backend.spec = backend.spec.model_copy(update={"api_model": "gemini-2.5-pro", "thinking": "off"})
        memory = EndpointMemory(backend)

        async def go():
            try:
                return await answer(backend, request(), ModelGate(1), memory)
            finally:
                await backend.aclose()
        answered = asyncio.run(go())
    outcome, attempts = answered.outcome, answered.attempts
    assert (outcome.status, outcome.value, attempts) == ("valid", 4.0, 1)
    assert any("cannot turn thinking off" in note for note in memory.adaptation_notes)


def test_learned_adaptations_apply_to_the_request(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    backend = GeminiBackend(resolve_model("gemini-2.0-flash"))
    backend.param_adaptations |= {"fold_system", "no_seed", "no_logprobs", "no_temperature"}
    body = backend.build_params(request("distribution"))
    assert "systemInstruction" not in body
    assert body["contents"][0]["parts"][0]["text"] == f"{request().system}\n\n{request().user}"
    assert not {"seed", "responseLogprobs", "logprobs", "temperature"} & set(body["generationConfig"])


def test_gemma_rejecting_the_system_instruction_names_the_system_role():
    # Gemma on the Gemini API (message as reported publicly; no licensed recording holds it)
    text = json.dumps({"error": {"code": 400, "message": "Developer instruction is not enabled for "
                                                         "models/gemma-3-27b-it", "status": "INVALID_ARGUMENT"}})
    assert read_error(400, text, None).param == "developer_role"
    assert adaptation_for("developer_role", request(), "gemma").name == "fold_system"
