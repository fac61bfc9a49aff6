"""Audits run whenever a population loads: is this a plausible set of real respondents?

For respondent-level data: n, Cronbach's alpha per dimension (MFQ-2 foundation; for a survey whose items are
their own dimensions, as WVS, one alpha over all items), straight-liners, item means and SDs. Alpha near zero
for every dimension means the items of one "respondent" do not hang together, which is what happens when rows
of different people share an id (grouping the bundled MFQ-2 file by its Participant label does exactly that).
For aggregates (distributions or means only): n and item means.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from whosevalues.humans.population import Population, PopulationWarning
from whosevalues.instruments import Instrument

# The label grouping of the bundled MFQ-2 file gives alphas between -.28 and .14; real respondents .72-.90.
NEAR_ZERO_ALPHA = 0.3
ALL_ITEMS = "all items"


def cronbach_alpha(answers: pd.DataFrame | np.ndarray) -> float:
    """Cronbach's alpha of the columns (items) over complete rows; NaN with fewer than 2 items or rows."""
    matrix = np.asarray(answers, dtype=float)
    matrix = matrix[~np.isnan(matrix).any(axis=1)]
    n_rows, n_items = matrix.shape
    if n_items < 2 or n_rows < 2:
        return float("nan")
    total_variance = matrix.sum(axis=1).var(ddof=1)
    if total_variance == 0:
        return float("nan")
    item_variances = matrix.var(axis=0, ddof=1).sum()
    return float(n_items / (n_items - 1) * (1 - item_variances / total_variance))


def alpha_by_dimension(responses: pd.DataFrame, instrument: Instrument) -> dict[str, float]:
    """Alpha of each dimension's items; one alpha over all items when every item is its own dimension."""
    dimension_of = instrument.dimension_of()
    groups: dict[str, list[str]] = {}
    for item_id in responses.columns:
        groups.setdefault(dimension_of.get(item_id, item_id), []).append(item_id)
    if all(len(items) < 2 for items in groups.values()):
        groups = {ALL_ITEMS: list(responses.columns)}
    return {dimension: cronbach_alpha(responses[items]) for dimension, items in groups.items()}


def straight_liners(responses: pd.DataFrame) -> pd.Series:
    """True for respondents whose answered items all carry the same value (their z-scores are undefined)."""
    values = responses.to_numpy(dtype=float)
    answered = (~np.isnan(values)).sum(axis=1)
    same = np.zeros(len(values), dtype=bool)
    has_any = answered > 0
    same[has_any] = np.nanmax(values[has_any], axis=1) == np.nanmin(values[has_any], axis=1)
    return pd.Series(same & (answered >= 2), index=responses.index)


def scrambled_ids_warning(alphas: dict[str, float], dimension_kind: str, source: str = "") -> str | None:
    """In the terms of the data at hand (its source), not of the bundled file where this was first seen."""
    finite = [a for a in alphas.values() if np.isfinite(a)]
    if not finite or max(finite) >= NEAR_ZERO_ALPHA:
        return None
    return (f"Cronbach's alpha is near zero for every {dimension_kind} ({min(finite):.2f} to {max(finite):.2f}): "
            "the respondent ids are probably scrambled (answers of different people grouped as one respondent); "
            f"check how the respondent ids{f' in {source}' if source else ''} were made")


def _rounded(values: pd.Series) -> dict[str, float]:
    return {str(key): round(float(value), 6) for key, value in values.items() if pd.notna(value)}


def audit_respondents(responses: pd.DataFrame, instrument: Instrument, source: str = "") -> dict:
    alphas = alpha_by_dimension(responses, instrument)
    audit: dict[str, Any] = {
        "kind": "respondents",
        "n": int(len(responses)),
        "alpha": {dimension: (round(a, 4) if np.isfinite(a) else None) for dimension, a in alphas.items()},
        "alpha_scope": ALL_ITEMS if list(alphas) == [ALL_ITEMS] else instrument.dimension_kind,
        "straight_liners": int(straight_liners(responses).sum()),
        "item_means": _rounded(responses.mean()),
        "item_sds": _rounded(responses.std(ddof=1)),
        "warnings": [],
    }
    warning = scrambled_ids_warning(alphas, instrument.dimension_kind, source)
    if warning:
        audit["warnings"].append(warning)
    return audit


def audit_aggregate(population: Population) -> dict:
    if population.level == "dimension":
        return {"kind": "dimension means", "n": int(population.audit.get("n", 0)), "item_means": {},
                "dimension_means": _rounded(population.dimension_means),
                "warnings": list(population.audit.get("warnings", []))}
    audit = {"kind": "distributions" if population.distributions is not None else "means",
             "n": int(population.audit.get("n", 0)),
             "item_means": _rounded(population.item_means()),
             "warnings": list(population.audit.get("warnings", []))}
    if population.distributions is not None:
        values = population.distributions.columns.astype(float).to_numpy()
        shares = population.distributions.to_numpy(dtype=float)
        shares = shares / shares.sum(axis=1, keepdims=True)
        means = shares @ values
        variances = shares @ values**2 - means**2
        audit["item_sds"] = _rounded(pd.Series(np.sqrt(np.maximum(variances, 0)), index=population.distributions.index))
    return audit


def run_audit(population: Population, instrument: Instrument) -> Population:
    """Fill ``population.audit``, keeping the warnings loading recorded, and emit the audit's own warnings."""
    loading_warnings = list(population.audit.get("warnings", []))
    if population.has_respondents:
        audit = audit_respondents(population.responses, instrument, population.source)
        for message in audit["warnings"]:
            warnings.warn(f"{population.survey} {population.country}: {message}", PopulationWarning, stacklevel=3)
        audit["warnings"] = loading_warnings + audit["warnings"]
    else:
        audit = audit_aggregate(population)
    population.audit = audit
    return population


def describe(population: Population) -> dict:
    """A JSON-ready summary for populations.json: n, source, loading steps, audit."""
    return {"survey": population.survey, "country": population.country, "n": population.n,
            "source": population.source, "respondent_level": population.has_respondents,
            "steps": [{"step": step, "count": int(count)} for step, count in population.steps],
            "audit": population.audit}


def human_item_stats(populations: list[Population], instrument: Instrument) -> pd.DataFrame:
    """survey, country, item, dimension, mean, sd, z_mean, n (docs/output.md human_item_stats.csv).

    z_mean is the mean over respondents of the within-respondent z-score (sample SD; straight-liners skipped);
    NaN for aggregate populations, which have no respondents to z-score."""
    dimension_of = instrument.dimension_of()
    frames = []
    for population in populations:
        means = population.item_means()
        sds = pd.Series(population.audit.get("item_sds", {}), dtype=float).reindex(means.index)
        if population.responses is not None:  # has_respondents
            answers = population.responses.loc[~straight_liners(population.responses)]
            z = answers.sub(answers.mean(axis=1), axis=0).div(answers.std(axis=1, ddof=1), axis=0)
            z_mean, counts = z.mean(), population.responses.notna().sum()
        else:
            z_mean, counts = pd.Series(np.nan, index=means.index), pd.Series(population.n, index=means.index)
        frames.append(pd.DataFrame({
            "survey": population.survey, "country": population.country, "item": means.index.astype(str),
            "dimension": [dimension_of.get(str(item), str(item)) for item in means.index],
            "mean": means.to_numpy(), "sd": sds.to_numpy(), "z_mean": z_mean.reindex(means.index).to_numpy(),
            "n": counts.reindex(means.index).to_numpy()}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["survey", "country", "item", "dimension", "mean", "sd", "z_mean", "n"])


def human_distributions(populations: list[Population], instrument: Instrument) -> pd.DataFrame:
    """survey, country, item, value, proportion for every population with respondents or distributions."""
    values = instrument.scale.values
    frames = []
    for population in populations:
        if population.responses is not None:  # has_respondents
            shares = population.responses.apply(
                lambda column: column.value_counts(normalize=True).reindex(values, fill_value=0.0)).T
        elif population.distributions is not None:
            shares = population.distributions.div(population.distributions.sum(axis=1), axis=0)
            shares.columns = shares.columns.astype(int)
        else:
            continue
        long = shares.rename_axis(index="item", columns="value").stack().rename("proportion").reset_index()
        long.insert(0, "country", population.country)
        long.insert(0, "survey", population.survey)
        frames.append(long)
    columns = ["survey", "country", "item", "value", "proportion"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def format_summary(population: Population) -> list[str]:
    """Plain-text lines for the terminal (``whosevalues humans``): n, loading steps, audit, warnings."""
    audit = population.audit
    lines = [f"{population.survey} {population.country}: n = {population.n} ({population.source})"]
    lines += [f"  {step}: {count}" for step, count in population.steps]
    if population.has_respondents:
        alphas = ", ".join(f"{name} {value:.2f}" if value is not None else f"{name} n/a"
                           for name, value in audit["alpha"].items())
        lines.append(f"  Cronbach's alpha ({audit['alpha_scope']}): {alphas}")
        lines.append(f"  straight-liners: {audit['straight_liners']}")
    lines += [f"  warning: {message}" for message in audit.get("warnings", [])]
    return lines
