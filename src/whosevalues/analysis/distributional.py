"""Distributional alignment beside the z-cosine: does the model's spread of answers look like a country's?

The z-cosine compares item means only; it cannot show a model whose answers collapse onto one option. Where a
country's per-item answer distribution is known (respondents, or the bundled WVS-7 distributions) and the model
gives one per item (item_distributions.csv: the next-token distribution in distribution mode, the shares of
its valid samples in sample mode), ``countries_<survey>.csv`` gains, per model x condition x variant x country
(item level), each averaged over the items both have:

- ``js_similarity``: 1 - the Jensen-Shannon distance (base 2, so in 0..1) between the two distributions;
- ``representativeness``: 1 - W1 / (scale max - scale min), W1 the 1-Wasserstein distance; the largest W1
  possible on the scale is its span (all mass at one end against all at the other) (OpinionQA's measure);
- ``entropy_model``, ``entropy_country``: the answer entropy in bits (0 = one option only);
- ``variance_ratio``: the model's mean answer variance over the country's (below 1: compressed answers).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.analysis.formats import VARIANT, with_variant
from whosevalues.humans.population import Population
from whosevalues.instruments import Instrument
from whosevalues.special import jensenshannon, rel_entr, wasserstein_distance, xlogy

DISTRIBUTION_COLUMNS = ["js_similarity", "representativeness", "entropy_model", "entropy_country",
                        "variance_ratio"]
LLM_KEY = ["model", "language", "persona", VARIANT]


# -- per item -----------------------------------------------------------------------------------

def js_similarity(p: np.ndarray, q: np.ndarray) -> float:
    """1 - Jensen-Shannon distance (base 2) of two distributions over the same values."""
    return float(1 - jensenshannon(p, q, base=2))


def representativeness(values: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """1 - W1(p, q) / the largest W1 possible on the scale (its span)."""
    span = float(values.max() - values.min())
    return float(1 - wasserstein_distance(values, values, p, q) / span)


def entropy_bits(p: np.ndarray) -> float:
    p = p[p > 0] / p.sum()
    return float(-(p * np.log2(p)).sum())


def variance(values: np.ndarray, p: np.ndarray) -> float:
    p = p / p.sum()
    mean = float(values @ p)
    return float(((values - mean) ** 2) @ p)


# -- the two sides --------------------------------------------------------------------------------

def country_distributions(population: Population, instrument: Instrument) -> pd.DataFrame | None:
    """Items x scale values: the share of the country's answers (respondents or bundled distributions);
    None for a country known only by means."""
    values = instrument.scale.values
    if population.responses is not None:
        answers = population.responses.reindex(columns=instrument.item_ids).astype(float)
        counts = answers.apply(lambda column: column.value_counts()).reindex(values).fillna(0).T
    elif population.distributions is not None:
        counts = population.distributions.copy()
        counts.columns = [int(float(c)) for c in counts.columns]
        counts = counts.reindex(columns=values).fillna(0)
    else:
        return None
    counts.index = counts.index.astype(str)
    totals = counts.sum(axis=1)
    return counts[totals > 0].div(totals[totals > 0], axis=0)


def llm_distributions(item_distributions: pd.DataFrame | None, survey: str,
                      values: list[int]) -> dict[tuple, pd.DataFrame]:
    """(model, language, persona, variant) -> items x scale values: the model's answer shares per item."""
    if item_distributions is None or item_distributions.empty:
        return {}
    rows = with_variant(item_distributions)
    rows = rows[rows["survey"].astype(str) == survey]
    out = {}
    for key, group in rows.groupby(LLM_KEY, sort=False):
        wide = group.pivot_table(index="item", columns="value", values="probability", aggfunc="sum")
        wide.index = wide.index.astype(str)
        wide.columns = [int(float(c)) for c in wide.columns]
        out[tuple(str(k) for k in key)] = wide.reindex(columns=values).fillna(0.0)
    return out


def alignment(model: pd.DataFrame, country: pd.DataFrame) -> dict[str, float]:
    """DISTRIBUTION_COLUMNS averaged over the items with a distribution on both sides (all items at once:
    the same formulas as the per-item functions above, which the tests check against scipy)."""
    values = np.asarray(country.columns, dtype=float)
    items = model.index.intersection(country.index)
    p = model.loc[items].to_numpy(float)
    q = country.loc[items].reindex(columns=country.columns).to_numpy(float)
    both = (p.sum(axis=1) > 0) & (q.sum(axis=1) > 0)
    if not both.any():
        return dict.fromkeys(DISTRIBUTION_COLUMNS, np.nan)
    p = p[both] / p[both].sum(axis=1, keepdims=True)
    q = q[both] / q[both].sum(axis=1, keepdims=True)
    m = (p + q) / 2
    js = 1 - np.sqrt(np.clip((rel_entr(p, m).sum(axis=1) + rel_entr(q, m).sum(axis=1)) / (2 * np.log(2)), 0, None))
    # W1 on a line: the area between the two CDFs (steps between neighbouring scale values)
    w1 = (np.abs(np.cumsum(p - q, axis=1)[:, :-1]) * np.diff(values)).sum(axis=1)

    def entropy(a: np.ndarray) -> np.ndarray:
        return -xlogy(a, a).sum(axis=1) / np.log(2)

    def var(a: np.ndarray) -> np.ndarray:
        return (a * values ** 2).sum(axis=1) - (a * values).sum(axis=1) ** 2

    var_country = float(var(q).mean())
    return {"js_similarity": float(js.mean()),
            "representativeness": float((1 - w1 / (values.max() - values.min())).mean()),
            "entropy_model": float(entropy(p).mean()), "entropy_country": float(entropy(q).mean()),
            "variance_ratio": float(var(p).mean()) / var_country if var_country > 0 else np.nan}


def add_alignment(table: pd.DataFrame, populations: list[Population], instrument: Instrument,
                  item_distributions: pd.DataFrame | None, survey: str) -> pd.DataFrame:
    """countries table + DISTRIBUTION_COLUMNS on its item-level rows where both sides have distributions
    (NaN elsewhere). The table must have a ``variant`` column."""
    table = table.copy()
    for column in DISTRIBUTION_COLUMNS:
        table[column] = np.nan
    models = llm_distributions(item_distributions, survey, instrument.scale.values)
    if not models or table.empty:
        return table
    countries = {p.country: country_distributions(p, instrument) for p in populations}
    for index, row in table[table["level"] == "item"].iterrows():
        country = countries.get(row["country"])
        model = models.get((str(row["model"]), str(row["language"]), str(row["persona"]), str(row[VARIANT])))
        if country is None or model is None:
            continue
        for column, value in alignment(model, country).items():
            table.at[index, column] = value
    return table
