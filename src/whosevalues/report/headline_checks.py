"""What a headline must say before it claims whose values a model expresses (issue 18):

- ``chance_bands`` / ``near_chance``: a model whose similarity to each compared population lies inside a
  random respondent's 95% range (the ``random`` rows of baselines_<survey>.csv) is no further from chance than
  a respondent who answers at random, whatever the sign of its difference;
- ``across_formats``: does "closer to A than to B" keep its direction in every question format asked
  (countries_<survey>.csv, one row per variant: the mean respondent cosine where the population has
  respondents, else the similarity of the mean vectors)?
- ``origin_comparisons``: the paper's origin conclusions (tables/conclusions.csv) and whether each holds
  across formats.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.outdir import OutputDir

ORIGINAL = "original"


def chance_bands(out: OutputDir, survey: str, unit: str) -> dict[str, tuple[float, float, float]]:
    """population -> (mean, low, high) of the random respondent on the headline's metric: the mean cosine
    with the population's respondents (``unit`` respondent), else with its mean vector (item level)."""
    path = out.path / f"baselines_{survey}.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "versus" not in table:
        return {}
    metric = "respondent_cosine" if unit == "respondent" else "similarity"
    rows = table[(table["country"] == "random") & (table["metric"] == metric) & (table["level"] == "item")]
    return {str(r.versus): (float(r.null_mean), float(r.null_low), float(r.null_high)) for r in rows.itertuples()}


def near_chance(grid: pd.DataFrame, bands: dict[str, tuple[float, float, float]]) -> list[str]:
    """Models (rows of ``grid``: model x population mean similarity) inside the random band of every
    population compared (columns) that has one."""
    with_band = [p for p in grid.columns if p in bands]
    if not with_band:
        return []
    found = []
    for model, row in grid[with_band].iterrows():
        values = row.dropna()
        if len(values) and all(bands[p][1] <= v <= bands[p][2] for p, v in values.items()):
            found.append(str(model))
    return found


def band_text(bands: dict[str, tuple[float, float, float]], populations: list[str]) -> str:
    return ", ".join(f"{p} {bands[p][1]:.2f} to {bands[p][2]:.2f}" for p in populations if p in bands)


def _read_countries(out: OutputDir, survey: str) -> pd.DataFrame | None:
    path = out.path / f"countries_{survey}.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    return table if "variant" in table and len(table) else None


def across_formats(out: OutputDir, survey: str, models: list[str], top: str, other: str) -> tuple[str, str]:
    """(yes / no / not tested, a sentence) for "the models are closer to ``top`` than to ``other``"."""
    table = _read_countries(out, survey)
    if table is None or set(table["variant"].astype(str)) <= {ORIGINAL}:
        return "not tested", ""
    rows = table[table["model"].astype(str).isin(models) & (table["level"] == "item")
                 & table["country"].isin([top, other])]
    rows = rows[rows["persona"].astype(str) == "none"] if (rows["persona"].astype(str) == "none").any() else rows
    metric = "respondent_cosine" if rows["respondent_cosine"].notna().all() else "similarity"
    per_variant = rows.pivot_table(index=["variant", "model"], columns="country", values=metric, aggfunc="mean")
    if top not in per_variant or other not in per_variant:
        return "not tested", ""
    difference = (per_variant[top] - per_variant[other]).groupby(level="variant").mean()
    others = [v for v in difference.index if v != ORIGINAL]
    reversed_in = [v for v in others if not np.isfinite(difference[v]) or difference[v] <= 0]
    # Name the order checked: the headline before it may already have said the order means nothing (chance).
    subject = "the model is" if len(models) == 1 else "the models are, on average,"
    if reversed_in:
        return "no", (f" The order {top} before {other} does not hold across question formats: under "
                      f"{', '.join(reversed_in)} {subject} not closer to {top} than to {other}.")
    return "yes", f" The order {top} before {other} holds in every question format asked ({', '.join(others)})."


def origin_comparisons(out: OutputDir, survey: str) -> str:
    """The paper's origin conclusions of this survey that were checked across formats, in one sentence."""
    path = out.path / "tables" / "conclusions.csv"
    if not path.is_file():
        return ""
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "holds_across_formats" not in table:
        return ""
    rows = table[(table["survey"] == survey) & table["term"].astype(str).str.contains("origin")
                 & (table["holds_across_formats"] != "not tested")]
    if rows.empty:
        return ""
    parts = [f"{r.analysis.upper()} {r.term}: {r.holds_across_formats}" for r in rows.itertuples()]
    return " Origin comparisons holding across question formats: " + "; ".join(parts) + "."
