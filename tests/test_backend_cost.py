"""Cost and scale before spending: tokens, requests and dollars per model from the catalog's prices."""

from __future__ import annotations

import math

import pytest

from whosevalues.elicit.cost import TYPICAL_ANSWER_TOKENS, estimate_cost, estimate_tokens
from whosevalues.models.base import ChatRequest
from whosevalues.models.catalog import resolve_model


def make(key: str, user: str, mode: str = "sample", max_tokens: int = 10) -> ChatRequest:
    return ChatRequest(key=key, system="", user=user, mode=mode, scale_min=1, scale_max=5,  # type: ignore[arg-type]
                       temperature=None, max_tokens=max_tokens, seed=0)


def test_token_estimate_counts_cjk_per_character():
    assert estimate_tokens("") == 0
    english = "How much do you agree with the statement?"
    assert estimate_tokens(english) == math.ceil(len(english) / 4)
    chinese = "你在多大程度上同意以下说法"
    assert estimate_tokens(chinese) == len(chinese)
    assert estimate_tokens("同意 agree") == 2 + math.ceil(len(" agree") / 4)


def test_cost_per_model_skips_what_is_done():
    gpt, claude, local = resolve_model("gpt-4o"), resolve_model("claude-opus-4"), resolve_model("baichuan2-13b-chat")
    text = "x" * 400  # 100 tokens
    plan = [(gpt, make(f"g{i}", text)) for i in range(10)] + [(claude, make(f"c{i}", text)) for i in range(4)]
    plan += [(gpt, make("gd", text, mode="distribution")), (local, make("b0", text))]
    table = estimate_cost(plan, already_done={"g0", "g1"}).set_index("model")
    row = table.loc["gpt-4o"]
    assert (row.requests, row.already_done, row.to_run) == (11, 2, 9)
    assert row.input_tokens == 9 * 100
    assert row.output_tokens == 8 * TYPICAL_ANSWER_TOKENS + 2 and row.output_tokens_max == 8 * 10 + 2
    expected = (900 * gpt.price_input_per_mtok + row.output_tokens * gpt.price_output_per_mtok) / 1e6
    assert row.cost_usd == pytest.approx(expected)
    assert row.price_as_of == gpt.price_as_of
    assert table.loc["claude-opus-4"].cost_usd == pytest.approx(
        (400 * claude.price_input_per_mtok + 4 * TYPICAL_ANSWER_TOKENS * claude.price_output_per_mtok) / 1e6)
    assert table.loc["baichuan2-13b-chat"].cost_usd == 0  # self-hosted: priced at zero in the catalog
    assert list(table.index) == ["gpt-4o", "claude-opus-4", "baichuan2-13b-chat"]


def test_unpriced_model_costs_nan_not_zero():
    spec = resolve_model("gpt-4o").model_copy(update={"price_input_per_mtok": None})
    assert math.isnan(estimate_cost([(spec, make("a", "hi"))]).cost_usd.iloc[0])
