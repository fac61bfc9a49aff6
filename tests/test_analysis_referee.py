"""Issue 18 item 6, conclusions a referee would sign: verdicts after Holm within each family, a "mixed" label,
a claimed null "not shown" with its CI; RQ2 as the full factorial with its congruence contrasts and the three
model-level methods agreeing on the paper's data; the paper-compatible note beside the model-level columns;
error bars over models for Figures 1, 3B and 4 (model_means_<survey>.csv).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from shared_paths import PAPER
from whosevalues.analysis import conclusions as c
from whosevalues.analysis import families
from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.humans import load_populations
from whosevalues.humans.population import Population

needs_shared = pytest.mark.needs_shared  # skipped without ../shared (conftest.py)
METHODS = list(c.METHODS)
MODEL_LEVEL_P = ["p_wild_model", "p_perm_model", "p_cr2_model"]


# -- verdicts ---------------------------------------------------------------------------------------

def every(p: float, **others: float) -> dict[str, float]:
    values = {name: p for name in METHODS}
    values.update({name: others[key] for key, name in zip(("classical", "twoway", "wild", "perm", "cr2"), METHODS)
                   if key in others})
    return values


def test_mixed_results_get_their_own_label_naming_the_methods():
    verdict = c.verdict(1, .1, every(.01, perm=.2, cr2=.07))
    assert verdict.startswith("mixed: ")
    assert "significant with classical, two-way clustered, wild bootstrap (models)" in verdict
    assert "not with CR2 (Satterthwaite), permutation (origin labels)" in verdict
    assert c.verdict(1, .1, every(.2, classical=.001)).startswith("classical only")
    assert c.verdict(1, .1, every(.2)) == "does not hold: not significant with any method"
    assert c.verdict(1, .1, every(.01)) == "holds under every method"


def test_a_claimed_null_is_not_shown_with_its_ci_never_holds():
    verdict = c.verdict(0, .01, every(.5), ci=(-.02, .04))
    assert verdict.startswith("not shown") and "holds" not in verdict
    assert "model-level 95% CI -0.020 to 0.040" in verdict
    assert c.verdict(0, .01, every(.001)) == "does not hold: an effect under every method"
    assert c.verdict(0, .01, every(.5, classical=.001)).startswith("mixed: significant with classical;")


def test_model_level_ci_is_cr2_with_satterthwaite_df():
    row = pd.Series({"estimate": .05, "se_cr2_model": .01, "df_satterthwaite": 8.0})
    low, high = c.model_level_ci(row)
    half = stats.t.ppf(.975, 8) * .01  # t(.975, 8) = 2.306: half-width .02306
    assert (low, high) == pytest.approx((.05 - half, .05 + half))
    assert half == pytest.approx(.02306, abs=1e-5)


def rq3_table(p_of_removed: list[float]) -> pd.DataFrame:
    """A small RQ3 table: six removed[*] main effects with the given p under every method, one RQ1 term."""
    terms = ["Intercept", "nationality"] + [f"removed[D{k}]" for k in range(len(p_of_removed))]
    p = [.5, .001] + list(p_of_removed)
    table = pd.DataFrame({"term": terms, "estimate": .1})
    for column in c.METHODS.values():
        table[column] = p
    return table


@pytest.mark.needs("statsmodels")
def test_holm_within_the_family_of_removed_main_effects_decides_the_verdict():
    # six removed[*] p values; Holm: sorted .004 .01 .02 .03 .04 .3 times 6 5 4 3 2 1, running maximum
    table = rq3_table([.02, .004, .3, .01, .04, .03])
    adjusted, family, size = families.holm_in_family(table, "removed[D0]", "p_value")
    assert (family, size) == ("removed main effects", 6)
    assert adjusted == pytest.approx(.08)  # 4 x .02 (after .024 and .05)
    assert families.holm_in_family(table, "removed[D1]", "p_value")[0] == pytest.approx(.024)
    # an RQ1 term is a family of its own: its p is unchanged
    assert families.holm_in_family(table, "nationality", "p_value") == (pytest.approx(.001), "", 1)
    from statsmodels.stats.multitest import multipletests

    rows = table["term"].str.startswith("removed[")
    expected = multipletests(table.loc[rows, "p_value"], method="holm")[1]
    got = [families.holm_in_family(table, t, "p_value")[0] for t in table.loc[rows, "term"]]
    np.testing.assert_allclose(got, expected)


def test_conclusions_judge_the_adjusted_p_and_keep_the_raw_one(monkeypatch):
    # removed[D0] has p = .02 under every method: significant alone, .08 after Holm in its family of six
    monkeypatch.setattr(c, "PAPER_CLAIMS", [("mfq2", "rq3", "removed[D0]", 1, "test claim")])
    frame = c.conclusions({("mfq2", "rq3"): rq3_table([.02, .004, .3, .01, .04, .03])})
    row = frame.iloc[0]
    assert row["p_wild_model"] == pytest.approx(.02) and row["p_wild_model_holm"] == pytest.approx(.08)
    assert row["family"] == "removed main effects" and row["family_size"] == 6
    assert row["verdict"] == "does not hold: not significant with any method"
    assert list(frame.columns) == c.CONCLUSION_COLUMNS + c.JUDGEMENT_COLUMNS


# -- on the paper's data ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def mfq2_runs(published_mfq2_runs):
    """The paper's MFQ-2 answers analysed in both modes (shared by the modules that read them: conftest.py)."""
    return published_mfq2_runs


@pytest.fixture(scope="module")
def wvs7_run(tmp_path_factory):
    """WVS-7: the paper's LLM answers against the official respondents when WHOSEVALUES_WVS7_FILE names the
    WVS-7 file (microdata is never shipped), otherwise against respondents drawn item by item from the
    bundled CHN/USA answer distributions at the paper's sizes (2,808 and 2,357): the model-level methods
    resample models, whose answers are the paper's either way."""
    means = load_llm_responses([PAPER / "llm_wvs_responses.csv", PAPER / "llm_wvs_persona_responses.csv"])
    official = os.environ.get("WHOSEVALUES_WVS7_FILE")
    populations = (load_populations("wvs7", official, countries=("CHN", "USA")) if official
                   else wvs7_from_distributions({"CHN": 2808, "USA": 2357}))
    directory = tmp_path_factory.mktemp("referee_wvs7")
    summary = analyze(means, {"wvs7": populations}, out_dir=directory, bootstrap=0)
    return directory, summary


def wvs7_from_distributions(sizes: dict[str, int], seed: int = 0) -> list[Population]:
    from whosevalues.humans.bundled import WVS7_DISTRIBUTIONS_FILE

    table = pd.read_csv(WVS7_DISTRIBUTIONS_FILE)
    rng = np.random.default_rng(seed)
    populations = []
    for country, n in sizes.items():
        rows = table[table["B_COUNTRY_ALPHA"] == country].set_index("qid")
        counts = rows[[f"count_{v}" for v in range(1, 11)]].to_numpy(dtype=float)
        answers = {qid: rng.choice(np.arange(1, 11), size=n, p=c / c.sum()).astype(float)
                   for qid, c in zip(rows.index, counts)}
        populations.append(Population("wvs7", country, "drawn from the bundled distributions",
                                      responses=pd.DataFrame(answers)))
    return populations


def read(directory: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(directory / "tables" / name)


@pytest.mark.needs("statsmodels")
@needs_shared
def test_rq2_default_is_the_full_factorial_fitted_as_statsmodels_does(mfq2_runs):
    import statsmodels.formula.api as smf

    directory, summary = mfq2_runs[False]
    assert summary["surveys"]["mfq2"]["analyses"]["rq2"]["formula"] == \
        "cosine ~ language * persona * origin * nationality"
    table = read(directory, "rq2_mfq2.csv").set_index("term")
    assert len(table) == 16
    rows = pd.read_parquet(directory / "similarity_mfq2_rq2.parquet")
    language_of = {"CHN": "zh", "USA": "en"}
    nationality = rows["nationality"].astype(str)
    frame = pd.DataFrame({
        "cosine": rows["cosine"],
        "lang": (rows["language"].astype(str) == nationality.map(language_of)).astype(float),
        "pers": (rows["persona"].astype(str) == nationality).astype(float),
        "orig": (rows["origin"].astype(str) == nationality).astype(float),
        "nat": (nationality == "CHN").astype(float)})
    for column in ("lang", "pers", "orig", "nat"):
        frame[column] = frame[column] - 0.5 - (frame[column] - 0.5).mean()
    fit = smf.ols("cosine ~ lang * pers * orig * nat", data=frame).fit()
    names = {"lang": "language", "pers": "persona", "orig": "origin", "nat": "nationality"}
    for term, estimate in fit.params.items():
        ours = ":".join(names[p] for p in term.split(":")) if term != "Intercept" else term
        assert table.loc[ours, "estimate"] == pytest.approx(estimate, rel=1e-8, abs=1e-12), term
        assert table.loc[ours, "std_error"] == pytest.approx(fit.bse[term], rel=1e-6), term


def assert_model_level_methods_agree(contrasts: pd.DataFrame, survey: str) -> None:
    """The three model-level p values of each congruence contrast fall on the same side of .05, and none
    is more than .2 from the others (the review found .41 against .62 with nationality as a covariate)."""
    for row in contrasts.itertuples():
        p = [getattr(row, column) for column in MODEL_LEVEL_P]
        finite = [v for v in p if np.isfinite(v)]
        assert len(finite) >= 2, (survey, row.contrast)
        assert row.model_methods_agree == "yes", (survey, row.contrast, p)
        assert max(finite) - min(finite) < 0.2, (survey, row.contrast, p)


@needs_shared
def test_three_model_level_methods_agree_on_the_congruence_contrasts_mfq2(mfq2_runs):
    directory, summary = mfq2_runs[False]
    contrasts = read(directory, "rq2_contrasts_mfq2.csv")
    congruence = contrasts[contrasts["scale"] == 1.0]
    assert list(congruence["term"]) == ["language", "persona", "origin", "language:persona", "language:origin",
                                        "persona:origin", "language:persona:origin"]
    assert_model_level_methods_agree(congruence, "mfq2")
    assert summary["surveys"]["mfq2"]["analyses"]["rq2"]["contrasts"][0]["contrast"] == "language congruence"


@needs_shared
def test_three_model_level_methods_agree_on_the_congruence_contrasts_wvs7(wvs7_run):
    directory, _ = wvs7_run
    contrasts = read(directory, "rq2_contrasts_wvs7.csv")
    assert_model_level_methods_agree(contrasts[contrasts["scale"] == 1.0], "wvs7")


@needs_shared
def test_raw_main_effects_are_half_the_interaction_with_nationality(mfq2_runs):
    directory, _ = mfq2_runs[False]
    table = read(directory, "rq2_mfq2.csv").set_index("term")
    contrasts = read(directory, "rq2_contrasts_mfq2.csv").set_index("contrast")
    persona = contrasts.loc["persona CHN vs USA"]
    assert persona["term"] == "persona:nationality"
    assert persona["estimate"] == pytest.approx(table.loc["persona:nationality", "estimate"] / 2)
    assert persona["p_wild_model"] == pytest.approx(table.loc["persona:nationality", "p_wild_model"])
    # independent reading: on a balanced slice of cell means, the equal-weight average over the two
    # nationalities of (CHN persona - USA persona) equals half the difference in the persona congruence effect
    rows = pd.read_parquet(directory / "similarity_mfq2_rq2.parquet")
    by = rows.groupby(["nationality", "persona"], observed=True)["cosine"].mean()
    raw = ((by["CHN", "CHN"] - by["CHN", "USA"]) + (by["USA", "CHN"] - by["USA", "USA"])) / 2
    assert np.sign(raw) == np.sign(persona["estimate"])


@needs_shared
def test_paper_compatible_rq2_says_its_model_level_ses_are_inflated(mfq2_runs):
    directory, summary = mfq2_runs[True]
    table = read(directory, "rq2_mfq2.csv")
    assert list(table.columns)[-1] == "note" and table["note"].str.contains("inflated").all()
    assert "omits nationality" in summary["surveys"]["mfq2"]["analyses"]["rq2"]["model_level_note"]
    assert "note" not in read(directory, "rq1_mfq2.csv") and "note" not in read(mfq2_runs[False][0], "rq2_mfq2.csv")
    saved = json.loads((directory / "summary.json").read_text())
    assert saved["surveys"]["mfq2"]["analyses"]["rq2"]["model_level_note"].startswith("paper-compatible RQ2")


@needs_shared
def test_rq3_has_28_terms_and_four_families_on_mfq2(mfq2_runs):
    directory, summary = mfq2_runs[False]
    rq3 = read(directory, "rq3_mfq2.csv")
    assert len(rq3) == 28
    assert rq3.loc[rq3["term"].str.startswith("removed["), "p_holm"].notna().sum() == 6
    joint_tests = summary["surveys"]["mfq2"]["analyses"]["rq3"]["joint_tests"]
    assert [j["family"] for j in joint_tests] == list(families.FAMILIES)


@needs_shared
def test_no_wild_bootstrap_p_is_zero_on_the_paper_data(mfq2_runs):
    for directory, _ in mfq2_runs.values():
        for rq in ("rq1", "rq2", "rq3"):
            p = read(directory, f"{rq}_mfq2.csv")["p_wild_model"].dropna()
            assert (p >= 1 / 10000).all() and len(p)


@needs_shared
def test_model_means_are_means_over_models_with_t_intervals(mfq2_runs):
    directory, _ = mfq2_runs[False]
    table = pd.read_csv(directory / "model_means_mfq2.csv")
    assert set(table["figure"].astype(str)) == {"1", "3B", "4"}
    rows = pd.read_parquet(directory / "similarity_mfq2_rq1.parquet")
    per_model = rows.groupby(["nationality", "origin", "model"], observed=True)["cosine"].mean()
    chn = per_model.loc["CHN", "CHN"].to_numpy()  # Chinese respondents, Chinese models
    row = table[(table["figure"].astype(str) == "1") & (table["population"] == "CHN")
                & (table["origin"] == "CHN")].iloc[0]
    low, high = stats.t.interval(.95, len(chn) - 1, loc=chn.mean(), scale=stats.sem(chn))
    assert (row["n_models"], row["mean"], row["ci_low"], row["ci_high"]) == \
        (len(chn), pytest.approx(chn.mean()), pytest.approx(low), pytest.approx(high))
    # the interval over models is wider than one over respondent x model pairs
    pairs = rows[(rows["nationality"] == "CHN") & (rows["origin"] == "CHN")]["cosine"]
    assert high - low > 3 * 2 * 1.96 * pairs.std() / np.sqrt(len(pairs))
    # Figure 3B's LLM references: the observed mean equals reference_similarity's; the jackknife over models
    reference = pd.read_csv(directory / "reference_similarity_mfq2.csv")
    observed = reference[(reference["nationality"] == "USA") & (reference["reference"] == "LLM USA")]["cosine"].mean()
    figure_3b = (table["figure"].astype(str) == "3B") & (table["population"] == "USA") & (table["origin"] == "USA")
    b = table[figure_3b].iloc[0]
    assert b["mean"] == pytest.approx(observed, rel=1e-9)
    se = jackknife_se_of_llm_reference("USA", "USA", "en")
    assert b["se_models"] == pytest.approx(se, rel=1e-9)
    half = stats.t.ppf(.975, b["n_models"] - 1) * se
    assert (b["ci_low"], b["ci_high"]) == (pytest.approx(observed - half), pytest.approx(observed + half))
    four = table[table["figure"].astype(str) == "4"]
    assert len(four) == 2 * 2 * 2 * 2 and (four["ci_low"] < four["mean"]).all()


def jackknife_se_of_llm_reference(population: str, origin: str, language: str) -> float:
    """Leave each model of ``origin`` out, average the others' item means (persona none), z-score, take every
    respondent's cosine with it, average: the jackknife SE of that mean over the left-out models."""
    from whosevalues.analysis.vectors import human_vectors
    from whosevalues.instruments import load_instrument

    items = load_instrument("mfq2").item_ids
    human = next(human_vectors(p, items) for p in load_populations("mfq2") if p.country == population)
    means = load_llm_responses(PAPER / "llm_mfq_responses.csv")
    means = means[(means["persona"] == "none") & (means["language"] == language) & (means["origin"] == origin)]
    wide = means.pivot_table(index="model", columns="item", values="mean").reindex(columns=items)
    values = []
    for model in wide.index:
        vector = wide.drop(index=model).mean(axis=0).to_numpy()
        z = (vector - vector.mean()) / vector.std(ddof=1)
        cosines = human.z @ z / (np.linalg.norm(human.z, axis=1) * np.linalg.norm(z))
        values.append(cosines.mean())
    values = np.array(values)
    return float(np.sqrt((len(values) - 1) / len(values) * np.sum((values - values.mean()) ** 2)))


def test_rq2_with_three_countries_crosses_each_nationality_column_but_never_two():
    from whosevalues.analysis.design import _rq2_with_nationality

    bits = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=float) - 0.5
    design = _rq2_with_nationality(bits, ["CHN", "DEU", "USA"])
    names = design.term_names()
    assert len(names) == 8 * 3  # saturated: 8 congruence cells per country
    assert "language:persona:origin:nationality[DEU]" in names
    assert not [n for n in names if "nationality[CHN]" in n and "nationality[DEU]" in n]
    assert design.formula() == "cosine ~ language * persona * origin * nationality"
