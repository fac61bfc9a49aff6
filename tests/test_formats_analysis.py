"""Question formats in the analysis (issue 18 items 2-5): robustness_<survey>.csv, the null respondents in
baselines_<survey>.csv, distributional alignment in countries_<survey>.csv, holds_across_formats and the
headline's caveats.

The LLM answers are synthetic item means with a ``variant`` column, built here from the bundled MFQ-2
respondents (CHN, USA) so that every expected property follows from how they were built: a model that answers
the same in every format, and one whose answers drift toward the option each format lists last. Numbers the
tests compare with are computed here by other code (scipy, explicit loops) or by hand.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import jensenshannon
from scipy.stats import entropy, kendalltau, wasserstein_distance

from whosevalues.analysis import distributional, null_respondents, robustness
from whosevalues.analysis.formats import answer_format, variants_of, with_variant
from whosevalues.analysis.vectors import human_vectors
from whosevalues.humans import load_populations
from whosevalues.humans.population import Population
from whosevalues.instruments import load_instrument

ROBUSTNESS_COLUMNS = ["model", "variant", "language", "persona", "n_items", "mean_abs_shift",
                      "shift_in_country_sd", "item_correlation", "country_rank_tau", "format_sensitive"]


@lru_cache(maxsize=1)
def mfq2_populations() -> tuple[Population, ...]:
    return tuple(load_populations("mfq2", "bundled", countries=["CHN", "USA"]))


def human_means(country: str) -> pd.Series:
    population = next(p for p in mfq2_populations() if p.country == country)
    return population.responses.mean()


def synthetic_means(models: dict[str, str], variants=("original", "recoded"), biased=(), hashed=()) -> pd.DataFrame:
    """Item means per model (origin as given) x language x variant. A steady model answers each format the
    same (USA respondents' means, shifted per model); a biased one drifts, in every variant but original,
    halfway toward the canonical value of the option that variant lists last; a hashed one answers a
    hash of the item id whatever the format."""
    instrument = load_instrument("mfq2")
    usa, chn = human_means("USA"), human_means("CHN")
    rows = []
    for index, (model, origin) in enumerate(models.items()):
        base = (usa if origin == "USA" else 0.6 * usa + 0.4 * chn) + 0.05 * index
        for language in ("en", "zh"):
            for variant in variants:
                last = answer_format(instrument, variant).last_listed_canonical()
                for item in instrument.item_ids:
                    if model in hashed:
                        value = 1 + int(hashlib.sha256(item.encode()).hexdigest(), 16) % 5
                    elif model in biased and variant != "original":
                        value = 0.5 * base[item] + 0.5 * last
                    else:
                        value = base[item]
                    rows.append({"model": model, "origin": origin, "survey": "mfq2", "language": language,
                                 "persona": "none", "item": item, "mean": float(value), "n_valid": 20,
                                 "n_total": 20, "refusal_rate": 0.0, "variant": variant})
    return pd.DataFrame(rows)


# -- distributional measures against scipy and by hand --------------------------------------------------

def test_js_similarity_and_representativeness_by_hand_and_against_scipy():
    values = np.array([1.0, 2.0, 3.0])
    p, q = np.array([0.5, 0.5, 0.0]), np.array([0.0, 0.5, 0.5])
    # by hand: M = (.25, .5, .25); KL(p||M) = .5 log2(2) = .5 = KL(q||M); JS divergence .5, distance sqrt(.5)
    assert distributional.js_similarity(p, q) == pytest.approx(1 - np.sqrt(0.5))
    assert distributional.js_similarity(p, q) == pytest.approx(1 - jensenshannon(p, q, base=2))
    # by hand: moving half the mass 1 -> 3... each half moves one step: W1 = 1, span 2
    assert distributional.representativeness(values, p, q) == pytest.approx(0.5)
    assert distributional.representativeness(values, p, q) == pytest.approx(
        1 - wasserstein_distance(values, values, p, q) / 2)
    ends = (np.array([1.0, 0, 0]), np.array([0, 0, 1.0]))
    assert distributional.js_similarity(*ends) == pytest.approx(0.0)
    assert distributional.representativeness(values, *ends) == pytest.approx(0.0)
    assert distributional.js_similarity(p, p) == pytest.approx(1.0)


def test_entropy_and_variance_ratio():
    uniform = np.full(4, 0.25)
    assert distributional.entropy_bits(uniform) == pytest.approx(2.0)
    assert distributional.entropy_bits(uniform) == pytest.approx(entropy(uniform, base=2))
    assert distributional.entropy_bits(np.array([0, 1.0, 0, 0])) == 0.0
    # a model on {2, 3} half and half (variance .25) against a uniform country (variance 1.25)
    model = pd.DataFrame([[0, 0.5, 0.5, 0]], index=["q"], columns=[1, 2, 3, 4])
    country = pd.DataFrame([uniform], index=["q"], columns=[1, 2, 3, 4])
    found = distributional.alignment(model, country)
    assert found["variance_ratio"] == pytest.approx(0.25 / 1.25)
    assert found["entropy_model"] == pytest.approx(1.0) and found["entropy_country"] == pytest.approx(2.0)


def test_country_distributions_from_respondents_match_explicit_counts():
    instrument = load_instrument("mfq2")
    population = mfq2_populations()[0]
    shares = distributional.country_distributions(population, instrument)
    item = instrument.item_ids[3]
    answers = population.responses[item].dropna()
    for value in instrument.scale.values:
        assert shares.loc[item, value] == pytest.approx((answers == value).mean())


# -- variants, first and last option -------------------------------------------------------------------

def test_first_and_last_listed_canonical_values_by_hand():
    mfq2, wvs7 = load_instrument("mfq2"), load_instrument("wvs7")
    assert answer_format(mfq2, "original").last_listed_canonical() == 5
    assert answer_format(mfq2, "recoded").last_listed_canonical() == 1  # numbers run the other way
    assert answer_format(mfq2, "recoded").first_listed_canonical() == 5
    assert answer_format(mfq2, "descending").first_listed_canonical() == 5  # listed 5 .. 1
    assert answer_format(wvs7, "recoded").last_listed_canonical() == 1
    assert answer_format(wvs7, "letters").last_listed_canonical() == 10


def test_frames_without_a_variant_column_are_original():
    frame = pd.DataFrame({"model": ["a"], "mean": [1.0]})
    assert variants_of(frame) == ["original"]
    assert list(with_variant(frame.assign(variant=[None]))["variant"]) == ["original"]


# -- robustness ------------------------------------------------------------------------------------------

def test_robustness_flags_the_biased_model_only():
    instrument = load_instrument("mfq2")
    means = synthetic_means({"steady": "USA", "biased": "USA"}, variants=("original", "recoded", "letters"),
                            biased=("biased",))
    table, _ = robustness.robustness_table(means, list(mfq2_populations()), instrument, "mfq2")
    assert list(table.columns) == ROBUSTNESS_COLUMNS
    assert len(table) == 2 * 2 * 2  # model x variant (not original) x language
    steady = table[table["model"] == "steady"]
    assert (steady["mean_abs_shift"] == 0).all() and not steady["format_sensitive"].any()
    assert np.allclose(steady["item_correlation"], 1.0)
    biased = table[table["model"] == "biased"]
    assert biased["format_sensitive"].all()
    # recoded lists 1 last: the biased answer is halfway from the original value to 1
    base = means[(means["model"] == "biased") & (means["variant"] == "original") & (means["language"] == "en")]
    expected_shift = (0.5 * (base["mean"] - 1)).abs().mean()
    row = biased[(biased["variant"] == "recoded") & (biased["language"] == "en")].iloc[0]
    assert row["mean_abs_shift"] == pytest.approx(expected_shift)
    assert row["n_items"] == len(instrument.item_ids)


def test_shift_in_country_sd_by_an_explicit_loop():
    instrument = load_instrument("mfq2")
    means = synthetic_means({"biased": "USA"}, biased=("biased",))
    table, _ = robustness.robustness_table(means, list(mfq2_populations()), instrument, "mfq2")
    chn, usa = human_means("CHN"), human_means("USA")
    wide = means[means["language"] == "en"].pivot_table(index="variant", columns="item", values="mean")
    ratios = []
    for item in instrument.item_ids:
        sd = np.std([chn[item], usa[item]], ddof=1)
        if sd > 0:
            ratios.append(abs(wide.loc["recoded", item] - wide.loc["original", item]) / sd)
    row = table[table["language"] == "en"].iloc[0]
    assert row["shift_in_country_sd"] == pytest.approx(np.mean(ratios))


def test_country_rank_tau_is_kendall_of_the_similarities():
    countries = pd.DataFrame({
        "model": "m", "language": "en", "persona": "none", "level": "item",
        "country": list("ABCD") * 2, "variant": ["original"] * 4 + ["recoded"] * 4,
        "similarity": [0.4, 0.3, 0.2, 0.1, 0.1, 0.3, 0.2, 0.4]})
    found = robustness._rank_tau(countries, {"model": "m", "language": "en", "persona": "none"}, "recoded")
    assert found == pytest.approx(kendalltau([0.1, 0.3, 0.2, 0.4], [0.4, 0.3, 0.2, 0.1]).statistic)


def test_permutation_test_tells_noise_from_a_shift():
    rng = np.random.default_rng(1)
    same = [rng.integers(1, 6, 20).astype(float) for _ in range(10)]
    other = [rng.integers(1, 6, 20).astype(float) for _ in range(10)]
    assert robustness.permutation_p(same, other, permutations=499) > 0.05  # both uniform: noise only
    constant = [np.full(20, 3.0)] * 10
    assert robustness.permutation_p(constant, constant, permutations=99) == 1.0
    shifted = [np.full(20, 4.0)] * 10
    p = robustness.permutation_p(shifted, constant, permutations=999)
    assert p == pytest.approx(1 / 1000)  # no relabelling reaches the observed shift: (1 + 0) / (B + 1)


def test_a_small_shift_beyond_sampling_noise_is_flagged_from_the_samples():
    """Original: every sample 2; recoded: 18 of 20 samples 2 and two 3s on every item (mean shift .1). No
    relabelling of the pooled samples gives every item a shift of .1, so the noise test flags it."""
    instrument = load_instrument("mfq2")
    means = synthetic_means({"m": "USA"})
    means = means.assign(mean=np.where(means["variant"] == "recoded", 2.1, 2.0))
    keys = ["model", "survey", "language", "persona", "item", "variant"]
    twos = means[keys].assign(value=2, probability=np.where(means["variant"] == "recoded", 0.9, 1.0))
    threes = means.loc[means["variant"] == "recoded", keys].assign(value=3, probability=0.1)
    distributions = pd.concat([twos, threes]).assign(mode="sample")
    table, details = robustness.robustness_table(means, list(mfq2_populations()), instrument, "mfq2",
                                                 distributions=distributions, permutations=199)
    assert table["mean_abs_shift"].to_numpy() == pytest.approx([0.1, 0.1])
    assert table["format_sensitive"].all()
    assert all(any("sampling noise" in reason for reason in d["reasons"]) for d in details)
    assert all(d["p_sampling"] == pytest.approx(1 / 200) for d in details)


# -- null respondents -------------------------------------------------------------------------------------

def test_random_respondent_band_against_an_independent_simulation():
    instrument = load_instrument("mfq2")
    usa = next(p for p in mfq2_populations() if p.country == "USA")
    h = human_vectors(usa, instrument.item_ids)
    nulls = null_respondents.null_respondents(instrument, [usa], [h], ["original"])
    mean, low, high = null_respondents.random_band(nulls, "USA")
    # independent: 300 random respondents, each cosine computed respondent by respondent
    rng = np.random.default_rng(7)
    values = []
    for _ in range(300):
        answers = rng.integers(1, 6, len(instrument.item_ids)).astype(float)
        z = (answers - answers.mean()) / answers.std(ddof=1)
        values.append(np.mean([z @ r / (np.linalg.norm(z) * np.linalg.norm(r)) for r in h.z[:200]]))
    assert low < 0 < high  # by symmetry the expected cosine of a random respondent is 0
    assert abs(mean) < (high - low) / 20
    assert np.std(values) == pytest.approx((high - low) / (2 * 1.96), rel=0.25)


def test_first_and_last_option_rows_only_when_variants_were_asked():
    instrument = load_instrument("mfq2")
    populations = list(mfq2_populations())
    only_original = null_respondents.null_respondents(instrument, populations, [], ["original"])
    assert set(only_original["country"]) == {"random"}
    asked = null_respondents.null_respondents(instrument, populations, [], ["original", "recoded"])
    last = asked[(asked["country"] == "last_option") & (asked["variant"] == "recoded")
                 & (asked["metric"] == "representativeness") & (asked["versus"] == "USA")].iloc[0]
    shares = distributional.country_distributions(populations[1], instrument)
    # always canonical 1: W1 to a country's distribution is its mean minus 1, over the span 4
    values = np.arange(1, 6)
    expected = np.mean([1 - (shares.loc[i].to_numpy() @ values - 1) / 4 for i in shares.index])
    assert last["null_mean"] == pytest.approx(expected)
    assert last["null_low"] == last["null_high"] == last["null_mean"]


# -- the whole analysis ---------------------------------------------------------------------------------

FOUR_MODELS = {"c1": "CHN", "c2": "CHN", "u1": "USA", "u2": "USA"}


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    from whosevalues.analysis.pipeline import analyze

    out = tmp_path_factory.mktemp("formats")
    means = synthetic_means(FOUR_MODELS, biased=("c2",))
    means.to_csv(out / "item_means.csv", index=False)
    populations = {"mfq2": list(mfq2_populations())}
    summary = analyze(means, populations, out_dir=out, bootstrap=49, wild_bootstrap=99, permutations=99)
    return out, summary, means


def test_pipeline_writes_robustness_nulls_and_formats_summary(analysed):
    out, summary, _ = analysed
    table = pd.read_csv(out / "robustness_mfq2.csv")
    assert list(table.columns) == ROBUSTNESS_COLUMNS
    assert set(table["variant"]) == {"recoded"}
    assert set(table.loc[table["format_sensitive"], "model"]) == {"c2"}
    formats = summary["surveys"]["mfq2"]["formats"]
    assert formats["variants"] == ["original", "recoded"] and formats["format_sensitive_models"] == ["c2"]
    baselines = pd.read_csv(out / "baselines_mfq2.csv")
    assert {"CHN", "USA", "random", "first_option", "last_option"} <= set(baselines["country"])
    assert {"versus", "variant", "null_mean", "null_low", "null_high"} <= set(baselines.columns)
    assert json.loads((out / "summary.json").read_text())["surveys"]["mfq2"]["formats"]["variants"]
    from whosevalues.analysis.summary_lines import summary_warnings

    assert any("format-sensitive" in line and "c2" in line for line in summary_warnings(summary))


def test_pipeline_rq_analyses_use_original_only(analysed, tmp_path):
    from whosevalues.analysis.pipeline import analyze

    out, _, means = analysed
    alone = means[means["variant"] == "original"].drop(columns="variant")
    analyze(alone, {"mfq2": list(mfq2_populations())}, out_dir=tmp_path, bootstrap=49, wild_bootstrap=99,
            permutations=99)
    for name in ("rq1_mfq2", "rq3_mfq2"):
        pd.testing.assert_frame_equal(pd.read_csv(out / "tables" / f"{name}.csv"),
                                      pd.read_csv(tmp_path / "tables" / f"{name}.csv"))
    assert not (tmp_path / "robustness_mfq2.csv").exists()
    conclusions = pd.read_csv(tmp_path / "tables" / "conclusions.csv")
    assert set(conclusions["holds_across_formats"]) == {"not tested"}


def test_conclusions_carry_holds_across_formats(analysed):
    out, summary, _ = analysed
    conclusions = pd.read_csv(out / "tables" / "conclusions.csv")
    assert "holds_across_formats" in conclusions.columns
    assert set(conclusions["holds_across_formats"]) <= {"yes", "no", "not tested"}
    assert set(conclusions["holds_across_formats"]) & {"yes", "no"}
    detail = summary["surveys"]["mfq2"]["formats"]["conclusions"]
    written = conclusions.set_index(["analysis", "term"])["verdict"]
    for record in detail:  # yes exactly when every variant's verdict holds
        holds = all(str(v).startswith("holds") for v in record["verdicts"].values())
        assert (record["holds_across_formats"] == "yes") == holds
        assert record["verdicts"]["original"] == written[(record["analysis"], record["term"])]
    assert all("holds_across_formats" in record for record in summary["conclusions"])


def test_countries_gain_variant_and_distributional_columns(analysed):
    out, _, _ = analysed
    countries = pd.read_csv(out / "countries_mfq2.csv")
    assert list(countries.columns[:9]) == ["model", "origin", "language", "persona", "country", "level", "n_dims",
                                           "similarity", "rank"]
    assert set(countries["variant"]) == {"original", "recoded"}
    assert set(distributional.DISTRIBUTION_COLUMNS) <= set(countries.columns)
    # ranks are within a variant: each variant has its own rank 1 per model x language x level
    firsts = countries[countries["rank"] == 1].groupby(["model", "language", "level", "variant"]).size()
    assert (firsts == 1).all()


def test_distributional_columns_from_sampled_answers(tmp_path):
    """A model that answers every item with 1 or 5 half the time each: its JS similarity and
    representativeness with each country recomputed item by item with scipy."""
    from whosevalues.analysis.countries import compare_countries

    instrument = load_instrument("mfq2")
    means = synthetic_means({"m": "USA"}, variants=("original",))
    means = means[means["language"] == "en"].assign(mean=3.0)
    rows = [{"model": "m", "survey": "mfq2", "language": "en", "persona": "none", "item": item, "value": value,
             "probability": 0.5, "mode": "sample"} for item in instrument.item_ids for value in (1, 5)]
    table = compare_countries(means, list(mfq2_populations()), "mfq2", pd.DataFrame(rows))
    usa = next(p for p in mfq2_populations() if p.country == "USA")
    shares = distributional.country_distributions(usa, instrument)
    model = np.array([0.5, 0, 0, 0, 0.5])
    values = np.arange(1.0, 6.0)
    js = np.mean([1 - jensenshannon(model, shares.loc[i].to_numpy(), base=2) for i in instrument.item_ids])
    w1 = np.mean([1 - wasserstein_distance(values, values, model, shares.loc[i].to_numpy()) / 4
                  for i in instrument.item_ids])
    row = table[(table["country"] == "USA") & (table["level"] == "item")].iloc[0]
    assert row["js_similarity"] == pytest.approx(js) and row["representativeness"] == pytest.approx(w1)
    assert row["entropy_model"] == pytest.approx(1.0)


# -- headline ----------------------------------------------------------------------------------------------

def test_a_hash_model_is_not_reported_closer_to_a_country_without_the_chance_caveat(tmp_path):
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.report.headline import headline_sentence, headlines, item_contributions
    from whosevalues.report.outdir import OutputDir

    means = synthetic_means({"hash": "USA"}, variants=("original",), hashed=("hash",)).drop(columns="variant")
    means.to_csv(tmp_path / "item_means.csv", index=False)
    analyze(means, {"mfq2": list(mfq2_populations())}, out_dir=tmp_path, bootstrap=0, wild_bootstrap=99,
            permutations=99)
    (found,) = headlines(OutputDir(tmp_path))
    sentence = headline_sentence(found)
    assert found.near_chance == ["hash"]
    assert "no further from chance than a respondent who answers at random" in sentence
    assert "closer to" not in sentence.split("(")[0]
    assert "the model's own uncertainty" in found.ci_over
    # the item bootstrap resamples per-item shares that add up to the headline's difference exactly
    contributions, _ = item_contributions(OutputDir(tmp_path), "mfq2", "hash", *found.populations[:2])
    assert contributions.sum() == pytest.approx(found.difference, abs=1e-9)
    low, high = found.ci
    assert low < 0 < high


def test_headline_says_whether_it_holds_across_formats(analysed):
    from whosevalues.report.headline import headline_sentence, headlines
    from whosevalues.report.outdir import OutputDir

    out, _, _ = analysed
    (found,) = headlines(OutputDir(out))
    assert found.across_formats in ("yes", "no")
    sentence = headline_sentence(found)
    assert "question format" in sentence
    assert not found.near_chance and "chance" not in sentence  # models built from USA answers: far from chance


def test_wvs7_aggregates_distribution_mode_and_every_country(tmp_path):
    """WVS-7 with the bundled aggregates only (CHN and USA distributions, 53 more countries by their means):
    a model in distribution mode answering the same in both formats is not flagged; the noise test is not
    possible there, and summary.json says so; JS similarity with CHN is recomputed with scipy."""
    from whosevalues.analysis.pipeline import analyze

    instrument = load_instrument("wvs7")
    populations = load_populations("wvs7", "bundled", countries=None)
    rng = np.random.default_rng(3)
    shares = {item: rng.dirichlet(np.ones(10)) for item in instrument.item_ids}
    rows, distributions = [], []
    for variant in ("original", "recoded"):
        for item, p in shares.items():
            mean = float(np.arange(1, 11) @ p)
            rows.append({"model": "m", "origin": "USA", "survey": "wvs7", "language": "en", "persona": "none",
                         "item": item, "mean": mean, "n_valid": 1, "n_total": 1, "mode": "distribution",
                         "variant": variant})
            distributions += [{"model": "m", "survey": "wvs7", "language": "en", "persona": "none", "item": item,
                               "value": value, "probability": p[value - 1], "mode": "distribution",
                               "variant": variant} for value in range(1, 11)]
    summary = analyze(pd.DataFrame(rows), {"wvs7": populations}, out_dir=tmp_path, bootstrap=0,
                      wild_bootstrap=99, permutations=99, item_distributions=pd.DataFrame(distributions))
    table = pd.read_csv(tmp_path / "robustness_wvs7.csv")
    assert len(table) == 1 and table["mean_abs_shift"].iloc[0] == 0 and not table["format_sensitive"].iloc[0]
    assert table["country_rank_tau"].iloc[0] == pytest.approx(1.0)
    formats = summary["surveys"]["wvs7"]["formats"]
    assert formats["spread_level"] == "item" and "not possible" in formats["rows"][0]["noise_test"]
    countries = pd.read_csv(tmp_path / "countries_wvs7.csv")
    chn = countries[(countries["country"] == "CHN") & (countries["variant"] == "original")].iloc[0]
    human = next(p for p in populations if p.country == "CHN").distributions
    expected = np.mean([1 - jensenshannon(shares[i], human.loc[i].to_numpy(float) / human.loc[i].sum(), base=2)
                        for i in instrument.item_ids])
    assert chn["js_similarity"] == pytest.approx(expected)
    assert countries.loc[countries["country"] == "DEU", "js_similarity"].isna().all()  # means only
    baselines = pd.read_csv(tmp_path / "baselines_wvs7.csv")  # no respondents: the null rows alone
    assert set(baselines["country"]) == {"random", "first_option", "last_option"}


def test_across_formats_says_no_when_a_format_reverses_the_comparison(tmp_path):
    from whosevalues.report.headline_checks import across_formats
    from whosevalues.report.outdir import OutputDir

    rows = []
    for model in ("a", "b"):
        for variant, (usa, chn) in {"original": (0.4, 0.2), "recoded": (0.3, 0.1), "letters": (0.1, 0.3)}.items():
            for country, value in (("USA", usa), ("CHN", chn)):
                rows.append({"model": model, "origin": "USA", "language": "en", "persona": "none",
                             "country": country, "level": "item", "n_dims": 36, "similarity": value, "rank": 1,
                             "respondent_cosine": value, "variant": variant})
    pd.DataFrame(rows).to_csv(tmp_path / "countries_mfq2.csv", index=False)
    pd.DataFrame(columns=["model", "origin", "survey", "language", "persona", "item", "mean"]).to_csv(
        tmp_path / "item_means.csv", index=False)  # an analysis directory holds item means
    holds, sentence = across_formats(OutputDir(tmp_path), "mfq2", ["a", "b"], "USA", "CHN")
    assert holds == "no" and "letters" in sentence and "recoded" not in sentence
    pd.DataFrame([r for r in rows if r["variant"] != "letters"]).to_csv(tmp_path / "countries_mfq2.csv", index=False)
    assert across_formats(OutputDir(tmp_path), "mfq2", ["a", "b"], "USA", "CHN")[0] == "yes"


def test_shift_in_country_sd_at_the_dimension_level_with_the_21_mfq2_countries():
    """19 countries known by foundation means and CHN, USA by respondents: the yardstick is the SD of the 21
    countries' foundation means, and the shift that of the foundation scores (mean of a foundation's items)."""
    instrument = load_instrument("mfq2")
    populations = load_populations("mfq2", "bundled", countries=None)
    means = synthetic_means({"biased": "USA"}, biased=("biased",))
    table, details = robustness.robustness_table(means, populations, instrument, "mfq2")
    assert details[0]["spread_level"] == "dimension"
    foundations = {}
    for population in populations:
        if population.dimension_means is not None:
            foundations[population.country] = population.dimension_means
        else:
            answers = population.responses
            foundations[population.country] = pd.Series(
                {d: answers[[i for i in instrument.item_ids if instrument.dimension_of()[i] == d]].mean(axis=1).mean()
                 for d in instrument.dimensions})
    sd = pd.DataFrame(foundations).std(axis=1, ddof=1)
    en = means[means["language"] == "en"].pivot_table(index="variant", columns="item", values="mean")
    ratios = []
    for dimension in instrument.dimensions:
        items = [i for i in instrument.item_ids if instrument.dimension_of()[i] == dimension]
        ratios.append(abs(en.loc["recoded", items].mean() - en.loc["original", items].mean()) / sd[dimension])
    row = table[table["language"] == "en"].iloc[0]
    assert row["shift_in_country_sd"] == pytest.approx(np.mean(ratios))


def test_rows_judged_without_the_noise_test_are_told_from_their_p_value_not_their_words():
    from whosevalues.analysis.summary_lines import format_warnings

    rows = [{"p_sampling": float("nan"), "noise_test": "not possible: no per-sample answers"},
            {"p_sampling": None, "noise_test": "not possible: no per-sample answers"},  # as summary.json reads
            {"p_sampling": 0.2, "noise_test": "permutation, though a provider said 'not possible'"},
            {"variant": "letters", "skipped": "no original answers in this condition"}]
    [line] = format_warnings({"surveys": {"mfq2": {"formats": {"rows": rows}}}})
    assert line.startswith("mfq2: 2 robustness row(s) judged without the sampling-noise test")
