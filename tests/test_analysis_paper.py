"""The paper's published MFQ-2 numbers from its published data (paper-compatible mode), and the default's.

Published figures (Table 2 and the text of sections 4.1 and 4.3) are literal constants here; everything else
is computed from ../shared/data/made_in_china_paper.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared_paths import PAPER
from whosevalues.analysis import design, paper_compat, vectors
from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.humans import load_populations
from whosevalues.humans.population import Population
from whosevalues.instruments import load_instrument

pytestmark = pytest.mark.needs_shared

# Table 2, MFQ-2 rows: estimate, SE (published to 3 decimals)
TABLE2_MFQ2 = {"Intercept": (.207, .001), "language": (.017, .001), "persona": (.014, .001),
               "origin": (.004, .001), "language:persona": (.003, .002), "language:origin": (.016, .002),
               "persona:origin": (.013, .002), "language:persona:origin": (.008, .005)}
# Section 4.3, MFQ-2 RQ3 (the nationality main effect is reported in magnitude)
RQ3_TEXT_MFQ2 = {"removed[Authority]": .008, "removed[Loyalty]": .021, "nationality:removed[Authority]": -.028,
                 "nationality:removed[Loyalty]": -.015, "nationality:removed[Care]": .056}
RQ3_NATIONALITY_MAGNITUDE = .175
RQ1_INTERACTION_P_ABOVE = .7
ROUNDING = 0.0005 + 1e-6  # a published third decimal covers +-0.0005


def bundled_mfq2_populations() -> list[Population]:
    """Real respondents: every 36 consecutive rows of a Group are one respondent (SOURCE.md)."""
    return load_populations("mfq2", source="bundled", countries=("CHN", "USA"))


@pytest.fixture(scope="module")
def mfq2_means() -> pd.DataFrame:
    return load_llm_responses(PAPER / "llm_mfq_responses.csv")


@pytest.fixture(scope="module")
def runs(published_mfq2_runs):
    """The paper's MFQ-2 answers against the bundled CHN and USA respondents, analysed in both modes (shared by
    the modules that read them: conftest.py)."""
    out = {}
    for mode, (directory, summary) in published_mfq2_runs.items():
        tables = {rq: pd.read_csv(directory / "tables" / f"{rq}_mfq2.csv").set_index("term")
                  for rq in ("rq1", "rq2", "rq3")}
        out[mode] = (directory, summary, tables)
    return out


def test_label_grouping_reproduces_the_files_participant_label():
    frame = pd.read_csv(PAPER / "human_mfq_responses.csv")
    for population, group in zip(bundled_mfq2_populations(), ("China", "USA")):
        by_label = frame[frame["Group"] == group].pivot(index="Participant", columns="Item", values="Response")
        rebuilt = paper_compat.label_grouping(population.responses)
        assert np.array_equal(by_label.to_numpy(dtype=float), rebuilt.to_numpy())


def test_table2_mfq2_reproduced_in_paper_compatible_mode(runs):
    table = runs[True][2]["rq2"]
    for term, (estimate, se) in TABLE2_MFQ2.items():
        assert abs(table.loc[term, "estimate"] - estimate) <= ROUNDING, term
        assert abs(table.loc[term, "std_error"] - se) <= ROUNDING, term


def test_default_mode_uses_real_respondents_and_differs(runs):
    paper, default = runs[True][2]["rq2"], runs[False][2]["rq2"]
    assert abs(default.loc["Intercept", "estimate"] - TABLE2_MFQ2["Intercept"][0]) > 0.01
    shared = paper.index.intersection(default.index)
    assert not np.allclose(paper.loc[shared, "estimate"], default.loc[shared, "estimate"], atol=1e-3)
    populations = runs[False][1]["surveys"]["mfq2"]["populations"]
    assert populations["CHN"]["dropped_straightliners"] >= 1  # real respondents include straight-liners


def test_rq1_and_rq3_text_values_in_paper_compatible_mode(runs):
    tables = runs[True][2]
    assert tables["rq1"].loc["nationality", "estimate"] < 0
    assert tables["rq1"].loc["nationality:origin", "p_value"] > RQ1_INTERACTION_P_ABOVE
    rq3 = tables["rq3"]
    assert abs(abs(rq3.loc["nationality", "estimate"]) - RQ3_NATIONALITY_MAGNITUDE) <= 0.01
    for term, published in RQ3_TEXT_MFQ2.items():
        assert abs(rq3.loc[term, "estimate"] - published) <= 0.01, term


def test_output_files_and_summary(runs):
    directory, summary, tables = runs[False]
    for name in ("exclusions.csv", "human_item_stats.csv", "summary.json", "reference_similarity_mfq2.csv",
                 "tables/welch_mfq2.csv", "similarity_mfq2_rq1.parquet", "similarity_mfq2_rq2.parquet",
                 "similarity_mfq2_rq3.parquet"):
        assert (directory / name).exists(), name
    assert list(tables["rq2"].reset_index().columns[:5]) == ["term", "estimate", "std_error", "t_value", "p_value"]
    assert list(tables["rq1"].index) == ["Intercept", "nationality", "origin", "nationality:origin"]
    similarity = pd.read_parquet(directory / "similarity_mfq2_rq3.parquet")
    expected = {"respondent", "nationality", "model", "origin", "language", "persona", "removed", "cosine"}
    assert expected <= set(similarity)
    assert summary["surveys"]["mfq2"]["analyses"]["rq3"]["rows"] == len(similarity)
    headline = pd.DataFrame(summary["surveys"]["mfq2"]["mean_cosine"])
    rq1 = pd.read_parquet(directory / "similarity_mfq2_rq1.parquet")
    expected = rq1.groupby(["nationality", "origin"], observed=True)["cosine"].mean()
    for row in headline.itertuples():
        assert row.mean_cosine == pytest.approx(expected[(row.population, row.origin)])
    welch = pd.read_csv(directory / "tables" / "welch_mfq2.csv")
    assert set(welch["kind"]) == {"model", "reference"} and len(welch[welch["kind"] == "model"]) == 20


def test_similarity_matches_a_direct_cosine(mfq2_means):
    items = load_instrument("mfq2").item_ids
    humans = [vectors.human_vectors(p, items) for p in bundled_mfq2_populations()]
    llm = vectors.llm_vectors(mfq2_means, "mfq2", items)
    rows = design.rq1("mfq2", humans, llm)
    frame = rows.frame()
    pick = frame.sample(50, random_state=1)
    for row in pick.itertuples():
        h = next(x for x in humans if x.country == row.nationality)
        hv = h.raw[list(h.ids).index(row.respondent)]
        lv = mfq2_means[(mfq2_means["model"] == row.model) & (mfq2_means["language"] == row.language)
                        & (mfq2_means["persona"] == "none")].set_index("item").loc[items, "mean"].to_numpy()
        hz, lz = (hv - hv.mean()) / hv.std(ddof=1), (lv - lv.mean()) / lv.std(ddof=1)
        assert row.cosine == pytest.approx(hz @ lz / np.linalg.norm(hz) / np.linalg.norm(lz), abs=1e-12)


def test_label_grouped_populations_are_not_regrouped():
    populations = bundled_mfq2_populations()
    once = paper_compat.paper_population(populations[0])
    assert paper_compat.paper_population(once) is once


def test_wvs_rq3_paper_vectors_equal_the_concatenated_57_value_cosine():
    means = load_llm_responses(PAPER / "llm_wvs_responses.csv")
    items = load_instrument("wvs7").item_ids
    llm = paper_compat.wvs_rq3_vectors(means, items)
    assert set(llm.rep) == {3.0} and llm.keys["model"].nunique() == 14
    rng = np.random.default_rng(0)
    human, _ = vectors.zscore_rows(rng.integers(1, 11, size=(5, 19)).astype(float))
    fast = vectors.leave_out_cosine(human, llm, [np.array([5])])
    row = llm.keys.index[(llm.keys["model"] == "gpt-4.1") & (llm.keys["language"] == "en")][0]
    block = means[(means["model"] == "gpt-4.1") & (means["language"] == "en")]
    wide = block.pivot(index="persona", columns="item", values="mean")[items].to_numpy()
    z = (wide - wide.mean()) / wide.std(ddof=1)  # one mean and SD over all 57 answers
    for keep, level in ((np.arange(19), 0), (np.setdiff1d(np.arange(19), [5]), 1)):
        l57 = z[:, keep].ravel()
        h57 = np.tile(human[:, keep], (1, 3))
        direct = h57 @ l57 / (np.linalg.norm(h57, axis=1) * np.linalg.norm(l57))
        np.testing.assert_allclose(fast[:, row, level], direct, rtol=1e-10)
