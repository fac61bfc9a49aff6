"""Every model against every country (countries_<survey>.csv) and steerability, checked a second way.

The similarities are recomputed here from the paper's published LLM answers and the source files of the bundled
country data in ../shared (not the package's copies, loaders or vector code): country names are mapped to
codes through CLDR's English names, the vectors z-scored with scipy.stats.zscore and compared with
scipy.spatial.distance.cosine. Tolerance 0.002 (the issue's); in practice they agree to about 1e-12.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest
from babel import Locale
from scipy.spatial.distance import cosine as cosine_distance
from scipy.stats import zscore

from replicates import FEW_REPLICATES
from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.analysis.steerability import steerability
from whosevalues.humans import load_populations

TOLERANCE = 0.002
# Spellings of the source files that are not CLDR's English names (alpha-2 codes).
NAME_FIXES = {"Columbia": "CO", "UAE": "AE", "United States of America": "US", "USA": "US", "Turkey": "TR",
              "Myanmar": "MM", "Taiwan": "TW", "South Korea": "KR", "Russia": "RU", "China": "CN"}
PAPER_LANGUAGE = {"English": "en", "Chinese": "zh"}
PAPER_PERSONA = {"none": "none", "China": "CHN", "USA": "USA"}


def alpha2_of_name(name: str) -> str:
    by_name = {english: code for code, english in Locale("en").territories.items()}
    code = NAME_FIXES.get(name) or by_name.get(name)
    assert code, f"no CLDR name for {name!r}"
    return code


@functools.lru_cache(maxsize=None)
def alpha2_of_code(code: str) -> str:
    from babel.core import get_global

    return get_global("territory_aliases")[code][0]


def paper_llm_vectors(paths) -> dict[tuple[str, str, str], pd.Series]:
    """(LLM, language, persona) -> item means, straight from the paper's CSVs (first row per item)."""
    raw = pd.concat([pd.read_csv(path, usecols=["LLM", "language", "persona", "item", "llm_response"])
                     for path in paths])
    raw = raw.drop_duplicates(["LLM", "language", "persona", "item"])
    vectors = {}
    for (llm, language, persona), rows in raw.groupby(["LLM", "language", "persona"]):
        vectors[(llm, PAPER_LANGUAGE[language], PAPER_PERSONA[persona])] = rows.set_index("item")["llm_response"]
    return vectors


def cosine_z(a: pd.Series, b: pd.Series) -> float:
    both = pd.concat([a, b], axis=1, join="inner").dropna()
    return 1 - cosine_distance(zscore(both.iloc[:, 0], ddof=1), zscore(both.iloc[:, 1], ddof=1))


class ZScores:
    """What ``cosine_z`` z-scores, once per vector and item set: scipy.stats.zscore of a vector over the items it
    shares with the other (the inner join of both, without missing values). A table compares every LLM vector
    with every country, so each vector recurs in many rows and need not be z-scored again for each."""

    def __init__(self, vectors: dict) -> None:
        self.vectors = vectors
        self.present = {key: frozenset(vector.dropna().index) for key, vector in vectors.items()}
        self.cache: dict = {}

    def __call__(self, key, items: tuple) -> np.ndarray:
        if (key, items) not in self.cache:
            values = self.vectors[key].loc[list(items)].to_numpy(dtype=float)
            self.cache[(key, items)] = zscore(values, ddof=1)
        return self.cache[(key, items)]


def compare_all(table: pd.DataFrame, level: str, llm: dict, humans: dict[str, pd.Series]) -> int:
    """Assert every row of ``table`` at ``level`` matches the recomputation; return how many were checked.
    The same computation as ``cosine_z`` (checked against it on a sample of rows), with each z-scored vector
    computed once."""
    rows = table[table["level"] == level]
    llm_z, human_z = ZScores(llm), ZScores(humans)
    checked = 0
    for row in rows.itertuples():
        key, country = (row.model, row.language, row.persona), alpha2_of_code(row.country)
        items = tuple(sorted(llm_z.present[key] & human_z.present[country], key=repr))
        expected = 1 - cosine_distance(llm_z(key, items), human_z(country, items))
        if checked % 97 == 0:  # the shortcut gives what cosine_z gives
            assert expected == pytest.approx(cosine_z(llm[key], humans[country]), abs=1e-12)
        assert row.similarity == pytest.approx(expected, abs=TOLERANCE), (row.model, row.country, level)
        checked += 1
    return checked


# -- MFQ-2: 21 countries at the dimension level, CHN and USA also at the item level --------------------
@pytest.fixture(scope="module")
def mfq2_analysis(shared_data, published_mfq2_runs):
    """The paper's MFQ-2 answers: RQ analyses against CHN and USA, countries_mfq2.csv against every country with
    data (the default-mode analysis shared by the modules that read it: conftest.py)."""
    out, summary = published_mfq2_runs[False]
    return shared_data, out, summary


def mfq2_humans(data) -> tuple[dict[str, pd.Series], dict[str, pd.Series]]:
    """(item-level, dimension-level) human vectors keyed by alpha-2, from the source files."""
    respondents = pd.read_csv(data / "made_in_china_paper" / "human_mfq_responses.csv")
    items, dimensions = {}, {}
    for group, rows in respondents.groupby("Group"):
        code = alpha2_of_name(group)
        items[code] = rows.groupby("Item")["Response"].mean()
        item_dimension = rows.groupby("Item")["Dimension"].first()
        dimensions[code] = items[code].groupby(item_dimension.str.lower()).mean()
    countries = pd.read_csv(data / "mfq2_atari_study2_19country_means" / "mfq2_country_foundations.csv")
    for name, rows in countries.groupby("country"):
        dimensions[alpha2_of_name(name)] = rows.set_index("foundation")["mean"]
    return items, dimensions


def test_mfq2_every_country_at_both_levels_matches_a_second_computation(mfq2_analysis):
    data, out, _ = mfq2_analysis
    table = pd.read_csv(out / "countries_mfq2.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns[:9]) == ["model", "origin", "language", "persona", "country", "level", "n_dims",
                                       "similarity", "rank"]
    assert table.loc[table["level"] == "dimension", "country"].nunique() == 21
    assert set(table.loc[table["level"] == "item", "country"]) == {"CHN", "USA"}
    llm = paper_llm_vectors([data / "made_in_china_paper" / "llm_mfq_responses.csv"])
    dimension_of = pd.read_csv(data / "made_in_china_paper" / "human_mfq_responses.csv").groupby("Item")[
        "Dimension"].first().str.lower()
    llm_dimensions = {key: vector.groupby(dimension_of.reindex(vector.index)).mean() for key, vector in llm.items()}
    items, dimensions = mfq2_humans(data)
    assert compare_all(table, "item", llm, items) == len(llm) * 2
    assert compare_all(table, "dimension", llm_dimensions, dimensions) == len(llm) * 21
    assert (table.loc[table["level"] == "dimension", "n_dims"] == 6).all()


def test_mfq2_respondent_cosines_where_respondents_exist(mfq2_analysis):
    _, out, _ = mfq2_analysis
    table = pd.read_csv(out / "countries_mfq2.csv", keep_default_na=False, na_values=[""])
    with_respondents = table[table["country"].isin(["CHN", "USA"])]
    assert with_respondents["n_respondents"].gt(500).all()
    assert (with_respondents["respondent_cosine_low"] <= with_respondents["respondent_cosine"]).all()
    assert (with_respondents["respondent_cosine"] <= with_respondents["respondent_cosine_high"]).all()
    assert table.loc[~table["country"].isin(["CHN", "USA"]), "respondent_cosine"].isna().all()


def test_ranks_order_similarity_within_each_condition_and_level(mfq2_analysis):
    _, out, _ = mfq2_analysis
    table = pd.read_csv(out / "countries_mfq2.csv", keep_default_na=False, na_values=[""])
    for _, group in table.groupby(["model", "language", "persona", "level"]):
        ordered = group.sort_values("rank")
        assert ordered["rank"].iloc[0] == 1
        assert ordered["similarity"].is_monotonic_decreasing
        assert ordered["similarity"].iloc[0] == group["similarity"].max()


def test_summary_names_each_models_closest_and_furthest_country(mfq2_analysis):
    _, out, _ = mfq2_analysis
    summary = json.loads((out / "summary.json").read_text())
    models = summary["surveys"]["mfq2"]["countries"]["models"]
    table = pd.read_csv(out / "countries_mfq2.csv", keep_default_na=False, na_values=[""])
    assert len(models) == table["model"].nunique()
    for entry in models:
        chosen = (table["model"] == entry["model"]) & (table["level"] == "dimension") & (table["persona"] == "none")
        rows = table[chosen]
        means = rows.groupby("country")["similarity"].mean()
        assert entry["closest"][0][0] == means.idxmax() and entry["furthest"][0][0] == means.idxmin()
        assert means.idxmax() in entry["sentence"] and means.idxmin() in entry["sentence"]


def test_steerability_agrees_with_the_countries_table(mfq2_analysis):
    _, out, summary = mfq2_analysis
    table = pd.read_csv(out / "countries_mfq2.csv", keep_default_na=False, na_values=[""])
    steer = pd.read_csv(out / "steerability_mfq2.csv", keep_default_na=False, na_values=[""])
    assert list(steer.columns[:9]) == ["model", "origin", "language", "persona", "similarity_persona",
                                       "similarity_none", "gain", "rank_persona", "rank_none"]
    assert_steerability_consistent(table, steer)
    share = summary["surveys"]["mfq2"]["steerability"]["overall"]["share_raised"]
    assert share == pytest.approx((steer["gain"] > 0).mean())


def assert_steerability_consistent(countries: pd.DataFrame, steer: pd.DataFrame) -> None:
    assert len(steer)
    if "variant" in countries:  # steerability reads the paper's format; the other formats have their own rows
        countries = countries[countries["variant"].fillna("original") == "original"]
    for row in steer.itertuples():
        at = countries[(countries["model"] == row.model) & (countries["language"] == row.language)
                       & (countries["country"] == row.persona) & (countries["level"] == row.level)]
        own = at.set_index("persona")
        assert row.similarity_persona == pytest.approx(own.loc[row.persona, "similarity"], abs=1e-9)
        assert row.similarity_none == pytest.approx(own.loc["none", "similarity"], abs=1e-9)
        assert row.gain == pytest.approx(row.similarity_persona - row.similarity_none, abs=1e-9)
        assert row.rank_persona == own.loc[row.persona, "rank"] and row.rank_none == own.loc["none", "rank"]


# -- WVS-7: 55 countries at the item level ----------------------------------------------------------------
def test_wvs7_every_country_matches_a_second_computation(tmp_path, shared_data):
    paper = shared_data / "made_in_china_paper"
    files = [paper / "llm_wvs_responses.csv", paper / "llm_wvs_persona_responses.csv"]
    populations = {"wvs7": load_populations("wvs7", countries=None)}
    analyze(load_llm_responses(files), {"wvs7": [p for p in populations["wvs7"] if p.country in ("CHN", "USA")]},
            out_dir=tmp_path, country_populations=populations, **FEW_REPLICATES)
    table = pd.read_csv(tmp_path / "countries_wvs7.csv", keep_default_na=False, na_values=[""])
    assert table["country"].nunique() == 55 and set(table["level"]) == {"item"}

    # Humans: Ramezani & Xu's wvs_score for 53 countries (z-scores do not change under 5.5 + 4.5 * score),
    # the bundled CHN/USA distributions' source for those two.
    means = pd.read_csv(shared_data / "wvs7_ramezani_country_means" / "wvs_w7_mcm.csv")
    question_id = {text: 177 + i for i, text in enumerate(dict.fromkeys(means["question"]))}
    humans = {alpha2_of_name(name): rows.set_index(rows["question"].map(question_id))["wvs_score"]
              for name, rows in means.groupby("country")}
    distributions = pd.read_csv(shared_data / "wvs7_values_to_country" /
                                "derived_wvs7_chn_usa_q177_q195_distributions.csv")
    for code, rows in distributions.groupby("B_COUNTRY_ALPHA"):
        humans[alpha2_of_code(code)] = rows.set_index(rows["qid"].str[1:].astype(int))["mean"]
    llm = paper_llm_vectors(files)
    assert compare_all(table, "item", llm, humans) == len(llm) * 55
    assert "MAR" in set(table["country"]) and "MOR" not in set(table["country"])


def test_steerability_needs_a_persona_free_condition():
    countries = pd.DataFrame({"model": "m", "origin": "USA", "language": "en", "persona": ["DEU", "DEU"],
                              "country": ["DEU", "FRA"], "level": "item", "n_dims": 19,
                              "similarity": [0.5, 0.4], "rank": [1, 2]})
    assert steerability(countries).empty


# -- end to end: the embedded model with personas that only the template can write -------------------------
@pytest.mark.slow
def test_embedded_model_with_templated_personas_writes_consistent_steerability(tmp_path):
    pytest.importorskip("llama_cpp", reason="the embedded model needs: pip install -e '.[local]'")
    import os
    import subprocess
    import sys

    from whosevalues.instruments import load_instrument

    personas = ["DEU", "JPN", "NGA", "BRA"]
    wvs = load_instrument("wvs7")
    assert not set(personas) & set(wvs.languages["en"].personas)  # no sentence in the survey file
    result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", "--surveys", "wvs7", "--languages", "en",
                             "--personas", "none," + ",".join(personas), "--variants", "original",
                             "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=900, env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    countries = pd.read_csv(out / "countries_wvs7.csv", keep_default_na=False, na_values=[""])
    assert countries["country"].nunique() == 55
    steer = pd.read_csv(out / "steerability_wvs7.csv", keep_default_na=False, na_values=[""])
    assert sorted(steer["persona"]) == sorted(personas)
    assert_steerability_consistent(countries, steer)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["surveys"]["wvs7"]["steerability"]["overall"]["n"] == len(personas)
    assert "Whose values" in (out / "report.html").read_text()


# -- an official WVS-7 file: respondents for every country, Morocco written MOR ------------------------------
def test_official_wvs_file_gives_respondent_cosines_and_iso_codes(tmp_path):
    from tests.wvs_fixtures import write_wvs_file

    wvs = write_wvs_file(tmp_path, other_countries={"MOR": 40, "DEU": 40})
    populations = load_populations("wvs7", wvs.path, countries=None)
    assert sorted(p.country for p in populations) == ["CHN", "DEU", "MAR", "USA"]
    rng = np.random.default_rng(1)
    items = [f"Q{n}" for n in range(177, 196)]
    means = pd.DataFrame({"model": "m", "origin": "USA", "survey": "wvs7", "language": "en", "persona": "none",
                          "item": items, "mean": rng.uniform(1, 10, len(items)), "n_valid": 20, "n_total": 20,
                          "refusal_rate": 0.0})
    analyze(means, {"wvs7": populations}, out_dir=tmp_path / "out", **FEW_REPLICATES)
    table = pd.read_csv(tmp_path / "out" / "countries_wvs7.csv", keep_default_na=False, na_values=[""])
    morocco = table[table["country"] == "MAR"].iloc[0]
    assert morocco["n_respondents"] == 40 and morocco["level"] == "item"
    # the mean per-respondent cosine, recomputed with scipy from the loaded answers
    answers = next(p for p in populations if p.country == "MAR").responses[items]
    llm = zscore(means["mean"].to_numpy(), ddof=1)
    cosines = [1 - cosine_distance(zscore(row, ddof=1), llm) for row in answers.to_numpy(dtype=float)
               if np.std(row) > 0]
    assert morocco["respondent_cosine"] == pytest.approx(np.mean(cosines), abs=1e-9)
    assert morocco["respondent_cosine_low"] < np.mean(cosines) < morocco["respondent_cosine_high"]
