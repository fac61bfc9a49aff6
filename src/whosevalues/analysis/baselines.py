"""Human yardsticks: how similar respondents of a country are to each other and to their country's mean.

An LLM's cosine of .2 with Chinese respondents means little until one knows what a Chinese respondent
scores. ``baselines`` gives, per country with respondents (z-scored vectors as in the analysis):

- ``pairwise_cosine``: the mean cosine over all pairs of that country's respondents;
- ``own_mean_cosine_loo``: each respondent's cosine with the item means of the *other* respondents of their
  country (the respondent left out), averaged;
- ``other_mean_cosine``: each respondent's cosine with the item means of another country's respondents,
  averaged (over respondents, then over the other countries when there are several; NaN with one country).

Item means are of the raw answers, then z-scored across items, exactly as the human references of Figure 3
(``reference_similarity_<survey>.csv``). ``ceiling_normalised`` divides an LLM's mean similarity to a country
by that country's ``own_mean_cosine_loo``: 1 means the LLM matches the country's respondents as well as
their own compatriots' mean does.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.analysis.vectors import HumanVectors, zscore_rows

BASELINE_COLUMNS = ["country", "n_respondents", "pairwise_cosine", "own_mean_cosine_loo", "other_mean_cosine"]


def _unit_rows(z: np.ndarray) -> np.ndarray:
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def pairwise_cosine(z: np.ndarray) -> float:
    """Mean cosine over the n(n-1)/2 pairs: (|sum u|^2 - n) / (n (n-1)) with u the unit rows."""
    n = len(z)
    if n < 2:
        return float("nan")
    total = _unit_rows(z).sum(axis=0)
    return float((total @ total - n) / (n * (n - 1)))


def own_mean_cosine_loo(raw: np.ndarray, z: np.ndarray) -> float:
    """Mean over respondents of cos(z_i, z-scored mean of the others' raw answers)."""
    n = len(raw)
    if n < 2:
        return float("nan")
    others = (raw.sum(axis=0)[None, :] - raw) / (n - 1)
    others_z, usable = zscore_rows(others)
    cos = np.einsum("ij,ij->i", _unit_rows(z), _unit_rows(np.where(usable[:, None], others_z, np.nan)))
    return float(np.nanmean(cos))


def mean_cosine_with(z: np.ndarray, reference_raw_mean: np.ndarray) -> float:
    reference, usable = zscore_rows(reference_raw_mean[None, :])
    if not usable[0]:
        return float("nan")
    return float(np.mean(_unit_rows(z) @ (reference[0] / np.linalg.norm(reference[0]))))


def baselines(humans: list[HumanVectors]) -> pd.DataFrame:
    """One row per country with respondents (BASELINE_COLUMNS)."""
    records = []
    for h in humans:
        others = [o for o in humans if o.country != h.country and o.n > 0]
        other = [mean_cosine_with(h.z, o.raw.mean(axis=0)) for o in others]
        records.append((h.country, h.n, pairwise_cosine(h.z), own_mean_cosine_loo(h.raw, h.z),
                        float(np.mean(other)) if other else float("nan")))
    return pd.DataFrame.from_records(records, columns=BASELINE_COLUMNS)


def ceiling_normalised(similarity: pd.Series, country: pd.Series, table: pd.DataFrame) -> pd.Series:
    """similarity / own_mean_cosine_loo of the matching country (NaN where the country has no baseline)."""
    ceiling = country.map(table.set_index("country")["own_mean_cosine_loo"])
    return similarity / ceiling
