"""A provider's knowledge in one place (issue 15, item 7): each registry entry's class declares its probe, its
batch adapter and price and its departures; thinking switches per model are catalog data, code the fallback."""

from __future__ import annotations

import importlib

import pytest

from whosevalues.models.base import Backend, ChatRequest
from whosevalues.models.batch_base import BatchUnavailable, batch_adapter
from whosevalues.models.catalog import resolve_model
from whosevalues.models.check import check_model
from whosevalues.models.gemini_backend import GeminiBackend, thinking_config
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.registry import BACKENDS, backend_class, create_backend
from whosevalues.models.spec import ModelSpec

REQUEST = ChatRequest(key="k", system="s", user="u", mode="sample", scale_min=1, scale_max=5, temperature=0.7,
                      max_tokens=16, seed=1)


@pytest.mark.parametrize("provider", sorted(BACKENDS))
def test_every_registered_backend_declares_its_probe_and_batch_adapter(provider):
    cls = backend_class(provider)
    assert cls.check is not Backend.check, f"{provider} does not say how models --check probes it"
    if cls.batch_adapter is not None:
        module, name = cls.batch_adapter.split(":")
        assert hasattr(importlib.import_module(module), name)


def test_a_backend_without_a_batch_api_says_so():
    local = create_backend(resolve_model("smollm2-135m"))
    with pytest.raises(BatchUnavailable):
        batch_adapter(local)


@pytest.mark.slow  # loads the embedded model's file
def test_check_goes_through_the_backend_class():
    unknown = ModelSpec(id="x", provider="nope", api_model="x")
    assert "no check for provider 'nope'" in check_model(unknown).note
    local = check_model(resolve_model("smollm2-135m"))
    assert "local model" in local.note or "llama-cpp-python" in local.note


def test_a_catalog_thinking_switch_wins_over_the_code_fallback():
    qwen = resolve_model("qwen3.8-max").model_copy(update={"thinking": "off"})
    sent = OpenAICompatibleBackend(qwen).build_params(REQUEST)
    assert sent["reasoning_effort"] == "none" and "enable_thinking" not in sent.get("extra_body", {})
    fallback = qwen.model_copy(update={"thinking_switch": {}})  # no catalog data: DashScope's convention
    assert OpenAICompatibleBackend(fallback).build_params(REQUEST)["extra_body"] == {"enable_thinking": False}


def test_a_gemini_switch_from_the_catalog_and_its_departure_note():
    argon = resolve_model("gemini-4-argon").model_copy(update={"thinking": "off"})
    config, budget, notes = thinking_config(argon, 64)
    assert config == {"thinking_level": "LOW"} and budget == 64
    assert notes and "cannot be turned off" in notes[0]
    assert GeminiBackend(argon).departures(REQUEST) == notes
    flash = resolve_model("gemini-2.5-flash").model_copy(update={"thinking": "off"})
    assert thinking_config(flash, 64)[0] == {"thinking_budget": 0}  # no switch in the catalog: the code's rule


def test_the_astra_switch_says_what_it_could_not_do():
    astra = resolve_model("gpt-6.2-astra").model_copy(update={"thinking": "off"})
    backend = OpenAICompatibleBackend(astra)
    assert backend.build_params(REQUEST)["reasoning_effort"] == "low"
    assert backend.departures(REQUEST) and "cannot be turned off" in backend.thinking_note()
