"""The sequential sample check (elicit/sample_check.py): its arithmetic by hand, its stopping rule, its rounds."""

from __future__ import annotations

import asyncio
import math
from types import SimpleNamespace

import pandas as pd
import pytest

from whosevalues.elicit.sample_check import (
    ROUNDS,
    TOLERANCE,
    Z,
    cell_stats,
    evaluate,
    run_in_rounds,
    verdict,
)


def test_cell_difference_and_variance_by_hand():
    # distribution {1: .5, 3: .5}: mean 2, variance 1; samples 2 and 4: mean 3, sample variance 2; range 4
    stats = cell_stats([2, 4], {1: 0.5, 3: 0.5}, 4.0)
    assert stats["distribution_mean"] == 2 and stats["sampled_mean"] == 3 and stats["n_valid_samples"] == 2
    assert stats["d"] == pytest.approx(0.25) and stats["v"] == pytest.approx(2 / 2 / 16)


def test_identical_samples_are_not_taken_as_certain():
    """Five identical samples have no sample variance: the distribution's own variance is the floor."""
    stats = cell_stats([3] * 5, {2: 0.2, 3: 0.6, 4: 0.2}, 4.0)
    assert stats["v"] == pytest.approx(0.4 / 5 / 16)


def test_small_differences_agree_clearly():
    cells = [{"d": 0.05, "v": 1e-4}, {"d": -0.05, "v": 1e-4}]
    result = verdict(cells, last_round=False)
    d2 = 0.0025 - 1e-4
    se = math.sqrt(2 * (4 * 0.0025 * 1e-4 + 2 * 1e-8)) / 2
    assert result["rms_difference"] == pytest.approx(math.sqrt(d2), abs=1e-4)
    assert result["rms_interval"][1] == pytest.approx(math.sqrt(d2 + Z * se), abs=1e-4)
    assert result["rms_interval"][1] < TOLERANCE
    assert result["disagree"] is False and result["clear"] and result["decided"]
    assert result["mean_abs_difference"] == pytest.approx(0.05)


def test_large_differences_disagree_clearly():
    result = verdict([{"d": 0.3, "v": 1e-3}, {"d": 0.25, "v": 1e-3}], last_round=False)
    assert result["rms_interval"][0] > TOLERANCE
    assert result["disagree"] is True and result["clear"] and result["decided"]


def test_noisy_cells_go_on_until_the_last_round_then_the_point_estimate_decides():
    noisy = [{"d": 0.12, "v": 0.01}, {"d": 0.1, "v": 0.01}]
    going_on = verdict(noisy, last_round=False)
    assert not going_on["decided"] and not going_on["clear"]
    last = verdict(noisy, last_round=True)
    assert last["decided"] and not last["clear"]
    assert last["disagree"] is (last["rms_difference"] > TOLERANCE)


def test_evaluate_matches_cells_and_reports_the_size():
    sampled = pd.DataFrame({"survey": ["s"] * 4, "item": ["1", "1", "2", "2"], "language": ["en"] * 4,
                            "persona": ["none"] * 4, "value": [5.0, 5.0, 1.0, 1.0]})
    distributions = pd.DataFrame({"survey": ["s", "s"], "item": ["1", "2"], "language": ["en", "en"],
                                  "persona": ["none", "none"], "distribution": [{1: 0.9, 5: 0.1}, {1: 1.0}]})
    summary = evaluate(sampled, distributions, {"s": 4.0}, samples_asked=2, last_round=False)
    assert summary["items"] == 2 and summary["samples_per_item"] == 2
    by_item = {row["item"]: row for row in summary["per_item"]}
    assert by_item["1"]["distribution_mean"] == pytest.approx(1.4) and by_item["1"]["sampled_mean"] == 5
    assert summary["mean_abs_difference"] == pytest.approx((3.6 / 4 + 0) / 2, abs=1e-4)
    assert summary["disagree"] is True


def planned(model: str, sample: int):
    return SimpleNamespace(key=f"{model}/{sample}", sample=sample)


def test_rounds_stop_for_each_model_once_its_verdict_is_clear():
    checks = {m: [planned(m, s) for s in range(ROUNDS[-1])] for m in ("quick", "slow")}
    asked_batches = []

    async def ask(batch):
        asked_batches.append({m: len(r) for m, r in batch.items()})
        return SimpleNamespace(interrupted=False)

    def judge(model, asked, last_round):
        return {"decided": model == "quick" or last_round}

    asked = asyncio.run(run_in_rounds(checks, ask, judge))
    assert len(asked["quick"]) == ROUNDS[0] and len(asked["slow"]) == ROUNDS[-1]
    assert asked_batches[0] == {"quick": ROUNDS[0], "slow": ROUNDS[0]}
    assert all(set(batch) == {"slow"} for batch in asked_batches[1:]) and len(asked_batches) == len(ROUNDS)
