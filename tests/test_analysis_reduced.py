"""Designs the data support only in part (one origin, one language, no national persona, one population):
similarity files are still written, the regression drops only what it cannot estimate and says why, and the
fast OLS equals statsmodels on the reduced design. Also populations.json."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from replicates import FEW_REPLICATES
from shared_paths import PAPER
from whosevalues.analysis import design, ols, vectors
from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.humans import load_populations
from whosevalues.humans.population import PopulationWarning
from whosevalues.instruments import load_instrument

needs_shared = pytest.mark.needs_shared  # skipped without ../shared (conftest.py)
FOUNDATIONS = ["Care", "Equality", "Proportionality", "Loyalty", "Authority", "Purity"]


@pytest.fixture(scope="module")
def means() -> pd.DataFrame:
    return load_llm_responses(PAPER / "llm_mfq_responses.csv")


@pytest.fixture(scope="module")
def populations():
    return {"mfq2": load_populations("mfq2", "bundled", countries=["CHN", "USA"])}


@pytest.fixture(scope="module")
def usa_none_en(means, populations, tmp_path_factory):
    """The paper's MFQ-2 answers of USA-made models, persona none, English only (like one local model)."""
    subset = means[(means["origin"] == "USA") & (means["persona"] == "none") & (means["language"] == "en")]
    out = tmp_path_factory.mktemp("usa_none_en")
    summary = analyze(subset, populations, out_dir=out, bootstrap=20)
    return out, summary, subset


@needs_shared
def test_one_origin_one_language_no_persona_still_gives_similarity_and_nationality(usa_none_en):
    out, summary, subset = usa_none_en
    analyses = summary["surveys"]["mfq2"]["analyses"]
    assert (out / "similarity_mfq2_rq1.parquet").exists() and (out / "similarity_mfq2_rq3.parquet").exists()
    # RQ2 compares national personas: with none asked there is nothing to compare, and no file
    assert "national persona" in analyses["rq2"]["skipped"] and not (out / "similarity_mfq2_rq2.parquet").exists()

    rq1 = pd.read_csv(out / "tables" / "rq1_mfq2.csv")
    assert list(rq1["term"]) == ["Intercept", "nationality"] == analyses["rq1"]["terms"]
    assert analyses["rq1"]["formula"] == "cosine ~ nationality"
    assert set(analyses["rq1"]["dropped_terms"]) == {"origin", "nationality:origin"}
    assert all("made in USA" in reason for reason in analyses["rq1"]["dropped_terms"].values())
    rule = analyses["rq1"]["language_rule"]
    assert "could not be applied" in rule and "CHN respondents (zh)" in rule and "in en" in rule
    assert analyses["rq1"]["respondent_languages"] == {"CHN": "en", "USA": "en"}

    similarity = pd.read_parquet(out / "similarity_mfq2_rq1.parquet")
    n_models = subset["model"].nunique()
    n_respondents = sum(p["n_respondents"] for p in summary["surveys"]["mfq2"]["populations"].values())
    assert len(similarity) == n_models * n_respondents == analyses["rq1"]["rows"]
    assert set(similarity["language"]) == {"en"} and set(similarity["persona"]) == {"none"}
    assert set(similarity["nationality"]) == {"CHN", "USA"} and set(similarity["origin"]) == {"USA"}
    # one centred +-0.5 regressor: slope = CHN mean - USA mean, intercept = the mean of all rows
    by_nationality = similarity.groupby("nationality", observed=True)["cosine"].mean()
    estimate = rq1.set_index("term")["estimate"]
    assert estimate["nationality"] == pytest.approx(by_nationality["CHN"] - by_nationality["USA"], abs=1e-12)
    assert estimate["Intercept"] == pytest.approx(similarity["cosine"].mean(), abs=1e-12)

    rq3 = pd.read_csv(out / "tables" / "rq3_mfq2.csv")
    removed = [f"removed[{f}]" for f in FOUNDATIONS]
    assert list(rq3["term"]) == ["Intercept", "nationality"] + removed + [f"nationality:{r}" for r in removed]
    assert analyses["rq3"]["formula"] == "cosine ~ nationality * removed"
    assert not [t for t in rq3["term"] if "origin" in t]
    assert len(analyses["rq3"]["dropped_terms"]) == 2 + 2 * len(FOUNDATIONS)
    assert (out / "reference_similarity_mfq2.csv").exists() and (out / "tables" / "welch_mfq2.csv").exists()


@needs_shared
def test_one_prompt_language_drops_rq2_language_terms(means, populations, tmp_path):
    english = means[means["language"] == "en"]
    analyses = analyze(english, populations, out_dir=tmp_path, **FEW_REPLICATES)["surveys"]["mfq2"]["analyses"]
    rq2 = pd.read_csv(tmp_path / "tables" / "rq2_mfq2.csv")
    assert list(rq2["term"]) == ["Intercept", "persona", "origin", "nationality", "persona:origin",
                                 "persona:nationality", "origin:nationality", "persona:origin:nationality"]
    assert analyses["rq2"]["formula"] == "cosine ~ persona * origin * nationality"  # the full factorial
    language_terms = ["language", "language:persona", "language:origin", "language:persona:origin"]
    assert set(analyses["rq2"]["dropped_terms"]) == {*language_terms, *(t + ":nationality" for t in language_terms)}
    assert "one prompt language (en)" in analyses["rq2"]["dropped_terms"]["language"]
    assert analyses["rq1"]["formula"] == "cosine ~ nationality * origin"  # two origins: origin is fitted
    assert (tmp_path / "similarity_mfq2_rq2.parquet").exists()


def _reduced_rows(means, analysis):
    items = load_instrument("mfq2").item_ids
    humans = [vectors.human_vectors(p, items) for p in load_populations("mfq2", "bundled", countries=["CHN", "USA"])]
    usa = means[means["origin"] == "USA"]
    if analysis == "rq1":
        return design.rq1("mfq2", humans, vectors.llm_vectors(usa, "mfq2", items))
    if analysis == "rq2":  # one origin and one language: cosine ~ persona
        return design.rq2("mfq2", humans, vectors.llm_vectors(usa[usa["language"] == "zh"], "mfq2", items))
    groups = {}
    for index, dimension in enumerate(load_instrument("mfq2").dimension_of().values()):
        groups.setdefault(dimension, []).append(index)
    return design.rq3("mfq2", humans, vectors.llm_vectors(usa, "mfq2", items), groups)


@pytest.mark.needs("statsmodels")
@needs_shared
@pytest.mark.parametrize("analysis", ["rq1", "rq2", "rq3"])
def test_fast_ols_equals_statsmodels_on_reduced_designs(means, analysis):
    rows = _reduced_rows(means, analysis)
    assert rows.dropped_terms and not any("origin" in t for t in rows.design.term_names())
    table = rows.table(bootstrap=0)
    classical = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell)
    assert list(classical.params.index) == list(table["term"])
    np.testing.assert_allclose(table["estimate"], classical.params.to_numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(table["std_error"], classical.bse.to_numpy(), rtol=1e-7)
    by_model = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell, groups=rows.model)
    np.testing.assert_allclose(table["se_cluster_model"], by_model.bse.to_numpy(), rtol=1e-7)
    if analysis != "rq3":
        twoway = ols.fit_statsmodels(rows.design, rows.cosine, rows.cell,
                                     groups=np.column_stack([rows.respondent, rows.model]))
        np.testing.assert_allclose(table["se_twoway"], twoway.bse.to_numpy(), rtol=1e-6)
    # the dropped terms really are not estimable: the full design's matrix is rank deficient on these rows
    full = ols.CellDesign(rows.design.codes, rows.design.factors, rows.design.indicator, rows.design.level,
                          rows.design.levels)
    matrix = ols.design_frame(full, rows.cell).to_numpy()
    assert np.linalg.matrix_rank(matrix) < matrix.shape[1]


@pytest.mark.needs("statsmodels")
@needs_shared
def test_reduced_rq1_equals_an_independent_statsmodels_formula(means):
    import statsmodels.formula.api as smf

    rows = _reduced_rows(means, "rq1")
    frame = rows.frame()
    chn = (frame["nationality"] == "CHN").astype(float) - 0.5
    frame["nat"] = chn - chn.mean()  # the paper's sum code, mean-centred
    fit = smf.ols("cosine ~ nat", data=frame).fit()
    table = rows.table(bootstrap=0).set_index("term")
    assert table.loc["nationality", "estimate"] == pytest.approx(fit.params["nat"], rel=1e-10)
    assert table.loc["nationality", "std_error"] == pytest.approx(fit.bse["nat"], rel=1e-8)
    assert table.loc["Intercept", "estimate"] == pytest.approx(fit.params["Intercept"], rel=1e-10)


@pytest.mark.needs("statsmodels")
def test_identifiable_drops_collinear_terms_and_fits_the_rest():
    # language congruence == persona congruence in every row: persona cannot be separated from language
    bits = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=float) - 0.5
    full = ols.CellDesign(codes=bits, factors=["language", "persona", "origin"])
    rng = np.random.default_rng(1)
    cell = rng.choice([0, 1, 6, 7], size=4000)  # cells whose language and persona bits agree
    y = 0.2 + 0.05 * (bits[cell, 0]) + 0.02 * bits[cell, 2] + rng.normal(0, 0.1, size=len(cell))
    reduced = ols.identifiable(full, np.bincount(cell, minlength=8).astype(float))
    assert reduced.term_names() == ["Intercept", "language", "origin", "language:origin"]
    assert "collinear" in reduced.dropped["persona"]
    assert reduced.formula() == "cosine ~ language * origin"
    table = ols.regression_table(reduced, y, cell, np.arange(len(cell)), rng.integers(0, 10, len(cell)),
                                 np.zeros(10), bootstrap=0)
    fit = ols.fit_statsmodels(reduced, y, cell)
    np.testing.assert_allclose(table["estimate"], fit.params.to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(table["std_error"], fit.bse.to_numpy(), rtol=1e-7)
    # a factor named as uncontrastable goes with all its interactions, with the caller's reason
    named = ols.identifiable(full, np.ones(8), {"origin": "one origin"})
    assert named.term_names() == ["Intercept", "language", "persona", "language:persona"]
    assert set(named.dropped.values()) == {"one origin"}


# -- populations.json ---------------------------------------------------------------------------------

@needs_shared
def test_populations_json_describes_every_population(usa_none_en, populations):
    out, summary, _ = usa_none_en
    records = json.loads((out / "populations.json").read_text(encoding="utf-8"))
    assert isinstance(records, list)
    assert {(r["survey"], r["country"]) for r in records} == {("mfq2", "CHN"), ("mfq2", "USA")}
    for record in records:
        population = next(p for p in populations["mfq2"] if p.country == record["country"])
        responses = population.responses
        assert record["n"] == len(responses) and record["source"] == population.source
        assert [(s["step"], s["count"]) for s in record["steps"]] == [(s, int(c)) for s, c in population.steps]
        audit = record["audit"]
        assert set(audit["alpha"]) == set(FOUNDATIONS) and all(a > 0.5 for a in audit["alpha"].values())
        values = responses.to_numpy(dtype=float)
        assert audit["straight_liners"] == int((values.max(axis=1) == values.min(axis=1)).sum())
        item_means = pd.Series(audit["item_means"])
        np.testing.assert_allclose(item_means[responses.columns].to_numpy(), responses.mean().to_numpy(),
                                   atol=1e-6)
        assert record["warnings"] == audit["warnings"] == []
        used = summary["surveys"]["mfq2"]["populations"][record["country"]]
        assert record["analysis"]["n_respondents"] == used["n_respondents"] == \
            len(responses) - used["dropped_straightliners"] - used["dropped_incomplete"]


@needs_shared
def test_populations_json_carries_audit_warnings_and_aggregates(means, tmp_path):
    wvs_means = load_llm_responses(PAPER / "llm_wvs_responses.csv")
    with pytest.warns(PopulationWarning, match="scrambled"):
        label_grouped = load_populations("mfq2", "bundled", countries=["CHN", "USA"], paper_labels=True)
    populations = {"mfq2": label_grouped, "wvs7": load_populations("wvs7", "bundled", countries=["CHN", "USA"])}
    analyze(pd.concat([means, wvs_means]), populations, out_dir=tmp_path, paper_compatible=True, **FEW_REPLICATES)
    records = {(r["survey"], r["country"]): r
               for r in json.loads((tmp_path / "populations.json").read_text(encoding="utf-8"))}
    assert set(records) == {(s, c) for s in ("mfq2", "wvs7") for c in ("CHN", "USA")}
    for country in ("CHN", "USA"):
        label_grouped = records[("mfq2", country)]
        assert max(label_grouped["audit"]["alpha"].values()) < 0.3  # the Participant label is not a person
        assert any("scrambled" in w for w in label_grouped["warnings"])
        aggregate = records[("wvs7", country)]
        assert aggregate["respondent_level"] is False and aggregate["n"] > 1000
        assert set(aggregate["audit"]["item_means"]) == set(load_instrument("wvs7").item_ids)
