"""How reliable the LLMs' own answers are, and how much their sampling noise moves the similarities.

An LLM's item mean over 20 samples is itself an estimate. Three things follow, computed where the data hold
the individual samples (sample mode: the per-value counts of ``item_distributions.csv`` together with
``n_valid``; the sample index plays no part, since every sample is a separate request):

1. **Minimum valid samples** (``apply_min_valid``): an item with fewer than ``min_valid`` valid samples in a
   condition (default 5 in sample mode; never more than the samples asked) is missing for that condition;
   the removed items are counted and the model is then excluded from the analyses that need the condition,
   with that reason. Paper-compatible mode keeps the paper's rule (an item is missing only with no valid
   sample). Distribution-mode rows (one distribution per item) are not affected.
2. **Split-half reliability** of each model x condition's item means: the valid samples of every item are
   split at random into two halves, the two half-means are correlated across items (Pearson) and stepped up
   with Spearman-Brown, 2r / (1 + r); the value is the mean over ``splits`` random splits.
3. **Similarity with its sampling noise**: each model x condition's mean cosine with each country's
   respondents, with a 95% percentile CI from a bootstrap that resamples both the model's samples (within
   each item) and the respondents.

Distribution mode. The item mean is the expectation of the model's answer distribution, computed exactly:
there are no samples to split and no sampling noise in the mean (its CI resamples respondents only). The
reliability comes from the distributions themselves: with each item's expectation m_i and variance s_i^2,
``reliability`` = var_i(m) / (var_i(m) + mean_i(s^2) / n), the reliability a mean of n sampled answers would
have (n = ``reference_samples``, 20 as in the paper). In sample mode the same formula uses the observed item
means and within-item variances, corrected for the noise in the means (the variance of true item means is
var_i(mean) - mean_i(s_i^2 / n_i)), with n the samples actually used.

Temperature. The sampling temperature is recorded per model (from the input when it has a ``temperature``
column, else from ``run_notes.json``); summary.json gives its mean by origin, because in the paper it is
confounded with origin (Chinese models .655 on average, US models .92).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis.vectors import HumanVectors, zscore_rows

DEFAULT_MIN_VALID = 5
REFERENCE_SAMPLES = 20
CONDITION = ["model", "origin", "language", "persona"]
RELIABILITY_COLUMNS = [*CONDITION, "mode", "temperature", "n_samples", "items_below_min_valid", "split_half",
                       "reliability", "population", "similarity", "ci_low", "ci_high", "ci_resamples"]


# -- minimum valid samples ------------------------------------------------------------------------------

def is_sample_mode(item_means: pd.DataFrame) -> pd.Series:
    """Per row: sample mode (several samples per item) rather than one distribution per item."""
    mode = item_means["mode"].astype(str) if "mode" in item_means.columns else pd.Series("sample", item_means.index)
    return (mode != "distribution") & (pd.to_numeric(item_means.get("n_total", 1), errors="coerce").fillna(1) > 1)


def apply_min_valid(item_means: pd.DataFrame, min_valid: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Item means with items below the minimum set missing (column ``below_min_valid`` marks them), and the
    count of removed items per model x survey x language x persona."""
    frame = item_means.copy()
    frame["below_min_valid"] = False
    if "n_valid" not in frame.columns or min_valid <= 1:
        return frame, pd.DataFrame(columns=["model", "survey", "language", "persona", "items_removed"])
    n_valid = pd.to_numeric(frame["n_valid"], errors="coerce")
    n_total = pd.to_numeric(frame.get("n_total", n_valid), errors="coerce")
    threshold = np.minimum(min_valid, n_total.fillna(min_valid))  # never more than the samples asked
    below = is_sample_mode(frame) & (n_valid > 0) & (n_valid < threshold) & frame["mean"].notna()
    frame.loc[below, "mean"] = np.nan
    frame["below_min_valid"] = below
    removed = (frame[below].groupby(["model", "survey", "language", "persona"]).size()
               .rename("items_removed").reset_index())
    return frame, removed


# -- samples from item_distributions ---------------------------------------------------------------

def sample_values(item_means: pd.DataFrame, distributions: pd.DataFrame | None, survey: str,
                  items: list[str]) -> dict[tuple, list[np.ndarray]]:
    """(model, origin, language, persona) -> per item (in ``items`` order) the valid sample values, rebuilt
    from the sample-mode shares in item_distributions.csv times n_valid. Only conditions in sample mode."""
    if distributions is None or distributions.empty or "n_valid" not in item_means.columns:
        return {}
    means = item_means[(item_means["survey"] == survey) & is_sample_mode(item_means)]
    dist = distributions[(distributions["survey"] == survey)]
    if "mode" in dist.columns:
        dist = dist[dist["mode"].astype(str) != "distribution"]
    if means.empty or dist.empty:
        return {}
    keyed = dist.assign(item=dist["item"].astype(str)).merge(
        means[["model", "origin", "language", "persona", "item", "n_valid"]].assign(item=means["item"].astype(str)),
        on=["model", "language", "persona", "item"])
    keyed["count"] = np.rint(keyed["probability"].astype(float) * keyed["n_valid"].astype(float)).astype(int)
    out: dict[tuple, list[np.ndarray]] = {}
    position = {item: i for i, item in enumerate(items)}
    for key, group in keyed.groupby(CONDITION, sort=True):
        per_item: list[np.ndarray] = [np.empty(0) for _ in items]
        for item, rows in group.groupby("item"):
            if item in position:
                per_item[position[item]] = np.repeat(rows["value"].to_numpy(dtype=float), rows["count"].to_numpy())
        out[tuple(str(k) for k in key)] = per_item
    return out


def _padded(per_item: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """items x max samples (NaN padded) and the number of samples per item."""
    sizes = np.array([len(v) for v in per_item])
    values = np.full((len(per_item), max(int(sizes.max(initial=0)), 1)), np.nan)
    for i, v in enumerate(per_item):
        values[i, :len(v)] = v
    return values, sizes


def split_half(per_item: list[np.ndarray], splits: int = 20, seed: int = 0) -> float:
    """Mean Spearman-Brown corrected split-half reliability of the item means over random splits."""
    values, sizes = _padded(per_item)
    if (sizes < 2).any() or len(sizes) < 3:
        return float("nan")
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(splits):
        keys = np.where(np.isnan(values), np.inf, rng.random(values.shape))
        rank = np.argsort(np.argsort(keys, axis=1), axis=1)
        first = rank < (sizes // 2)[:, None]
        second = (rank >= (sizes // 2)[:, None]) & (rank < sizes[:, None])
        a = np.nansum(np.where(first, values, 0), axis=1) / first.sum(axis=1)
        b = np.nansum(np.where(second, values, 0), axis=1) / second.sum(axis=1)
        if a.std() == 0 or b.std() == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        estimates.append(2 * r / (1 + r) if r > -1 else np.nan)
    return float(np.nanmean(estimates)) if estimates else float("nan")


def analytic_reliability(means: np.ndarray, variances: np.ndarray, n: np.ndarray | float,
                         correct_for_noise: bool) -> float:
    """var(true item means) / (that + mean(within-item variance) / n)."""
    error = np.asarray(variances) / np.asarray(n, dtype=float)
    true_var = np.var(means, ddof=1) - (np.mean(error) if correct_for_noise else 0.0)
    if not np.isfinite(true_var) or true_var + np.mean(error) <= 0:
        return float("nan")
    return float(max(true_var, 0.0) / (max(true_var, 0.0) + np.mean(error)))


# -- similarity with sampling noise ----------------------------------------------------------------

def _bootstrap_means(per_item: list[np.ndarray], replicates: int, rng: np.random.Generator) -> np.ndarray:
    """replicates x items: item means of samples drawn with replacement within each item."""
    values, sizes = _padded(per_item)
    draws = (rng.random((replicates, *values.shape)) * sizes[None, :, None]).astype(int)
    picked = np.take_along_axis(np.broadcast_to(values, (replicates, *values.shape)), draws, axis=2)
    mask = np.arange(values.shape[1])[None, None, :] < sizes[None, :, None]
    return np.where(mask, picked, 0).sum(axis=2) / np.maximum(sizes, 1)[None, :]


def _unit_z(llm_raw: np.ndarray) -> np.ndarray:
    """Rows z-scored and scaled to length 1 (NaN rows where the z-score is undefined)."""
    z, usable = zscore_rows(np.atleast_2d(llm_raw))
    z[~usable] = np.nan
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def reliability_table(item_means: pd.DataFrame, distributions: pd.DataFrame | None, humans: list[HumanVectors],
                      survey: str, items: list[str], *, removed: pd.DataFrame | None = None,
                      temperatures: dict[str, float] | None = None, replicates: int = 200, seed: int = 0,
                      reference_samples: int = REFERENCE_SAMPLES) -> pd.DataFrame:
    """One row per model x condition x country with respondents (RELIABILITY_COLUMNS)."""
    means = item_means[item_means["survey"] == survey].assign(item=lambda f: f["item"].astype(str))
    if means.empty:
        return pd.DataFrame(columns=RELIABILITY_COLUMNS)
    samples = sample_values(item_means, distributions, survey, items)
    dist_moments = _distribution_moments(distributions, survey, items)
    wide = means.pivot_table(index=CONDITION, columns="item", values="mean", aggfunc="first").reindex(columns=items)
    # reindexed on the conditions: pivot_table drops a condition whose counts are all unknown (the paper's files)
    n_valid = (means.pivot_table(index=CONDITION, columns="item", values="n_valid", aggfunc="first")
               .reindex(index=wide.index, columns=items) if "n_valid" in means else None)
    modes = means.groupby(CONDITION)["mode"].first() if "mode" in means else None
    removed_count: dict[tuple, int] = {}
    if removed is not None and len(removed):
        rows = removed[removed["survey"] == survey]
        removed_count = {(r.model, r.language, r.persona): int(r.items_removed) for r in rows.itertuples()}
    rng = np.random.default_rng(seed)
    population_units = {h.country: h.z / np.linalg.norm(h.z, axis=1, keepdims=True) for h in humans}
    # one set of respondent resamples per country, shared by every model and condition
    resampled = {country: _resampled_unit_means(units, replicates, rng) for country, units in population_units.items()}
    records = []
    for key, row in wide.iterrows():
        key = tuple(str(k) for k in key)
        model, origin, language, persona = key
        mode = str(modes.get(key, "sample")) if modes is not None else "sample"
        raw = row.to_numpy(dtype=float)
        per_item = samples.get(key)
        if per_item is not None and not all(len(v) for v in per_item):
            per_item = None  # an item without samples: nothing to split or resample
        split, rel = _condition_reliability(per_item, dist_moments.get((model, language, persona)), mode, raw,
                                            reference_samples, seed)
        llm_draws = (_unit_z(_bootstrap_means(per_item, replicates, rng))
                     if per_item is not None and replicates > 0 else None)
        n_used = n_valid.loc[key].to_numpy(dtype=float) if n_valid is not None else None
        llm_unit = None if np.isnan(raw).any() else _unit_z(raw)[0]  # the same for every country
        for country, units in list(population_units.items()) or [("", None)]:
            similarity, low, high, source = _similarity_with_ci(raw, units, resampled.get(country), llm_draws, mode,
                                                                llm_unit)
            records.append((model, origin, language, persona, mode, (temperatures or {}).get(model, np.nan),
                            _median(n_used), removed_count.get((model, language, persona), 0), split, rel, country,
                            similarity, low, high, source))
    return pd.DataFrame.from_records(records, columns=RELIABILITY_COLUMNS)


def _condition_reliability(per_item: list[np.ndarray] | None, moments: tuple[np.ndarray, np.ndarray] | None,
                           mode: str, raw: np.ndarray, reference_samples: int, seed: int) -> tuple[float, float]:
    """(split-half, analytic reliability) of one model x condition: from its samples, else (distribution
    mode) from its answer distributions, else unknown."""
    if per_item is not None:
        variances = np.array([v.var(ddof=1) if len(v) > 1 else np.nan for v in per_item])
        sizes = np.array([len(v) for v in per_item])
        return split_half(per_item, seed=seed), analytic_reliability(raw, variances, sizes, True)
    if mode == "distribution" and moments is not None:
        return float("nan"), analytic_reliability(*moments, reference_samples, False)
    return float("nan"), float("nan")


def _similarity_with_ci(raw: np.ndarray, units: np.ndarray | None, respondent_means: np.ndarray | None,
                        llm_draws: np.ndarray | None, mode: str,
                        llm_unit: np.ndarray | None = None) -> tuple[float, float, float, str]:
    """Mean cosine of a country's respondents with the LLM's item means, its 95% CI, and what the CI resamples.

    The mean over respondents of cos(h_i, l) is (mean of the unit vectors h_i/|h_i|) . l/|l|, so a replicate
    needs only the resampled mean unit vector (``respondent_means``) and, with samples, a resampled LLM vector
    (``llm_draws``, unit z-vectors)."""
    if units is None:
        return float("nan"), float("nan"), float("nan"), "none: no respondents"
    if np.isnan(raw).any():
        return float("nan"), float("nan"), float("nan"), "none: a missing item"
    llm = _unit_z(raw)[0] if llm_unit is None else llm_unit
    similarity = float(units.mean(axis=0) @ llm)
    if respondent_means is None:  # nothing resampled: the similarity without an interval
        return similarity, float("nan"), float("nan"), "none: no resampled respondents"
    if llm_draws is not None:
        replicated = np.einsum("bk,bk->b", respondent_means, llm_draws)
    else:
        replicated = respondent_means @ llm
    low, high = np.nanpercentile(replicated, [2.5, 97.5]) if np.isfinite(replicated).any() else (np.nan, np.nan)
    source = ("LLM samples and respondents" if llm_draws is not None else
              "respondents only (distribution mode: item means are exact expectations)" if mode == "distribution"
              else "respondents only (no per-sample data in the input)")
    return similarity, float(low), float(high), source


def _median(values: np.ndarray | None) -> float:
    """Median of the known values (NaN when none is known, e.g. the paper's files lack valid counts)."""
    if values is None or not np.isfinite(values).any():
        return float("nan")
    return float(np.nanmedian(values))


def _resampled_unit_means(units: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    if replicates <= 0:
        return units.mean(axis=0)[None, :]
    n = len(units)
    draws = rng.integers(0, n, size=(replicates, n)) + (np.arange(replicates) * n)[:, None]
    weights = np.bincount(draws.ravel(), minlength=replicates * n).reshape(replicates, n) / n
    return weights @ units


def _distribution_moments(distributions: pd.DataFrame | None, survey: str,
                          items: list[str]) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """(model, language, persona) -> (item expectations, item variances) of distribution-mode rows."""
    if distributions is None or distributions.empty or "mode" not in distributions.columns:
        return {}
    rows = distributions[(distributions["survey"] == survey) & (distributions["mode"].astype(str) == "distribution")]
    if rows.empty:
        return {}
    rows = rows.assign(item=rows["item"].astype(str), value=rows["value"].astype(float),
                       probability=rows["probability"].astype(float))
    conditions = list(rows.groupby(["model", "language", "persona"]).groups)
    rows = rows[rows["item"].isin(items)]
    keys = ["model", "language", "persona", "item"]
    grouped = rows.assign(weighted=rows["value"] * rows["probability"]).groupby(keys, sort=False)
    total = grouped["probability"].sum()
    mean = (grouped["weighted"].sum() / total).where(total > 0)
    row_mean = mean.reindex(pd.MultiIndex.from_frame(rows[keys])).to_numpy()
    spread = rows.assign(spread=(rows["value"].to_numpy() - row_mean) ** 2 * rows["probability"].to_numpy())
    variance = (spread.groupby(keys, sort=False)["spread"].sum() / total).where(total > 0)
    out = {}
    for model, language, persona in conditions:
        condition = (str(model), str(language), str(persona))
        at = pd.MultiIndex.from_tuples([(model, language, persona, item) for item in items], names=keys)
        out[condition] = (mean.reindex(at).to_numpy(dtype=float), variance.reindex(at).to_numpy(dtype=float))
    return out


# -- temperature -------------------------------------------------------------------------------------

def temperatures(item_means: pd.DataFrame, out_dir: Path | None) -> dict[str, float]:
    """Sampling temperature per model: the input's ``temperature`` column, else run_notes.json."""
    found: dict[str, float] = {}
    if "temperature" in item_means.columns:
        values = pd.to_numeric(item_means["temperature"], errors="coerce")
        for model, value in values.groupby(item_means["model"].astype(str)).first().items():
            if pd.notna(value):
                found[model] = float(value)
    notes = Path(out_dir) / "run_notes.json" if out_dir else None
    if notes is not None and notes.exists():
        try:
            models = json.loads(notes.read_text(encoding="utf-8")).get("models", {})
        except (json.JSONDecodeError, OSError, AttributeError):
            models = {}
        for model, entry in (models or {}).items():
            if isinstance(entry, dict) and entry.get("temperature") is not None and model not in found:
                found[str(model)] = float(entry["temperature"])
    return found


def temperature_summary(temps: dict[str, float], origins: dict[str, str]) -> dict:
    by_origin: dict[str, list[float]] = {}
    for model, value in temps.items():
        by_origin.setdefault(origins.get(model, "unknown"), []).append(value)
    means = {origin: float(np.mean(values)) for origin, values in sorted(by_origin.items())}
    summary: dict[str, object] = {"by_model": dict(sorted(temps.items())), "mean_by_origin": means}
    if len(means) > 1 and max(means.values()) - min(means.values()) > 0.05:
        summary["note"] = ("sampling temperature differs by origin (" + ", ".join(f"{o} {v:.3g}" for o, v in
                           means.items()) + "): it is confounded with origin, and higher temperature means "
                           "noisier item means")
    return summary
