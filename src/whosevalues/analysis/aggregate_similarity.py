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


def _llm_distributions(item_distributions: pd.DataFrame | None, survey: str) -> dict[tuple, pd.Series]:
    """(model, language, persona, item) -> probability by value, from item_distributions.csv rows."""
    if item_distributions is None or item_distributions.empty:
        return {}
    rows = item_distributions[item_distributions["survey"] == survey]
    rows = rows_of_variant(rows, ORIGINAL)  # the paper's prompt, as the item means compared here
    keys = ["model", "language", "persona", "item"]
    return {tuple(str(k) for k in key): group.set_index("value")["probability"].astype(float)
            for key, group in rows.groupby(keys, sort=False)}


def wasserstein_similarity(llm_means: pd.Series, human: pd.DataFrame, sampled: dict, condition: tuple,
                           span: float) -> tuple[float, str]:
    """Mean over items of 1 - W/span; ``human``: items x values proportions. Also which LLM distribution was used."""
    values = human.columns.astype(float).to_numpy()
    similarities, kinds = [], set()
    for item, mean in llm_means.items():
        if item not in human.index or pd.isna(mean) or human.loc[item].isna().all():
            continue
        distribution = sampled.get((*condition, str(item)))
        if distribution is not None and distribution.sum() > 0:
            distance = wasserstein_distance(distribution.index.astype(float), values,
                                            distribution.to_numpy(), human.loc[item].to_numpy())
            kinds.add(SAMPLED)
        else:
            distance = wasserstein_distance([float(mean)], values, None, human.loc[item].to_numpy())
            kinds.add(POINT_MASS)
        similarities.append(1 - distance / span)
    kind = kinds.pop() if len(kinds) == 1 else ("mixed" if kinds else "")
    return (float(np.mean(similarities)) if similarities else float("nan")), kind


def compare_survey(item_means: pd.DataFrame, populations: list[Population], survey: str,
                   item_distributions: pd.DataFrame | None = None) -> pd.DataFrame:
    instrument = load_instrument(survey)
    span = float(instrument.scale.max - instrument.scale.min)
    items = instrument.item_ids
    rows = item_means[item_means["survey"] == survey].copy()
    rows["item"] = rows["item"].astype(str)
    llm = rows.pivot_table(index=CONDITION, columns="item", values="mean", aggfunc="first").reindex(columns=items)
    sampled = _llm_distributions(item_distributions, survey)
    records = []
    for population in populations:
        human_means = population.item_means().reindex(items).to_numpy(dtype=float)
        for condition, llm_means in llm.iterrows():
            cosine, n_items = cosine_of_means(llm_means.to_numpy(dtype=float), human_means)
            if population.distributions is not None:
                key = (str(condition[0]), str(condition[2]), str(condition[3]))
                similarity, kind = wasserstein_similarity(llm_means, population.distributions, sampled, key, span)
            else:
                similarity, kind = float("nan"), ""
            records.append((*condition, population.country, cosine, similarity, n_items, kind))
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
