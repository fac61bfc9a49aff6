"""Anthropic through the official SDK against recorded exchanges on a loopback replay server."""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import replace
from functools import partial

import pytest

from replay_helpers import RECORDINGS_ROOT, complete, load_recorded
from whosevalues.elicit.answering import answer
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import FinalFailure, ModelGate, call_with_retries
from whosevalues.models.anthropic_backend import MIN_THINKING_BUDGET, AnthropicBackend, uses_adaptive_thinking
from whosevalues.models.base import BackendError, ChatRequest
from whosevalues.models.catalog import resolve_model
from whosevalues.testing import ReplayServer

pytestmark = pytest.mark.needs("anthropic")  # the providers' official SDKs

RECORDINGS = RECORDINGS_ROOT / "anthropic"
FAKE_KEY = "sk-ant-api03-FAKE-KEY-never-in-output-0123456789"
recorded = partial(load_recorded, RECORDINGS)


def request(mode: str = "sample") -> ChatRequest:
    return ChatRequest(key="claude|mfq2|care_1|en|none|0", system="You are a survey respondent.",
                       user="Caring for people who have suffered is an important virtue. Answer 1-5.",
                       mode=mode, scale_min=1, scale_max=5, temperature=1.0, max_tokens=10, seed=3)  # type: ignore[arg-type]


@pytest.fixture
def backend_for(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)

    def make(server: ReplayServer) -> AnthropicBackend:
        spec = resolve_model("claude-3.7-sonnet").model_copy(update={"base_url": server.url, "timeout": 5})
        return AnthropicBackend(spec)
    return make


@pytest.mark.slow
def test_answer_sends_system_separately_and_reads_text(backend_for):
    with ReplayServer(recorded("answer", "answer_zh")) as server:
        backend = backend_for(server)
        first = complete(backend, request())
        second = complete(AnthropicBackend(backend.spec), request())
    sent = server.received[0]
    assert sent["path"] == "/v1/messages"
    assert sent["body"]["system"] == "You are a survey respondent."
    assert sent["body"]["messages"] == [{"role": "user", "content": request().user}]
    assert sent["body"]["temperature"] == 1.0 and sent["body"]["max_tokens"] == 10
    assert sent["body"]["model"] == "claude-3-7-sonnet-20250219"
    expected = json.loads((RECORDINGS / "answer.json").read_text())["body"]
    assert first.answer_text == expected["content"][0]["text"] and first.finish_reason == "stop"
    assert first.provider_finish_reason == "end_turn" and first.model_version == expected["model"]
    assert (first.input_tokens, first.output_tokens) == (expected["usage"]["input_tokens"],
                                                         expected["usage"]["output_tokens"])
    assert json.loads(first.raw) == expected
    assert "thinking" not in sent["body"]  # thinking "default": Anthropic's default, no thinking
    assert second.answer_text.endswith("3") and second.finish_reason == "length"


@pytest.mark.slow
def test_refusal_is_a_refusal_reply(backend_for):
    with ReplayServer(recorded("refusal")) as server:
        reply = complete(backend_for(server), request())
    body = json.loads(reply.raw)
    assert body["stop_reason"] == "refusal"
    assert reply.finish_reason == "refusal" and reply.refusal_reason


@pytest.mark.slow
def test_thinking_on_sends_a_budget_and_drops_a_temperature_other_than_1(backend_for):
    with ReplayServer(recorded("answer")) as server:
        backend = backend_for(server)
        backend.spec = backend.spec.model_copy(update={"thinking": "on"})
        study = replace(request(), temperature=0.7)
        reply = complete(backend, study)
    sent = server.received[0]["body"]
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": MIN_THINKING_BUDGET}
    assert sent["max_tokens"] > sent["thinking"]["budget_tokens"] and "temperature" not in sent
    assert sent == backend.build_params(study)
    notes = reply.extra["adaptations"]
    assert any("temperature" in note and "0.7" in note for note in notes)
    assert any("max_tokens raised from 10" in note for note in notes)


def test_adaptive_thinking_for_opus_4_6(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    spec = resolve_model("claude-opus-4").model_copy(update={"api_model": "claude-opus-4-6", "thinking": "on"})
    params = AnthropicBackend(spec).build_params(replace(request(), temperature=1.0))
    # thinking on: temperature left at Anthropic's default (1), the only value it accepts then
    assert params["thinking"] == {"type": "adaptive"} and "temperature" not in params
    notes = AnthropicBackend(spec).departures(replace(request(), temperature=1.0))
    assert not any("temperature" in note for note in notes)
    off = AnthropicBackend(spec.model_copy(update={"thinking": "off"})).build_params(request())
    assert "thinking" not in off and off["max_tokens"] == request().max_tokens
    assert uses_adaptive_thinking("claude-sonnet-4-6") and not uses_adaptive_thinking("claude-sonnet-4-5")


@pytest.mark.parametrize("model, thinking, sent, noted", [
    ("claude-opus-5.5", "default", None, False),
    ("claude-opus-5.5", "off", None, True),                          # cannot be turned off
    ("claude-sonnet-5.5", "off", {"type": "between_tools"}, True),   # the only documented way
    ("claude-haiku-5.5", "off", None, True),                         # no documented way
    ("claude-sonnet-5.5", "on", {"type": "adaptive"}, False),
])
def test_claude_5_thinks_by_default_and_never_gets_a_non_default_temperature(monkeypatch, model, thinking,
                                                                           sent, noted):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    backend = AnthropicBackend(resolve_model(model).model_copy(update={"thinking": thinking}))
    study = replace(request(), temperature=0.7)
    params = backend.build_params(study)
    assert params.get("thinking") == sent and "temperature" not in params
    notes = backend.departures(study)
    assert any("0.7" in note for note in notes)  # the study's temperature was not applied: said
    assert any("off" in note for note in notes) == noted


@pytest.mark.slow
@pytest.mark.parametrize("name, status, retry_after", [("rate_limit_429", 429, 2.0), ("overloaded_529", 529, None)])
def test_429_and_529_are_retryable(backend_for, name, status, retry_after):
    with ReplayServer(recorded(name)) as server:
        with pytest.raises(BackendError) as caught:
            complete(backend_for(server), request())
    error = caught.value
    assert error.retryable and error.status == status and error.retry_after == retry_after
    assert error.error.reason == ("rate_limit" if status == 429 else "overloaded")
    assert json.loads(error.raw)["error"]["type"] in ("rate_limit_error", "overloaded_error")


@pytest.mark.slow
def test_401_names_the_key_variable_and_is_final(backend_for):
    with ReplayServer(recorded("auth_401")) as server:
        with pytest.raises(BackendError) as caught:
            complete(backend_for(server), request())
    assert not caught.value.retryable and "ANTHROPIC_API_KEY" in str(caught.value)


@pytest.mark.slow
def test_retries_through_429_and_529_then_answers(backend_for):
    with ReplayServer(recorded("rate_limit_429", "overloaded_529", "answer")) as server:
        backend = backend_for(server)
        sleeps: list[float] = []

        async def fake_sleep(seconds: float) -> None:
            sleeps.append(seconds)

        async def go():
            gate = ModelGate(4)
            result = await call_with_retries(backend, request(), gate, rng=random.Random(0), sleep=fake_sleep)
            return result, gate

        (completion, attempts), gate = asyncio.run(go())
    assert completion.answer_text == "4" and attempts == 3 and len(server.received) == 3
    assert sleeps[0] >= 2.0  # retry-after honoured
    assert gate.stats["slow_downs"] == 2


@pytest.mark.slow
def test_a_final_failure_keeps_the_body_but_never_the_key(backend_for):
    with ReplayServer(recorded("auth_401")) as server:
        with pytest.raises(FinalFailure) as caught:
            asyncio.run(call_with_retries(backend_for(server), request(), ModelGate(1)))
    failure = caught.value
    assert failure.attempts == 1 and failure.status == 401 and "authentication_error" in failure.raw
    assert FAKE_KEY not in str(failure) + failure.raw
    assert server.received[0]["headers"].get("x-api-key", server.received[0]["headers"].get("authorization", "")
                                             ).endswith(FAKE_KEY)  # it was sent, only to the provider


def test_no_distribution_support():
    spec = resolve_model("claude-opus-4")
    assert asyncio.run(AnthropicBackend(spec).supports_distribution()) is False


@pytest.mark.slow
def test_the_answering_loop_reads_the_reply_and_keeps_the_departures(backend_for):
    """The decision layer consumes this backend's ProviderReply; its translation notes reach the run notes."""
    with ReplayServer(recorded("answer")) as server:
        backend = backend_for(server)
        backend.spec = backend.spec.model_copy(update={"thinking": "on"})
        memory = EndpointMemory(backend)

        async def go():
            try:
                return await answer(backend, replace(request(), temperature=0.7), ModelGate(1), memory)
            finally:
                await backend.aclose()
        answered = asyncio.run(go())
    assert (answered.outcome.status, answered.outcome.value, answered.attempts) == ("valid", 4.0, 1)
    assert any("0.7" in note for note in answered.facts.adaptations)
    assert any("0.7" in note for note in memory.adaptation_notes)


def test_a_learned_no_temperature_adaptation_applies(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", FAKE_KEY)
    backend = AnthropicBackend(resolve_model("claude-opus-4"))
    assert backend.build_params(request())["temperature"] == 1.0
    backend.param_adaptations.add("no_temperature")
    assert "temperature" not in backend.build_params(request())
