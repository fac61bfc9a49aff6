"""Audits of the bundled MFQ-2 respondents: real respondents (36-row blocks) vs the Participant-label grouping."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from whosevalues.humans import PopulationWarning, describe, format_summary, human_item_stats, load_populations
from whosevalues.humans.audit import cronbach_alpha, straight_liners
from whosevalues.humans.bundled import mfq2_long
from whosevalues.instruments import load_instrument
from wvs_fixtures import write_wvs_file

MFQ2 = load_instrument("mfq2")
# Published: Atari et al. (2023) report MFQ-2 foundation reliabilities of about .7 to .9; tolerance .05.
PUBLISHED_ALPHA_RANGE = (0.70 - 0.05, 0.90 + 0.05)
# Published (paper, section 3): 517 CHN and 515 USA respondents.
PUBLISHED_N = {"CHN": 517, "USA": 515}


@pytest.fixture(scope="module")
def blocks():
    return load_populations("mfq2")


@pytest.fixture(scope="module")
def labels():
    with pytest.warns(PopulationWarning, match="scrambled"):
        return load_populations("mfq2", paper_labels=True)


def _alpha_by_covariance(answers: pd.DataFrame) -> float:
    """Alpha from the item covariance matrix: k/(k-1) * (1 - trace / sum), an independent formula."""
    covariance = np.cov(answers.dropna().to_numpy(), rowvar=False)
    k = covariance.shape[0]
    return k / (k - 1) * (1 - np.trace(covariance) / covariance.sum())


def test_cronbach_alpha_matches_covariance_formula(blocks):
    answers = blocks[0].responses
    for foundation in MFQ2.dimensions:
        items = [item for item, dimension in MFQ2.dimension_of().items() if dimension == foundation]
        assert cronbach_alpha(answers[items]) == pytest.approx(_alpha_by_covariance(answers[items]), abs=1e-10)


def test_block_grouping_gives_published_reliability(blocks):
    for population in blocks:
        assert population.n == PUBLISHED_N[population.country]
        assert set(population.audit["alpha"]) == set(MFQ2.dimensions)
        low, high = PUBLISHED_ALPHA_RANGE
        assert all(low <= alpha <= high for alpha in population.audit["alpha"].values())
        assert population.audit["warnings"] == []
        # Every row of the long file lands in exactly one respondent.
        long = mfq2_long()
        rows = long[long["country"] == population.country]
        assert population.responses.size == len(rows)
        assert population.responses.to_numpy().sum() == rows["Response"].sum()


def test_label_grouping_gives_near_zero_alpha_and_a_warning(labels, blocks):
    for scrambled, real in zip(labels, blocks):
        assert scrambled.n == real.n
        assert all(abs(alpha) < 0.3 for alpha in scrambled.audit["alpha"].values())
        assert any("scrambled" in warning for warning in scrambled.audit["warnings"])
        # Item-level marginals do not depend on the grouping.
        pd.testing.assert_series_equal(scrambled.item_means(), real.item_means())


def test_label_grouping_is_the_papers_participant_label(labels):
    """Within a group, row r (0-based) has label (r mod N) + 1: rebuild one pseudo-respondent from the rule."""
    long = mfq2_long()
    for population in labels:
        rows = long[long["country"] == population.country].reset_index(drop=True)
        n = population.n
        label = 7
        mine = rows.iloc[np.arange(len(rows)) % n == label - 1]
        expected = mine.set_index("Item")["Response"].sort_index().astype(float)
        got = population.responses.loc[f"{population.country}-label{label}"]
        np.testing.assert_array_equal(got.to_numpy(), expected.to_numpy())


def test_straight_liners_are_counted(blocks):
    for population in blocks:
        answers = population.responses.to_numpy()
        expected = int((answers.max(axis=1) == answers.min(axis=1)).sum())
        assert population.audit["straight_liners"] == expected == int(straight_liners(population.responses).sum())
        assert population.audit["item_means"]["1"] == pytest.approx(population.responses["1"].mean())


def test_wvs_file_audit_has_alpha_over_all_items_and_no_warning(tmp_path):
    built = write_wvs_file(tmp_path, "csv;")
    for population in load_populations("wvs7", built.path):
        assert list(population.audit["alpha"]) == ["all items"]
        assert population.audit["alpha"]["all items"] > 0.3
        assert population.audit["warnings"] == []


def test_aggregate_audit_has_n_and_item_means():
    for population in load_populations("wvs7"):
        assert population.audit["n"] == population.n > 0
        assert set(population.audit["item_means"]) == set(load_instrument("wvs7").item_ids)


def test_describe_is_json_ready_and_item_stats(blocks):
    summary = json.loads(json.dumps([describe(p) for p in blocks]))
    assert summary[0]["n"] == blocks[0].n and summary[0]["steps"][-1]["count"] == blocks[0].n
    stats = human_item_stats(blocks, MFQ2)
    assert len(stats) == 36 * len(blocks)
    chn = stats[stats["country"] == "CHN"].set_index("item")
    assert chn.loc["1", "dimension"] == "Care"
    assert chn.loc["1", "mean"] == pytest.approx(blocks[0].responses["1"].mean())
    # Within-respondent z-scores sum to zero over items, so their item means do too.
    assert chn["z_mean"].sum() == pytest.approx(0.0, abs=1e-9)


def test_terminal_summary_names_steps_alpha_and_warnings(labels, blocks):
    real = "\n".join(format_summary(blocks[0]))
    assert f"n = {blocks[0].n}" in real and "Care" in real and "straight-liners: " in real
    assert "warning" not in real
    assert "scrambled" in "\n".join(format_summary(labels[0]))
