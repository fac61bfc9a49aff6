"""Similarity with human populations known only by aggregates (the bundled WVS-7 data: answer distributions
for CHN and USA, item means for other countries). Without respondents there is no per-respondent cosine and no
regression; what remains is comparing each LLM condition with each country as a whole:

- ``cosine_item_means``: cosine between the LLM's item-mean vector and the country's item-mean vector, each
  z-scored across items (sample SD), as the human-mean reference of the paper's Figure 3D. Items the LLM never
  answered validly are left out of both vectors (``n_items`` says how many remain); NaN when the LLM gives the
  same mean to every item (its z-scores are undefined).
- ``wasserstein_similarity``: per item, 1 - W / (scale max - scale min), W the 1-Wasserstein distance
  (``scipy.stats.wasserstein_distance``) between the LLM's answer distribution and the country's; averaged over
  items. The LLM's distribution comes from ``item_distributions`` (distribution mode, or sampled answers) when
  given; otherwise it is a point mass at the LLM's item mean, so W = E|X_human - mean_LLM|: this keeps the LLM's
  central tendency but not its spread, and never rewards an LLM for matching the humans' disagreement. Column
  ``llm_distribution`` says which was used. NaN for populations with means only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis.formats import rows_of_variant
from whosevalues.humans.audit import human_distributions
from whosevalues.humans.population import Population
from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.special import wasserstein_distance

CONDITION = ["model", "origin", "language", "persona"]
COLUMNS = [*CONDITION, "country", "cosine_item_means", "wasserstein_similarity", "n_items", "llm_distribution"]
SAMPLED, POINT_MASS = "sampled", "point mass at mean"
AGGREGATE_NOTE = ("only aggregate WVS-7 data is bundled: compared with each country's item means (cosine) and "
                  "answer distributions (Wasserstein); the per-respondent analysis (RQ1-RQ3) needs the official "
                  "WVS-7 file: --humans wvs7=PATH (download from worldvaluessurvey.org)")


def zscore(vector: np.ndarray) -> np.ndarray:
    sd = vector.std(ddof=1) if len(vector) > 1 else 0.0
    return (vector - vector.mean()) / sd if sd > 0 else np.full_like(vector, np.nan)


def cosine_of_means(llm: np.ndarray, human: np.ndarray) -> tuple[float, int]:
    """Cosine of the z-scored vectors over the items both have; (cosine, number of items)."""
    both = ~np.isnan(llm) & ~np.isnan(human)
    if both.sum() < 2:
        return float("nan"), int(both.sum())
    a, b = zscore(llm[both]), zscore(human[both])
    if np.isnan(a).any() or np.isnan(b).any():
        return float("nan"), int(both.sum())
    return float(a @ b / np.sqrt((a @ a) * (b @ b))), int(both.sum())


def cosines_of_means(llm: np.ndarray, human: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``cosine_of_means`` of every row of ``llm`` (conditions x items) with ``human``, at once: (cosines,
    numbers of items). Rows missing the same items share one matrix product."""
    llm = np.asarray(llm, dtype=float)
    human = np.asarray(human, dtype=float)
    cosines = np.full(len(llm), np.nan)
    counts = np.zeros(len(llm), dtype=int)
    both = ~np.isnan(llm) & ~np.isnan(human)[None, :]
    patterns, which = np.unique(both, axis=0, return_inverse=True) if len(llm) else (both, np.array([], int))
    for k, mask in enumerate(patterns):
        rows = np.flatnonzero(which.ravel() == k)
        counts[rows] = int(mask.sum())
        if mask.sum() < 2:
            continue
        b = zscore(human[mask])
        if np.isnan(b).any():
            continue
        values = llm[np.ix_(rows, np.flatnonzero(mask))]
        sd = values.std(axis=1, ddof=1)
        usable = sd > 0
        a = (values[usable] - values[usable].mean(axis=1, keepdims=True)) / sd[usable, None]
        cosines[rows[usable]] = (a @ b) / np.sqrt(np.einsum("ij,ij->i", a, a) * (b @ b))
    return cosines, counts


def _llm_distributions(item_distributions: pd.DataFrame | None, survey: str) -> dict[tuple, pd.Series]:
    """(model, language, persona, item) -> probability by value, from item_distributions.csv rows."""
    if item_distributions is None or item_distributions.empty:
        return {}
    rows = item_distributions[item_distributions["survey"] == survey]
    rows = rows_of_variant(rows, ORIGINAL)  # the paper's prompt, as the item means compared here
    keys = ["model", "language", "persona", "item"]
    value = rows["value"].to_numpy()
    probability = rows["probability"].to_numpy(dtype=float)
    return {tuple(str(k) for k in key): pd.Series(probability[index], index=pd.Index(value[index], name="value"),
                                                  name="probability")
            for key, index in rows.groupby(keys, sort=False).indices.items()}


def wasserstein_similarity(llm_means: pd.Series, human: pd.DataFrame, sampled: dict, condition: tuple,
                           span: float) -> tuple[float, str]:
    """Mean over items of 1 - W/span; ``human``: items x values proportions. Also which LLM distribution was used."""
    values = human.columns.astype(float).to_numpy()
    weights = human.to_numpy(dtype=float)
    position = {item: k for k, item in reversed(list(enumerate(human.index)))}
    distances: list[float] = []
    point_slots, point_rows, point_means = [], [], []
    kinds = set()
    for item, mean in llm_means.items():
        k = position.get(item)
        if k is None or pd.isna(mean) or np.isnan(weights[k]).all():
            continue
        distribution = sampled.get((*condition, str(item)))
        if distribution is not None and distribution.sum() > 0:
            distances.append(wasserstein_distance(distribution.index.astype(float), values,
                                                  distribution.to_numpy(), weights[k]))
            kinds.add(SAMPLED)
        else:  # W between a point mass and a distribution: the mean distance to the point
            point_slots.append(len(distances))
            point_rows.append(k)
            point_means.append(float(mean))
            distances.append(np.nan)
            kinds.add(POINT_MASS)
    kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")
    if not distances:
        return float("nan"), kind
    distance = np.array(distances)
    if point_rows:
        distance[point_slots] = _point_mass_distances(np.array(point_means), values, weights[point_rows])
    return float(np.mean(1 - distance / span)), kind


def _point_mass_distances(means: np.ndarray, values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per row, W1 between a point mass at ``means[i]`` and the distribution ``weights[i]`` over ``values``
    (what wasserstein_distance([mean], values, None, weights) gives, with its checks on the weights)."""
    totals = weights.sum(axis=1)
    if np.any(weights < 0) or not np.all((totals > 0) & (totals < np.inf)):  # NaN fails this too, as there
        raise ValueError("All weights must be non-negative, with a positive and finite sum.")
    return (np.abs(values[None, :] - means[:, None]) * weights).sum(axis=1) / totals


def compare_survey(item_means: pd.DataFrame, populations: list[Population], survey: str,
                   item_distributions: pd.DataFrame | None = None) -> pd.DataFrame:
    instrument = load_instrument(survey)
    span = float(instrument.scale.max - instrument.scale.min)
    items = instrument.item_ids
    rows = item_means[item_means["survey"] == survey].copy()
    rows["item"] = rows["item"].astype(str)
    llm = rows.pivot_table(index=CONDITION, columns="item", values="mean", aggfunc="first").reindex(columns=items)
    llm_values = llm.to_numpy(dtype=float)
    sampled = _llm_distributions(item_distributions, survey)
    records = []
    for population in populations:
        human_means = population.item_means().reindex(items).to_numpy(dtype=float)
        cosines, counts = cosines_of_means(llm_values, human_means)
        for row, (condition, llm_means) in enumerate(llm.iterrows()):
            if population.distributions is not None:
                key = (str(condition[0]), str(condition[2]), str(condition[3]))
                similarity, kind = wasserstein_similarity(llm_means, population.distributions, sampled, key, span)
            else:
                similarity, kind = float("nan"), ""
            records.append((*condition, population.country, cosines[row], similarity, int(counts[row]), kind))
    return pd.DataFrame.from_records(records, columns=COLUMNS)


def compare(item_means: pd.DataFrame, populations: dict[str, list[Population]], out_dir: Path,
            item_distributions: pd.DataFrame | None = None) -> pd.DataFrame:
    """For each survey whose populations have no respondents (aggregates only), compare every LLM condition
    with every such population; write ``aggregate_similarity_<survey>.csv`` for those surveys and
    ``human_distributions.csv`` for all populations. ``item_distributions`` defaults to
    ``out_dir/item_distributions.csv`` when that file exists. Returns all rows with a ``survey`` column."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if item_distributions is None and (out_dir / "item_distributions.csv").exists():
        item_distributions = pd.read_csv(out_dir / "item_distributions.csv", dtype={"item": str})
    results, distributions = [], []
    for survey, survey_populations in populations.items():
        instrument = load_instrument(survey)
        distributions.append(human_distributions(survey_populations, instrument))
        aggregates = [population for population in survey_populations if not population.has_respondents]
        if not aggregates:
            continue
        table = compare_survey(item_means, aggregates, survey, item_distributions)
        table.to_csv(out_dir / f"aggregate_similarity_{survey}.csv", index=False)
        results.append(table.assign(survey=survey))
    if distributions:
        pd.concat(distributions, ignore_index=True).to_csv(out_dir / "human_distributions.csv", index=False)
    return pd.concat(results, ignore_index=True) if results else pd.DataFrame(columns=[*COLUMNS, "survey"])
