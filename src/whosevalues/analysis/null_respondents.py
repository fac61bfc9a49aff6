"""Respondents without values: how similar is a country to someone who answers at random, or always picks the
option listed first or last? Rows appended to ``baselines_<survey>.csv``.

A model is only informative about whose values it expresses when it is further from these respondents than
chance: a model whose answers are a hash of the item id has a z-cosine with a country that is a draw from
the random respondent's distribution. Each row is one null respondent (``country``: ``random``,
``first_option``, ``last_option``) against one population (``versus``) on one metric (``metric``, ``level``):

- ``respondent_cosine`` (item level): the mean, over the population's respondents, of the z-cosine with the
  null respondent's answers (what the RQ similarity files and ``respondent_cosine`` hold);
- ``similarity`` (item, and dimension where the survey has dimensions): the z-cosine with the population's
  mean vector (``countries_<survey>.csv``'s ``similarity``);
- ``js_similarity`` and ``representativeness`` (item level, populations with answer distributions): as in
  analysis/distributional.py, averaged over items.

``random`` answers every item uniformly at random and independently: on the cosine metrics ``null_mean`` is
the mean over ``DRAWS`` simulated respondents (fixed seed) and ``null_low``..``null_high`` the 2.5% and 97.5%
quantiles; its answer distribution is uniform, so its distributional metrics are exact (low = high = mean).
``first_option`` / ``last_option`` (one per ``variant`` asked, only when variants other than original were
asked) give the canonical value of the option that variant lists first / last, on every item: a point mass,
exact on the distributional metrics. Their answers are the same on every item, so they have no z-scores and
no cosine: they get no cosine rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.analysis import distributional
from whosevalues.analysis.baselines import BASELINE_COLUMNS
from whosevalues.analysis.countries import DIMENSION, ITEM, country_vectors, dimension_scores, has_dimension_level
from whosevalues.analysis.formats import answer_format
from whosevalues.analysis.vectors import HumanVectors, zscore_rows
from whosevalues.humans.population import Population
from whosevalues.instruments import Instrument

RANDOM, FIRST, LAST = "random", "first_option", "last_option"
NULL_COLUMNS = ["versus", "variant", "metric", "level", "null_mean", "null_low", "null_high"]
DRAWS = 10000


def _unit(z: np.ndarray) -> np.ndarray:
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def random_answers(instrument: Instrument, draws: int = DRAWS, seed: int = 0) -> np.ndarray:
    """draws x items of uniform random answers on the scale (rows with no spread are drawn again)."""
    rng = np.random.default_rng(seed)
    answers = rng.integers(instrument.scale.min, instrument.scale.max + 1,
                           size=(draws, len(instrument.item_ids))).astype(float)
    flat = answers.std(axis=1) == 0
    while flat.any():  # a straight line has no z-scores; redraw (vanishingly rare with many items)
        answers[flat] = rng.integers(instrument.scale.min, instrument.scale.max + 1,
                                     size=(int(flat.sum()), answers.shape[1]))
        flat = answers.std(axis=1) == 0
    return answers


def _summary(values: np.ndarray) -> tuple[float, float, float]:
    values = values[np.isfinite(values)]
    if not len(values):
        return (np.nan, np.nan, np.nan)
    return (float(values.mean()), float(np.quantile(values, 0.025)), float(np.quantile(values, 0.975)))


def respondent_cosines(random: np.ndarray, human: HumanVectors) -> np.ndarray:
    """Per random respondent, its mean z-cosine over the population's respondents."""
    z_random, _ = zscore_rows(random)
    return _unit(z_random) @ _unit(human.z).mean(axis=0)


def mean_vector_cosines(random: np.ndarray, country: pd.Series, units: dict | None = None) -> np.ndarray:
    """Per random respondent (columns as ``country``), its z-cosine with the country's mean vector over the
    columns the country has. ``units`` caches the random respondents' unit z-vectors per set of columns."""
    asked = country.notna().to_numpy()
    if asked.sum() < 2:
        return np.array([])
    reference, usable = zscore_rows(country.to_numpy(float)[asked][None, :])
    if not usable[0]:
        return np.array([])
    key = asked.tobytes()
    if units is None or key not in units:
        z_random, ok = zscore_rows(random[:, asked])
        unit = _unit(z_random[ok])
        if units is None:
            return unit @ _unit(reference)[0]
        units[key] = unit
    return units[key] @ _unit(reference)[0]


def _cosine_rows(instrument: Instrument, populations: list[Population], humans: list[HumanVectors],
                 seed: int) -> list[tuple]:
    random = random_answers(instrument, seed=seed)
    rows = [(RANDOM, h.country, "", "respondent_cosine", ITEM, *_summary(respondent_cosines(random, h)))
            for h in humans]
    as_dimensions = (dimension_scores(pd.DataFrame(random, columns=instrument.item_ids), instrument).to_numpy()
                     if has_dimension_level(instrument) else None)
    units: dict[str, dict] = {ITEM: {}, DIMENSION: {}}  # a cache per level for mean_vector_cosines
    for population in populations:
        for level, vector in country_vectors(population, instrument).items():
            answers = random if level == ITEM else as_dimensions
            if answers is None:
                continue
            rows.append((RANDOM, population.country, "", "similarity", level,
                         *_summary(mean_vector_cosines(answers, vector, units[level]))))
    return rows


def _point_mass(value: int, values: list[int]) -> np.ndarray:
    return np.array([1.0 if v == value else 0.0 for v in values])


def _distribution_rows(instrument: Instrument, populations: list[Population], variants: list[str]) -> list[tuple]:
    values = instrument.scale.values
    respondents: dict[str | tuple[str, str], tuple[str, np.ndarray]] = {
        RANDOM: ("", np.full(len(values), 1.0 / len(values)))}
    if any(v != "original" for v in variants):
        for variant in variants:
            layout = answer_format(instrument, variant)
            respondents[(FIRST, variant)] = (variant, _point_mass(layout.first_listed_canonical(), values))
            respondents[(LAST, variant)] = (variant, _point_mass(layout.last_listed_canonical(), values))
    rows = []
    for population in populations:
        country = distributional.country_distributions(population, instrument)
        if country is None or country.empty:
            continue
        for key, (variant, shares) in respondents.items():
            name = key if isinstance(key, str) else key[0]
            model = pd.DataFrame(np.tile(shares, (len(country), 1)), index=country.index, columns=country.columns)
            aligned = distributional.alignment(model, country)
            for metric in ("js_similarity", "representativeness"):
                rows.append((name, population.country, variant, metric, ITEM, aligned[metric], aligned[metric],
                             aligned[metric]))
    return rows


def null_respondents(instrument: Instrument, populations: list[Population], humans: list[HumanVectors],
                     variants: list[str], seed: int = 0) -> pd.DataFrame:
    """The null respondents' rows: ``country`` then NULL_COLUMNS."""
    rows = _cosine_rows(instrument, populations, humans, seed) + _distribution_rows(instrument, populations,
                                                                                      variants)
    return pd.DataFrame.from_records(rows, columns=["country", *NULL_COLUMNS])


def with_null_rows(baselines: pd.DataFrame | None, nulls: pd.DataFrame) -> pd.DataFrame:
    """baselines_<survey>.csv: the human rows as they were (their null columns empty), then the null rows
    (their human columns empty)."""
    if baselines is None or baselines.empty:
        return nulls.reindex(columns=[*BASELINE_COLUMNS, *NULL_COLUMNS])
    return pd.concat([baselines.reindex(columns=[*baselines.columns, *NULL_COLUMNS]), nulls], ignore_index=True)


def random_band(nulls: pd.DataFrame, versus: str, metric: str = "respondent_cosine",
                level: str = ITEM) -> tuple[float, float, float] | None:
    """(mean, low, high) of the random respondent against ``versus`` on ``metric``; None when absent."""
    rows = nulls[(nulls["country"] == RANDOM) & (nulls["versus"] == versus) & (nulls["metric"] == metric)
                 & (nulls["level"] == level)]
    if rows.empty:
        return None
    row = rows.iloc[0]
    return float(row["null_mean"]), float(row["null_low"]), float(row["null_high"])


__all__ = ["DIMENSION", "ITEM", "NULL_COLUMNS", "null_respondents", "random_band", "with_null_rows"]
