"""Fast factorial OLS == statsmodels on real data; closed-form leave-one-out == recomputed cosine;
exclusions and skipped designs; importing LLM responses."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from replicates import FEW_REPLICATES
from shared_paths import PAPER
from whosevalues.analysis import design, ols, vectors
from whosevalues.analysis.llm_responses import LLMResponsesError, load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.humans import load_populations
from whosevalues.humans.population import Population
from whosevalues.instruments import load_instrument

needs_shared = pytest.mark.needs_shared  # skipped without ../shared (conftest.py)


def mfq2_populations() -> list[Population]:
    return load_populations("mfq2")  # the bundled real respondents


@pytest.fixture(scope="module")
def mfq2():
    items = load_instrument("mfq2").item_ids
    means = load_llm_responses(PAPER / "llm_mfq_responses.csv")
    humans = [vectors.human_vectors(p, items) for p in mfq2_populations()]
    return items, means, humans


@pytest.mark.needs("statsmodels")
@needs_shared
@pytest.mark.parametrize("analysis", ["rq1", "rq2", "rq3"])
def test_fast_ols_equals_statsmodels(mfq2, analysis):
    items, means, humans = mfq2
    llm = vectors.llm_vectors(means, "mfq2", items)
    if analysis == "rq1":
        rows = design.rq1("mfq2", humans, llm)
    elif analysis == "rq2":
        rows = design.rq2("mfq2", humans, llm)
    else:
        groups = {}
        for index, dim in enumerate(load_instrument("mfq2").dimension_of().values()):
            groups.setdefault(dim, []).append(index)
        rows = design.rq3("mfq2", humans, llm, groups)
    table = rows.table(bootstrap=0)
    classical = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell)
    np.testing.assert_allclose(table["estimate"], classical.params.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table["std_error"], classical.bse.to_numpy(), rtol=1e-7)
    np.testing.assert_allclose(table["p_value"], classical.pvalues.to_numpy(), rtol=1e-6, atol=1e-300)
    by_model = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell, groups=rows.model)
    np.testing.assert_allclose(table["se_cluster_model"], by_model.bse.to_numpy(), rtol=1e-7)
    if analysis != "rq3":  # the row-level sandwich is slow at RQ3's size; rq1/rq2 cover the same code
        by_respondent = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell, groups=rows.respondent)
        np.testing.assert_allclose(table["se_cluster_respondent"], by_respondent.bse.to_numpy(), rtol=1e-7)
        twoway = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell,
                                     groups=np.column_stack([rows.respondent, rows.model]))
        np.testing.assert_allclose(table["se_twoway"], twoway.bse.to_numpy(), rtol=1e-6)


@needs_shared
def test_bootstrap_over_models_is_reproducible_and_sane(mfq2):
    items, means, humans = mfq2
    rows = design.rq1("mfq2", humans, vectors.llm_vectors(means, "mfq2", items))
    first, second = rows.table(bootstrap=50, seed=3), rows.table(bootstrap=50, seed=3)
    pd.testing.assert_frame_equal(first, second)
    # A percentile CI need not cover the estimate exactly, but OLS over resampled models is nearly unbiased:
    # the interval's centre lies within one bootstrap SE of the estimate for every term.
    centre = (first["boot_ci_low"] + first["boot_ci_high"]) / 2
    assert ((centre - first["estimate"]).abs() < first["boot_se_models"]).all()
    assert (first["boot_ci_low"] <= first["boot_ci_high"]).all()
    # between-model variation dominates the origin effect: bootstrap and model-clustered SEs are of one size
    ratio = first.loc[2, "boot_se_models"] / first.loc[2, "se_cluster_model"]
    assert 0.3 < ratio < 3
    assert first.loc[2, "boot_se_models"] > 3 * first.loc[2, "std_error"]


def test_leave_out_cosine_equals_recomputed_cosine():
    rng = np.random.default_rng(0)
    human = rng.integers(1, 6, size=(40, 12)).astype(float)
    hz, usable = vectors.zscore_rows(human)
    hz = hz[usable]
    keys = pd.DataFrame({"model": ["a", "b", "c"], "origin": ["CHN", "USA", "USA"], "language": "en",
                         "persona": "none"})
    lz, _ = vectors.zscore_rows(rng.normal(size=(3, 12)))
    llm = vectors.LLMVectors(keys, lz, lz ** 2, np.ones(3))
    groups = [np.array([0, 5, 7]), np.array([3]), np.array([1, 2, 4, 6])]
    fast = vectors.leave_out_cosine(hz, llm, groups)
    for g, columns in enumerate(groups):
        keep = np.setdiff1d(np.arange(12), columns)
        human, model = hz[:, keep], lz[:, keep]
        direct = (human @ model.T) / np.outer(np.linalg.norm(human, axis=1), np.linalg.norm(model, axis=1))
        np.testing.assert_allclose(fast[:, :, g + 1], direct, rtol=1e-10)
    np.testing.assert_allclose(fast[:, :, 0], vectors.cosine(hz, llm), rtol=1e-12)


def test_straightliners_and_incomplete_respondents_are_dropped_and_counted():
    responses = pd.DataFrame([[1, 2, 3], [4, 4, 4], [1, np.nan, 2], [5, 1, 3]], columns=["1", "2", "3"],
                             index=["a", "b", "c", "d"], dtype=float)
    result = vectors.human_vectors(Population("x", "CHN", "test", responses=responses), ["1", "2", "3"])
    assert list(result.ids) == ["a", "d"]
    assert (result.dropped_straightliners, result.dropped_incomplete) == (1, 1)
    np.testing.assert_allclose(result.z.std(axis=1, ddof=1), 1.0)


@needs_shared
def test_refused_item_excludes_the_model_and_says_why(mfq2, tmp_path):
    items, means, humans = mfq2
    broken = means.copy()
    refused = (broken["model"] == "gpt-4") & (broken["language"] == "zh") & (broken["persona"] == "none") & (
        broken["item"] == "7")
    broken.loc[refused, ["mean", "n_valid"]] = [np.nan, 0]
    rows = design.rq1("mfq2", humans, vectors.llm_vectors(broken, "mfq2", items))
    assert "gpt-4" not in set(rows.models["model"]) and len(rows.models) == 19
    record = rows.exclusions.iloc[0]
    assert (record["model"], record["language"], record["persona"]) == ("gpt-4", "zh", "none")
    assert "every sample refused" in record["reason"]
    # RQ2 does not use persona none: gpt-4 stays
    assert "gpt-4" in set(design.rq2("mfq2", humans, vectors.llm_vectors(broken, "mfq2", items)).models["model"])
    summary = analyze(broken, {"mfq2": mfq2_populations()}, out_dir=tmp_path, **FEW_REPLICATES)
    exclusions = pd.read_csv(tmp_path / "exclusions.csv")
    assert set(exclusions["analysis"]) == {"rq1", "rq3"} and set(exclusions["model"]) == {"gpt-4"}
    assert summary["exclusions"][0]["model"] == "gpt-4"


@needs_shared
def test_designs_without_conditions_are_skipped_and_one_population_drops_nationality(mfq2, tmp_path):
    _, means, _ = mfq2
    chinese_only = means[(means["origin"] == "CHN") & (means["persona"] != "none")]
    summary = analyze(chinese_only, {"mfq2": mfq2_populations()}, out_dir=tmp_path, **FEW_REPLICATES)
    analyses = summary["surveys"]["mfq2"]["analyses"]
    assert "persona none" in analyses["rq1"]["skipped"]  # RQ1 has no condition to compare with
    assert "rows" in analyses["rq2"] and "origin" in analyses["rq2"]["dropped_terms"]
    one_country = analyze(means, {"mfq2": mfq2_populations()[:1]}, out_dir=tmp_path / "one", **FEW_REPLICATES)
    analyses = one_country["surveys"]["mfq2"]["analyses"]
    assert not any("skipped" in a for a in analyses.values())
    assert analyses["rq1"]["formula"] == "cosine ~ origin"
    assert set(analyses["rq1"]["dropped_terms"]) == {"nationality", "nationality:origin"}
    assert "one country" in analyses["rq1"]["dropped_terms"]["nationality"]
    assert not (tmp_path / "one" / "tables" / "welch_mfq2.csv").exists()  # Welch needs two populations
    usa = mfq2_populations()[1].responses
    shares = pd.DataFrame({v: (usa == v).mean() for v in range(1, 6)})  # item x answer proportions
    aggregates = Population("mfq2", "USA", "aggregates", responses=None, distributions=shares)
    none = analyze(means, {"mfq2": [aggregates]}, out_dir=tmp_path / "agg", **FEW_REPLICATES)
    assert "skipped" in none["surveys"]["mfq2"]["populations"]["USA"]
    assert json.loads((tmp_path / "agg" / "summary.json").read_text())["surveys"]["mfq2"]["analyses"]["rq1"]


@needs_shared
def test_paper_files_map_to_project_codes():
    frame = load_llm_responses([PAPER / "llm_wvs_responses.csv", PAPER / "llm_wvs_persona_responses.csv"])
    assert set(frame["survey"]) == {"wvs7"} and set(frame["language"]) == {"en", "zh"}
    assert set(frame["persona"]) == {"none", "CHN", "USA"} and set(frame["origin"]) == {"CHN", "USA"}
    assert set(frame["item"]) == set(load_instrument("wvs7").item_ids)
    assert frame.groupby("persona")["model"].nunique().to_dict() == {"none": 14, "CHN": 17, "USA": 17}
    mfq = load_llm_responses(PAPER / "llm_mfq_responses.csv")
    assert set(mfq["item"]) == set(load_instrument("mfq2").item_ids) and len(mfq) == 20 * 2 * 3 * 36


def test_wrong_columns_give_a_one_line_error(tmp_path):
    path = tmp_path / "bad.csv"
    pd.DataFrame({"LLM": ["x"], "language": ["English"], "item": [1]}).to_csv(path, index=False)
    with pytest.raises(LLMResponsesError) as error:
        load_llm_responses(path)
    message = str(error.value)
    assert "\n" not in message and "persona" in message and "llm_response" in message
    own = tmp_path / "own.csv"
    pd.DataFrame({"model": ["m"], "survey": ["mfq2"]}).to_csv(own, index=False)
    with pytest.raises(LLMResponsesError, match="missing column"):
        load_llm_responses(own)
    with pytest.raises(LLMResponsesError, match="no such file"):
        load_llm_responses(tmp_path / "absent.csv")


def test_paper_label_regrouping_applies_only_to_the_bundled_file(tmp_path):
    from whosevalues.analysis import paper_compat

    bundled = mfq2_populations()[0]
    assert paper_compat.needs_label_grouping(bundled)
    regrouped = paper_compat.paper_population(bundled)
    assert regrouped.responses.shape == bundled.responses.shape
    assert not np.allclose(regrouped.responses.to_numpy(), bundled.responses.to_numpy())
    # a user's own MFQ-2 sample, even from a file named after the study, is never regrouped
    table = tmp_path / "atari_made_in_china_replication.csv"
    frame = bundled.responses.reset_index(drop=True).assign(respondent=lambda f: [f"r{i}" for i in f.index],
                                                            country="CHN")
    frame.to_csv(table, index=False)
    own = load_populations("mfq2", str(table), countries=("CHN",))[0]
    assert not paper_compat.needs_label_grouping(own)
    assert paper_compat.paper_population(own) is own
