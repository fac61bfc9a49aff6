"""How much does the question format move a model's answers? ``robustness_<survey>.csv``.

One row per model x variant (other than ``original``) x language x persona, comparing the variant's item
means with ``original``'s in the same condition (values on the canonical scale):

- ``n_items``: items with a value in both;
- ``mean_abs_shift``: mean |variant - original| over those items;
- ``shift_in_country_sd``: the shift in units of the spread between countries (Khan et al.'s yardstick): per
  item |shift| / SD of the countries' item means, averaged. Where more countries are known by dimension
  means than by item means (MFQ-2: 2 countries with items, 21 with foundation means) the shift and the SD are
  taken at the dimension level (the mean of a dimension's items);
- ``item_correlation``: Pearson r of the two item vectors;
- ``country_rank_tau``: Kendall tau between the model's similarities to the countries (countries_<survey>.csv,
  at the level comparing the most countries) under the variant and under ``original``;
- ``format_sensitive``: ``shift_in_country_sd >= 1``, or ``country_rank_tau < .5``, or a shift the model's own
  sampling noise cannot explain: a permutation test, in sample mode, of the variant labels among the pooled
  samples of each item (statistic: mean |difference of item means|), its p Holm-adjusted over the survey's
  rows, < .05. Distribution-mode answers are exact distributions with no sampling noise, and item means
  without their samples (the paper's files) cannot be permuted: those rows are judged by the first two
  criteria only, and summary.json says so per row (``noise_test``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis import reliability
from whosevalues.analysis.countries import country_vectors, dimension_scores, headline_level
from whosevalues.analysis.families import holm_adjusted
from whosevalues.analysis.formats import VARIANT, has_other_variants, rows_of_variant, variants_of, with_variant
from whosevalues.humans.population import Population
from whosevalues.instruments import Instrument
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.special import kendall_tau_b

ROBUSTNESS_COLUMNS = ["model", "variant", "language", "persona", "n_items", "mean_abs_shift",
                      "shift_in_country_sd", "item_correlation", "country_rank_tau", "format_sensitive"]
CONDITION = ["model", "origin", "language", "persona"]
SPREAD_LIMIT = 1.0  # shift as large as the SD between countries
TAU_LIMIT = 0.5  # below: the country ranking is unstable
ALPHA = 0.05
PERMUTATIONS = 1999


# -- the yardstick: spread between countries -------------------------------------------------------------

def country_spread(populations: list[Population], instrument: Instrument) -> tuple[str | None, pd.Series]:
    """(level, SD of the country means per item or dimension) at the level with the most countries (2+)."""
    by_level: dict[str, list[pd.Series]] = {}
    for population in populations:
        for level, vector in country_vectors(population, instrument).items():
            if vector.notna().any():
                by_level.setdefault(level, []).append(vector)
    usable = {level: vectors for level, vectors in by_level.items() if len(vectors) >= 2}
    if not usable:
        return None, pd.Series(dtype=float)
    level = max(usable, key=lambda name: (len(usable[name]), name == "item"))
    return level, pd.concat(usable[level], axis=1).std(axis=1, ddof=1)


def shift_in_spread(variant: pd.Series, original: pd.Series, level: str | None, spread: pd.Series,
                    instrument: Instrument) -> float:
    """Mean over items (or dimensions) of |variant - original| / the countries' SD there."""
    if level is None:
        return float("nan")
    if level == "dimension":
        both = pd.concat([variant, original], axis=1).T
        both = dimension_scores(both, instrument)
        variant, original = both.iloc[0], both.iloc[1]
    ratio = ((variant - original).abs() / spread.where(spread > 0)).dropna()
    return float(ratio.mean()) if len(ratio) else float("nan")


# -- the model's own sampling noise --------------------------------------------------------------------

def permutation_p(variant_samples: list[np.ndarray], original_samples: list[np.ndarray],
                  permutations: int = PERMUTATIONS, seed: int = 0) -> float:
    """p of the mean |difference of item means| under random relabelling of each item's pooled samples
    ((1 + count) / (B + 1)); NaN when no item has samples on both sides."""
    pairs = [(a, b) for a, b in zip(variant_samples, original_samples) if len(a) and len(b)]
    if not pairs:
        return float("nan")
    rng = np.random.default_rng(seed)
    observed = np.mean([abs(a.mean() - b.mean()) for a, b in pairs])
    null = np.zeros(permutations)
    for a, b in pairs:
        pooled = np.tile(np.concatenate([a, b]), (permutations, 1))
        shuffled = rng.permuted(pooled, axis=1)
        null += np.abs(shuffled[:, :len(a)].mean(axis=1) - shuffled[:, len(a):].mean(axis=1))
    null /= len(pairs)
    return float((1 + np.sum(null >= observed - 1e-12)) / (permutations + 1))


def samples_by_variant(item_means: pd.DataFrame, distributions: pd.DataFrame | None, survey: str,
                       items: list[str]) -> dict[str, dict[tuple, list[np.ndarray]]]:
    """variant -> (model, origin, language, persona) -> per item the valid sample values (sample mode only)."""
    if distributions is None or distributions.empty:
        return {}
    return {variant: reliability.sample_values(rows_of_variant(item_means, variant),
                                               rows_of_variant(distributions, variant), survey, items)
            for variant in variants_of(item_means)}


# -- the table -----------------------------------------------------------------------------------------

def _rank_tau(countries: pd.DataFrame | None, key: dict, variant: str) -> float:
    """Kendall tau of the condition's similarities to the countries, variant against original."""
    if countries is None or countries.empty:
        return float("nan")
    rows = with_variant(countries)
    rows = rows[rows["level"] == headline_level(rows)]
    for column in ("model", "language", "persona"):
        rows = rows[rows[column].astype(str) == str(key[column])]
    wide = rows.pivot_table(index="country", columns=VARIANT, values="similarity", aggfunc="first")
    if variant not in wide or ORIGINAL not in wide:
        return float("nan")
    both = wide[[variant, ORIGINAL]].dropna()
    if len(both) < 2:
        return float("nan")
    return kendall_tau_b(both[variant], both[ORIGINAL])


def robustness_table(item_means: pd.DataFrame, populations: list[Population], instrument: Instrument,
                     survey: str, countries: pd.DataFrame | None = None,
                     distributions: pd.DataFrame | None = None, seed: int = 0,
                     permutations: int = PERMUTATIONS) -> tuple[pd.DataFrame, list[dict]]:
    """ROBUSTNESS_COLUMNS, and per row why it is (not) flagged (criteria, noise test p and how)."""
    items = instrument.item_ids
    means = with_variant(item_means[item_means["survey"].astype(str) == survey])
    means = means.assign(item=means["item"].astype(str))
    wide = means.pivot_table(index=[*CONDITION, VARIANT], columns="item", values="mean",
                             aggfunc="first").reindex(columns=items)
    level, spread = country_spread(populations, instrument)
    samples = samples_by_variant(means, distributions, survey, items)
    records, details = [], []
    for (*condition, variant), values in wide.iterrows():
        if variant == ORIGINAL:
            continue
        key = dict(zip(CONDITION, condition))
        original_key = (*condition, ORIGINAL)
        if original_key not in wide.index:
            details.append({**key, "variant": variant, "skipped": "no original answers in this condition"})
            continue
        original = wide.loc[original_key]
        both = values.notna() & original.notna()
        shift = (values[both] - original[both]).abs()
        correlation = (float(np.corrcoef(values[both], original[both])[0, 1])
                       if both.sum() > 2 and values[both].std() > 0 and original[both].std() > 0 else np.nan)
        in_sd = shift_in_spread(values, original, level, spread, instrument)
        tau = _rank_tau(countries, key, variant)
        variant_samples = samples.get(variant, {}).get(tuple(str(c) for c in condition))
        original_samples = samples.get(ORIGINAL, {}).get(tuple(str(c) for c in condition))
        p = (permutation_p(variant_samples, original_samples, permutations, seed)
             if variant_samples and original_samples else np.nan)
        records.append([key["model"], variant, key["language"], key["persona"], int(both.sum()),
                        float(shift.mean()) if len(shift) else np.nan, in_sd, correlation, tau])
        details.append({**key, "variant": variant, "p_sampling": p, "spread_level": level,
                        "noise_test": ("permutation of variant labels among each item's samples" if np.isfinite(p)
                                       else "not possible: no per-sample answers on both sides (distribution "
                                            "mode has no sampling noise; item means alone cannot be permuted)")})
    table = pd.DataFrame.from_records(records, columns=ROBUSTNESS_COLUMNS[:-1])
    return _flag(table, [d for d in details if "skipped" not in d]), details


def _flag(table: pd.DataFrame, details: list[dict]) -> pd.DataFrame:
    """format_sensitive from the three criteria (Holm over the rows' noise-test p values); the reasons go
    into ``details`` (same order as the table's rows)."""
    p = np.array([d["p_sampling"] for d in details], dtype=float)
    adjusted = np.full(len(p), np.nan)
    tested = np.isfinite(p)
    if tested.any():
        adjusted[tested] = holm_adjusted(p[tested])
    reasons_per_row = []
    for index, row in enumerate(table.itertuples()):
        reasons = []
        if np.isfinite(row.shift_in_country_sd) and row.shift_in_country_sd >= SPREAD_LIMIT:
            reasons.append(f"shift {row.shift_in_country_sd:.2f} SD between countries (>= {SPREAD_LIMIT:g})")
        if np.isfinite(row.country_rank_tau) and row.country_rank_tau < TAU_LIMIT:
            reasons.append(f"country ranking tau {row.country_rank_tau:.2f} (< {TAU_LIMIT:g})")
        if np.isfinite(adjusted[index]) and adjusted[index] < ALPHA:
            reasons.append(f"sampling noise cannot explain the shift (Holm p {adjusted[index]:.3g})")
        details[index].update(p_sampling_holm=adjusted[index], reasons=reasons)
        reasons_per_row.append(bool(reasons))
    return table.assign(format_sensitive=pd.Series(reasons_per_row, index=table.index, dtype=bool))


def write_robustness(item_means: pd.DataFrame, populations: list[Population], instrument: Instrument,
                     survey: str, out_dir: Path, countries: pd.DataFrame | None = None,
                     distributions: pd.DataFrame | None = None, seed: int = 0) -> dict | None:
    """Write ``robustness_<survey>.csv`` when variants other than original were asked; return summary.json's
    ``surveys.<survey>.formats`` (None without other variants)."""
    survey_means = item_means[item_means["survey"].astype(str) == survey]
    if not has_other_variants(survey_means):
        return None
    table, details = robustness_table(item_means, populations, instrument, survey, countries, distributions, seed)
    table.to_csv(Path(out_dir) / f"robustness_{survey}.csv", index=False)
    flagged = sorted(set(table.loc[table["format_sensitive"], "model"].astype(str)))
    level = next((d.get("spread_level") for d in details if "spread_level" in d), None)
    return {"file": f"robustness_{survey}.csv", "variants": variants_of(survey_means),
            "format_sensitive_models": flagged,
            "models": sorted(set(table["model"].astype(str))),
            "spread_level": level,
            "rule": (f"format_sensitive when shift_in_country_sd >= {SPREAD_LIMIT:g}, country_rank_tau < "
                     f"{TAU_LIMIT:g}, or (sample mode) a permutation test of the variant labels among each "
                     f"item's samples gives Holm p < {ALPHA:g}"),
            "rows": details}
