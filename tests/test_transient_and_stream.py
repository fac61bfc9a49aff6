"""Transient empty replies are asked again (issue 15, item 3) and models that answer only when streamed are
streamed (item 2).

Bodies: Gemini's STOP with no parts as quoted in BerriAI/litellm#24442 (and google-gemini/deprecated-generative-
ai-python#744); DashScope's stream-only 400 as quoted in FoundationAgents/OpenManus#330 (served by
``ProviderStubServer``'s ``stream-only`` model); the recorded DashScope Qwen3-Max stream
(``dashscope_qwen3max_reasoning_stream.chunks.txt``) where ../shared is present.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import pytest

from exchange_helpers import load_exchange
from whosevalues.elicit.answering import EMPTY_RETRIES, answer
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import FinalFailure, ModelGate
from whosevalues.elicit.store import Store
from whosevalues.models.base import ChatRequest
from whosevalues.models.catalog import resolve_model
from whosevalues.models.errors import read_error
from whosevalues.models.gemini_backend import GeminiBackend
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.spec import ModelSpec
from whosevalues.testing import ReplayServer
from whosevalues.testing.stub_providers import (
    EMPTY_FIRST,
    STREAM_ONLY,
    STREAM_ONLY_ERROR,
    ProviderStubServer,
    intended_value,
)

FAKE_KEY = "sk-FAKE-transient-0123456789"
REQUEST = ChatRequest(key="k", system="You are a survey respondent.", user="On a scale from 1 to 5, how much?",
                      mode="sample", scale_min=1, scale_max=5, temperature=0.7, max_tokens=16, seed=7)
STOP_NO_PARTS = {"candidates": [{"content": {"role": "model"}, "finishReason": "STOP", "index": 0}],
                 "usageMetadata": {"promptTokenCount": 3130, "totalTokenCount": 3130},
                 "modelVersion": "gemini-2.5-flash-lite", "responseId": "8ZfBaYu9LarVz7IPlJG7gQU"}
ANSWER_4 = {"candidates": [{"content": {"role": "model", "parts": [{"text": "4"}]}, "finishReason": "STOP",
                            "index": 0}], "usageMetadata": {"promptTokenCount": 20, "candidatesTokenCount": 1},
            "modelVersion": "gemini-2.5-flash-lite"}


def _json(body: dict, status: int = 200) -> dict:
    return {"status": status, "headers": {"content-type": "application/json"}, "body": json.dumps(body)}


def _gemini(server: ReplayServer, monkeypatch) -> GeminiBackend:
    monkeypatch.setenv("GEMINI_API_KEY", FAKE_KEY)
    spec = resolve_model("gemini-2.5-flash").model_copy(update={"base_url": server.url, "timeout": 5})
    return GeminiBackend(spec)


def _ask(backend, request: ChatRequest = REQUEST, memory: EndpointMemory | None = None):
    async def go():
        try:
            return await answer(backend, request, ModelGate(1), memory or EndpointMemory(backend))
        finally:
            await backend.aclose()
    return asyncio.run(go())


@pytest.mark.slow
def test_gemini_stop_with_no_parts_is_asked_again_and_counted(monkeypatch):
    """Before: stored at once as error "no text" and never asked again in the run."""
    with ReplayServer([_json(STOP_NO_PARTS), _json(ANSWER_4)]) as server:
        answered = _ask(_gemini(server, monkeypatch))
        asked = len(server.received)
    assert (answered.outcome.status, answered.outcome.value) == ("valid", 4.0)
    assert answered.attempts == asked == 2


@pytest.mark.slow
def test_an_empty_reply_that_stays_empty_is_a_bounded_retryable_failure(monkeypatch):
    with ReplayServer([_json(STOP_NO_PARTS)] * 10) as server:
        with pytest.raises(FinalFailure) as caught:
            _ask(_gemini(server, monkeypatch))
        asked = len(server.received)
    assert asked == caught.value.attempts == EMPTY_RETRIES + 1
    assert caught.value.retryable and "no answer" in str(caught.value)  # stored as error, swept at the end
    assert json.loads(caught.value.raw)["candidates"][0]["finishReason"] == "STOP"


@pytest.mark.slow
def test_empty_choices_on_the_openai_path_are_asked_again():
    with ProviderStubServer() as server:
        backend = OpenAICompatibleBackend(ModelSpec(id="e", provider="openai-compatible", base_url=server.base_url,
                                                    api_model=EMPTY_FIRST, origin="USA"))
        answered = _ask(backend)
    assert answered.outcome.value == intended_value(REQUEST.user) and answered.attempts == 2


def test_the_stream_only_400_is_read_as_needing_a_stream():
    assert read_error(400, json.dumps(STREAM_ONLY_ERROR), None).param == "stream"
    thinking = {"error": {"code": "invalid_parameter_error", "param": None, "type": "invalid_request_error",
                          "message": "parameter.enable_thinking must be set to false for non-streaming calls"}}
    assert read_error(400, json.dumps(thinking), None).param == "stream"
    other = {"error": {"message": "stream mode is not supported with tools", "type": "invalid_request_error"}}
    assert read_error(400, json.dumps(other), None).param != "stream"


@pytest.mark.slow
def test_a_stream_only_model_is_streamed_once_learned_and_remembered(tmp_path):
    """Before: every request stored as error (the 400 named no parameter the runner could adapt)."""
    store = Store(tmp_path / "s.db")
    try:
        with ProviderStubServer() as server:
            spec = ModelSpec(id="qwq", provider="openai-compatible", base_url=server.base_url, api_model=STREAM_ONLY,
                             origin="CHN", max_attempts=2)
            backend = OpenAICompatibleBackend(spec)
            first = _ask(backend, replace(REQUEST, max_tokens=400), EndpointMemory(backend, store))
            bodies = list(server.bodies)
            backend = OpenAICompatibleBackend(spec)  # a later run: the store remembers the endpoint streams
            memory = EndpointMemory(backend, store)
            again = _ask(backend, replace(REQUEST, max_tokens=400), memory)
            later = server.bodies[len(bodies):]
    finally:
        store.close()
    assert first.outcome.value == intended_value(REQUEST.user) and first.attempts == 2
    assert [bool(body.get("stream")) for body in bodies] == [False, True]
    assert first.reply.reasoning_text and first.reply.answer_text == str(intended_value(REQUEST.user))
    assert "stream" in first.facts.adaptations and first.reply.output_tokens  # usage from the last chunk
    assert len(later) == 1 and later[0]["stream"] is True and again.attempts == 1
    assert any("streamed" in note for note in memory.adaptation_notes)


@pytest.mark.slow
def test_a_catalog_stream_flag_streams_from_the_first_request():
    with ProviderStubServer() as server:
        spec = ModelSpec(id="qwq", provider="openai-compatible", base_url=server.base_url, api_model=STREAM_ONLY,
                         origin="CHN", stream=True)
        answered = _ask(OpenAICompatibleBackend(spec), replace(REQUEST, max_tokens=400))
        assert len(server.bodies) == 1 and server.bodies[0]["stream"] is True
    assert answered.outcome.status == "valid" and "stream" not in answered.facts.adaptations


@pytest.mark.slow
def test_the_recorded_dashscope_stream_is_merged_with_reasoning_apart():
    stream = load_exchange("dashscope_qwen3max_reasoning_stream.chunks.txt")
    chunks = [json.loads(line[len("data: "):]) for line in stream["body"].splitlines()
              if line.startswith("data: {")]
    content = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c["choices"])
    reasoning = "".join((c["choices"][0]["delta"].get("reasoning_content") or "") for c in chunks if c["choices"])
    with ReplayServer([_json(STREAM_ONLY_ERROR, 400), stream]) as server:
        spec = ModelSpec(id="qwen3-max", provider="openai-compatible", base_url=f"{server.url}/v1",
                         api_model="qwen3-max", origin="CHN")
        backend = OpenAICompatibleBackend(spec)

        async def go():
            memory = EndpointMemory(backend)
            try:
                return await answer(backend, replace(REQUEST, max_tokens=4000), ModelGate(1), memory)
            finally:
                await backend.aclose()
        answered = asyncio.run(go())
    assert server.received[1]["body"]["stream"] is True
    assert answered.reply.answer_text == content and answered.reply.reasoning_text == reasoning
    assert answered.reply.output_tokens == chunks[-1]["usage"]["completion_tokens"]
