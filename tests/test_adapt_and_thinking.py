"""Parameter adaptation (elicit.adapt, elicit.answering), the thinking switch per provider, bounded budgets."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml

from whosevalues.elicit.adapt import adaptation_for, rejected_param
from whosevalues.elicit.answering import answer
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import ModelGate
from whosevalues.elicit.store import Store
from whosevalues.models.base import ChatRequest
from whosevalues.models.openai_compatible import OpenAICompatibleBackend, provider_family, thinking_params
from whosevalues.models.spec import ModelSpec
from whosevalues.testing.stub_providers import ProviderStubServer, intended_value

REQUEST = ChatRequest(key="k", system="You answer surveys.", user="How much? Reply 1-5.", mode="sample",
                      scale_min=1, scale_max=5, temperature=0.7, max_tokens=10, seed=42)


def recorded_error(shared_data, name: str) -> str:
    """The error body of a recorded exchange, as the provider sent it."""
    path = shared_data / "provider_exchanges" / name
    if path.suffix == ".json":
        return path.read_text()
    response = yaml.safe_load(path.read_text())["interactions"][0]["response"]
    body = response.get("parsed_body")
    return json.dumps(body) if body is not None else response["body"]["string"]


@pytest.mark.parametrize("name, param, adaptation", [
    ("openai_400_max_tokens_o1_with_headers.yaml", "max_tokens", "max_completion_tokens"),
    ("openai_400_max_tokens_unsupported_reasoning.json", "max_tokens", "max_completion_tokens"),
    ("openai_o1mini_400_system_role.yaml", "system_role", "fold_system"),
    ("openai_gpt4o_400_param_not_supported.yaml", "web_search_options", None),
])
def test_recorded_400s_name_the_parameter_and_the_adaptation(shared_data, name, param, adaptation):
    rejected = rejected_param(400, recorded_error(shared_data, name))
    assert rejected == param
    found = adaptation_for(rejected, REQUEST, "m")
    assert (found.name if found else None) == adaptation


def test_temperature_note_says_the_study_value_was_not_applied():
    found = adaptation_for("temperature", REQUEST, "gpt-5")
    assert found.name == "no_temperature" and "gpt-5" in found.note and "0.7 was not applied" in found.note
    assert rejected_param(500, '{"error": {"param": "temperature"}}') is None  # only a 400 names a parameter


def spec(base_url: str | None, api_model: str, thinking: str) -> ModelSpec:
    return ModelSpec(id="m", provider="openai-compatible", base_url=base_url, api_model=api_model,
                     thinking=thinking, api_key_env="NO_SUCH_KEY")


@pytest.mark.parametrize("base_url, api_model, thinking, expected", [
    ("https://dashscope-intl.aliyuncs.com/compatible-mode/v1", "qwen3-max", "off", {"enable_thinking": False}),
    ("https://open.bigmodel.cn/api/paas/v4", "glm-4.6", "off", {"thinking": {"type": "disabled"}}),
    ("https://api.z.ai/api/paas/v4", "glm-4.7", "on", {"thinking": {"type": "enabled"}}),
    ("http://127.0.0.1:8000/v1", "Qwen/Qwen3-8B", "off", {"chat_template_kwargs": {"enable_thinking": False}}),
])
def test_thinking_switch_travels_in_extra_body(base_url, api_model, thinking, expected):
    params = OpenAICompatibleBackend(spec(base_url, api_model, thinking)).build_params(REQUEST)
    assert params["extra_body"] == expected


def test_thinking_switch_by_model_name_or_effort():
    deepseek = OpenAICompatibleBackend(spec("https://api.deepseek.com", "deepseek-reasoner", "off"))
    assert deepseek.build_params(REQUEST)["model"] == "deepseek-chat"
    assert "deepseek-chat" in thinking_params(deepseek.spec).note  # the switch is said, not silent
    assert OpenAICompatibleBackend(spec(None, "gpt-5", "off")).build_params(REQUEST)["reasoning_effort"] == "minimal"
    assert OpenAICompatibleBackend(spec(None, "o3-mini", "off")).build_params(REQUEST)["reasoning_effort"] == "low"
    default = OpenAICompatibleBackend(spec("https://api.deepseek.com", "deepseek-reasoner", "default"))
    params = default.build_params(REQUEST)
    assert params["model"] == "deepseek-reasoner" and "extra_body" not in params
    assert provider_family(spec("https://api.moonshot.ai/v1", "kimi-k2", "off")) == "moonshot"
    assert "no known switch" in thinking_params(spec("https://api.moonshot.ai/v1", "kimi-k2", "off")).note


def test_adaptations_shape_the_request_body():
    backend = OpenAICompatibleBackend(spec("http://127.0.0.1:1/v1", "o1-mini", "default"))
    backend.param_adaptations |= {"max_completion_tokens", "no_temperature", "fold_system", "no_seed"}
    params = backend.build_params(REQUEST)
    assert params["max_completion_tokens"] == 10 and "max_tokens" not in params
    assert "temperature" not in params and "seed" not in params
    assert params["messages"] == [{"role": "user", "content": f"{REQUEST.system}\n\n{REQUEST.user}"}]
    backend.param_adaptations.add("no_logprobs")
    assert "logprobs" not in backend.build_params(ChatRequest(**{**REQUEST.__dict__, "mode": "distribution"}))


def run_answer(base_url: str, api_model: str, store: Store | None, cap: int = 8192):
    model = ModelSpec(id=api_model, provider="openai-compatible", base_url=base_url, api_model=api_model,
                      reasoning_budget_cap=cap, timeout=5)
    backend = OpenAICompatibleBackend(model)
    memory = EndpointMemory(backend, store, REQUEST.temperature)

    async def go():
        try:
            return await answer(backend, REQUEST, ModelGate(1), memory)
        finally:
            await backend.aclose()

    return asyncio.run(go()), memory


@pytest.mark.slow
def test_o_series_adapts_each_parameter_once_and_remembers_it(tmp_path):
    store = Store(tmp_path / "s.db")
    try:
        with ProviderStubServer() as server:
            answered, memory = run_answer(server.base_url, "o1-mini", store)
            outcome, attempts = answered.outcome, answered.attempts
            first = server.requests_by_model["o1-mini"]
            again, _ = run_answer(server.base_url, "o1-mini", store)  # a later study
            again_attempts = again.attempts
            second = server.requests_by_model["o1-mini"] - first
        assert outcome.status == "valid" and outcome.value == intended_value(REQUEST.user)
        assert answered.facts.adaptations == ("fold_system", "max_completion_tokens", "no_temperature")
        # 3 rejections + budget 10 -> 20 -> 40 -> 80 for the 64 hidden reasoning tokens; attempts count them all
        assert first == attempts == 3 + 4
        assert second == again_attempts == 1  # adaptations and the budget came from the store
        assert again.facts.max_tokens == 80
    finally:
        store.close()


@pytest.mark.slow
def test_budget_cap_ends_with_no_answer_budget_not_a_loop():
    with ProviderStubServer() as server:
        answered, _ = run_answer(server.base_url, "reasoner", None, cap=160)
        outcome, attempts = answered.outcome, answered.attempts
        asked = server.requests_by_model["reasoner"]
    assert outcome.status == "no_answer_budget" and "reasoning" in outcome.detail
    assert asked == attempts == 5  # 10, 20, 40, 80, 160: bounded by the cap
    assert answered.reply.reasoning_text and answered.facts.max_tokens == 160


def test_a_study_file_changes_thinking_of_a_catalog_model():
    from whosevalues.models.catalog import resolve_model
    from whosevalues.study import Study

    study = Study.from_dict({"models": [{"id": "gpt-4o", "thinking": "off"}]})
    changed, catalog = study.model_specs()[0], resolve_model("gpt-4o")
    assert changed.thinking == "off" and catalog.thinking == "default"
    assert (changed.provider, changed.api_model) == (catalog.provider, catalog.api_model)
