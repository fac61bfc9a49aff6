"""The model catalog: the paper's 20 kept with their retirement, today's models of both origins."""

from __future__ import annotations

from datetime import date

import pytest

from whosevalues.models.catalog import (
    PAPER_MODELS,
    check_lifecycle,
    describe_retirement,
    expand_model_ids,
    load_catalog,
    models_tagged,
    resolve_model,
    retirement_status,
)
from whosevalues.models.registry import BACKENDS

# The companies issue 8 asks the current catalog to cover, by the origin the analysis gives them.
CURRENT_COMPANIES = {
    "USA": {"OpenAI", "Anthropic", "Google", "Meta"},
    "CHN": {"DeepSeek", "Alibaba", "Moonshot", "Zhipu AI", "Baidu", "MiniMax", "ByteDance", "Tencent"},
}


def test_catalog_loads_and_every_entry_names_a_known_backend():
    catalog = load_catalog()
    assert set(PAPER_MODELS) <= set(catalog)
    assert all(spec.provider in BACKENDS for spec in catalog.values())


def test_every_successor_is_a_catalog_model_and_not_itself_retired():
    catalog = load_catalog()
    successors = {spec.id: spec.successor for spec in catalog.values() if spec.successor}
    assert successors, "the paper's retired models name their successors"
    for model_id, successor in successors.items():
        assert successor in catalog, f"{model_id} -> {successor}"
        assert catalog[successor].retired is None, f"{model_id}'s successor {successor} is retired too"
        assert "current" in catalog[successor].tags


def test_retired_dates_are_dates_and_retired_models_say_where_to_go():
    for spec in load_catalog().values():
        if spec.retired:
            date.fromisoformat(spec.retired)
            assert spec.successor, f"{spec.id} is retired without a successor"


def test_current_covers_both_origins_and_every_named_company():
    current = [resolve_model(model_id) for model_id in models_tagged("current")]
    assert all(spec.retired is None for spec in current)
    for origin, companies in CURRENT_COMPANIES.items():
        found = {spec.company for spec in current if spec.origin == origin}
        assert companies <= found, f"{origin}: missing {companies - found}"
    # open weights of both origins too
    open_weights = {spec.origin for spec in current if "open-weights" in spec.tags}
    assert open_weights == {"USA", "CHN"}


def test_current_models_carry_their_documented_parameters():
    for model_id in models_tagged("current"):
        spec = resolve_model(model_id)
        assert spec.api_model and spec.company, model_id
        assert spec.base_url or spec.provider in ("anthropic", "gemini"), model_id
        assert spec.api_key_env or "open-weights" in spec.tags, model_id
        # a price is either complete with its date, or absent (costed as unknown, never as free)
        priced = spec.price_input_per_mtok is not None
        assert priced == (spec.price_output_per_mtok is not None), model_id
        assert not priced or spec.price_as_of, model_id
        assert spec.notes, f"{model_id} says where its figures come from"
    reasoners = [m for m in models_tagged("current") if resolve_model(m).typical_reasoning_tokens]
    assert len(reasoners) >= len(models_tagged("current")) - 1  # nearly every current model reasons


@pytest.mark.parametrize("shorthand", ["current", "paper", "open-weights"])
def test_shorthands_expand_in_order_without_repeats(shorthand):
    expanded = expand_model_ids([shorthand, "gpt-4o", shorthand])
    assert expanded[: len(models_tagged(shorthand))] == list(models_tagged(shorthand))
    assert len(expanded) == len(set(expanded))
    assert "gpt-4o" in expanded


def test_model_ids_are_never_read_as_tags():
    assert expand_model_ids(["gpt-4o"]) == ["gpt-4o"]
    assert expand_model_ids(["no-such-model"]) == ["no-such-model"]  # resolve_model reports it


def test_retirement_is_judged_against_the_day():
    opus4 = resolve_model("claude-opus-4")
    assert retirement_status(opus4, date(2026, 6, 14)) == "retiring"
    assert retirement_status(opus4, date(2026, 6, 15)) == "retired"
    assert describe_retirement(opus4, date(2026, 12, 1)) == f"retired {opus4.retired}, use {opus4.successor}"
    assert describe_retirement(resolve_model("gpt-6-luna")) is None


def test_a_bad_lifecycle_entry_is_one_clear_error():
    spec = resolve_model("claude-opus-4")
    with pytest.raises(ValueError, match="successor 'nope'"):
        check_lifecycle({spec.id: spec.model_copy(update={"successor": "nope"})}, "catalog.toml")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        check_lifecycle({spec.id: spec.model_copy(update={"retired": "June 2026", "successor": None})}, "x")


def test_the_paper_tag_marks_exactly_the_paper_models():
    tagged = {model_id for model_id, spec in load_catalog().items() if "paper" in spec.tags}
    assert tagged == set(PAPER_MODELS) and len(PAPER_MODELS) == 20


def test_thinking_off_uses_each_current_providers_documented_switch():
    from whosevalues.models.openai_compatible import thinking_params

    def off(model_id):
        return thinking_params(resolve_model(model_id).model_copy(update={"thinking": "off"}))

    assert off("gpt-6-luna").top_level == {"reasoning_effort": "none"}  # Luna documents effort none
    assert off("gpt-6.2-sol").top_level == {"reasoning_effort": "low"}  # Sol has no none: said in a note
    assert "as far as OpenAI allows" in off("gpt-6.2-sol").note
    # DeepSeek V4: one model name, thinking switched in the body (the chat/reasoner names are retired)
    assert off("deepseek-flash").extra_body == {"thinking": {"type": "disabled"}}
    assert "model" not in off("deepseek-v4-pro").top_level
