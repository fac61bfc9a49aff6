"""The dry run counts reasoning: the catalog's typical thinking tokens per answer, in the cost and its maximum."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from whosevalues.elicit.cost import TYPICAL_ANSWER_TOKENS, estimate_cost, reasoning_per_answer
from whosevalues.instruments import load_instrument
from whosevalues.models.base import ChatRequest
from whosevalues.models.catalog import models_tagged, resolve_model


def make(key: str, mode: str = "sample", max_tokens: int = 10) -> ChatRequest:
    return ChatRequest(key=key, system="", user="x" * 400, mode=mode,  # type: ignore[arg-type]
                       scale_min=1, scale_max=5, temperature=None, max_tokens=max_tokens, seed=0)


def test_reasoners_pay_for_their_thinking_in_cost_and_maximum():
    reasoner = resolve_model("deepseek-flash")
    per_answer = reasoner.typical_reasoning_tokens
    assert per_answer  # the catalog documents a figure for DeepSeek
    table = estimate_cost([(reasoner, make(f"r{i}")) for i in range(6)], already_done={"r0"}).set_index("model")
    row = table.loc["deepseek-flash"]
    assert row.reasoning_tokens == 5 * per_answer  # only what is still to run
    output = 5 * TYPICAL_ANSWER_TOKENS + row.reasoning_tokens
    assert row.cost_usd == pytest.approx((500 * reasoner.price_input_per_mtok
                                          + output * reasoner.price_output_per_mtok) / 1e6)
    assert row.output_tokens_max == 5 * 10 + 5 * per_answer
    assert row.cost_usd_max == pytest.approx((500 * reasoner.price_input_per_mtok
                                              + row.output_tokens_max * reasoner.price_output_per_mtok) / 1e6)


def test_a_model_that_does_not_reason_adds_nothing():
    plain = resolve_model("gpt-4o")
    assert reasoning_per_answer(plain) == (0, 0)
    row = estimate_cost([(plain, make("a"))]).iloc[0]
    assert row.reasoning_tokens == 0 and row.output_tokens_max == 10


def test_thinking_off_leaves_reasoning_out_of_the_typical_cost_but_not_the_maximum():
    # several providers cannot turn thinking off, so the worst case still counts it
    thinking_off = resolve_model("qwen3-235b-a22b")
    assert thinking_off.thinking == "off" and thinking_off.typical_reasoning_tokens
    row = estimate_cost([(thinking_off, make("a"))]).iloc[0]
    assert row.reasoning_tokens == 0
    assert row.output_tokens_max == 10 + thinking_off.typical_reasoning_tokens


def test_the_mode_column_is_what_the_plan_says():
    spec = resolve_model("gpt-4o")
    table = estimate_cost([(spec, make("a", "distribution")), (spec, make("b", "distribution"))])
    assert table.iloc[0]["mode"] == "distribution"
    mixed = estimate_cost([(spec, make("a", "distribution")), (spec, make("b"))])
    assert mixed.iloc[0]["mode"] == "mixed"


def test_every_current_model_that_reasons_is_costed_with_its_figure():
    for model_id in models_tagged("current"):
        spec = resolve_model(model_id)
        typical, worst = reasoning_per_answer(spec)
        assert worst == (spec.typical_reasoning_tokens or 0)
        assert typical == (0 if spec.thinking == "off" else worst)


@pytest.mark.slow
def test_dry_run_shows_mode_reasoning_unpriced_and_retired(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "whosevalues.cli", "run", "--dry-run", "--surveys", "mfq2", "--languages", "en",
         "--personas", "none", "--samples", "2", "--models", "deepseek-flash,ernie-5.1,claude-opus-4"],
        cwd=tmp_path, capture_output=True, text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "reasoning tok" in text and "mode" in text
    row = next(line for line in text.splitlines() if "deepseek-flash" in line)
    per_answer = resolve_model("deepseek-flash").typical_reasoning_tokens
    answers = len(load_instrument("mfq2").items) * 2  # every item, 2 samples, one condition
    assert f"{answers * per_answer:,}" in row
    assert "leaves out ernie-5.1" in text
    assert "claude-opus-4 was retired by its provider" in text
    assert not (tmp_path / "whosevalues-out").exists()
