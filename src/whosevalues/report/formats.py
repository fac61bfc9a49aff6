"""What the report knows about question formats (issue 18): which variants were asked, how far each moved each
model's answers (``robustness_<survey>.csv``), which models are format-sensitive, and which conclusions hold
across formats (``holds_across_formats`` in tables/conclusions.csv / summary.json).

Only reading and deciding here; the section's HTML is ``format_section.py``, the figure ``figures/formats.py``.
"""

from __future__ import annotations

import pandas as pd

from whosevalues.report.outdir import OutputDir

ORIGINAL = "original"
# The rule of robustness_<survey>.csv (docs/statistics.md): a shift as large as the spread between countries
SHIFT_THRESHOLD = 1.0
TAU_THRESHOLD = 0.5
ROBUSTNESS_COLUMNS = ["model", "variant", "language", "persona", "n_items", "mean_abs_shift", "shift_in_country_sd",
                      "item_correlation", "country_rank_tau", "format_sensitive"]
TRUE_TEXT = {"true", "1", "yes", "y", "t"}


def truthy(value) -> bool:
    """A format_sensitive cell as pandas read it: a bool, or the text true/false/1/0/yes/no."""
    if isinstance(value, bool):
        return value
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return False
    return str(value).strip().lower() in TRUE_TEXT


def read_robustness(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """robustness_<survey>.csv with format_sensitive as bool, or None when the file is absent or empty."""
    def read() -> pd.DataFrame | None:
        path = out.path / f"robustness_{survey}.csv"
        if not path.is_file():
            return None
        table = pd.read_csv(path, keep_default_na=False, na_values=[""],
                            dtype={"model": str, "variant": str, "language": str, "persona": str})
        if table.empty:
            return None
        table["format_sensitive"] = table["format_sensitive"].map(truthy) if "format_sensitive" in table else False
        for column in ("mean_abs_shift", "shift_in_country_sd", "item_correlation", "country_rank_tau", "n_items"):
            table[column] = pd.to_numeric(table[column], errors="coerce") if column in table else float("nan")
        return table[table["variant"] != ORIGINAL]
    return out.memo(f"robustness_{survey}", read)


def formats_entry(out: OutputDir, survey: str) -> dict:
    """summary.json ``surveys.<survey>.formats`` ({"variants": [...], "format_sensitive_models": [...]}) or {}."""
    entry = out.summary().get("surveys", {}).get(survey)
    formats = entry.get("formats") if isinstance(entry, dict) else None
    return formats if isinstance(formats, dict) else {}


def variants_asked(out: OutputDir, survey: str) -> list[str]:
    """Every variant asked for a survey, original first: from summary.json, robustness_<survey>.csv and the
    variant column of item_means.csv, whichever name them."""
    found = [str(v) for v in formats_entry(out, survey).get("variants") or []]
    table = read_robustness(out, survey)
    if table is not None:
        found += list(table["variant"].unique())
    means = out.item_means(all_formats=True)
    if means is not None and "variant" in means and "survey" in means:
        found += [str(v) for v in means.loc[means["survey"] == survey, "variant"].dropna().unique()]
    found = list(dict.fromkeys(found))
    return ([ORIGINAL] if ORIGINAL in found else []) + [v for v in found if v != ORIGINAL]


def has_variants(out: OutputDir) -> bool:
    """True when any survey was asked in a format besides the original."""
    return any(len(variants_asked(out, survey)) > 1 for survey in out.surveys())


def flagged_models(out: OutputDir, survey: str) -> list[str]:
    """The format-sensitive models: summary.json's list, else every model with a flagged row in the CSV."""
    listed = formats_entry(out, survey).get("format_sensitive_models")
    if isinstance(listed, list):
        return [str(m) for m in listed]
    table = read_robustness(out, survey)
    if table is None:
        return []
    return sorted(table.loc[table["format_sensitive"], "model"].unique())


def why_flagged(rows: pd.DataFrame) -> list[str]:
    """The reasons the flagged rows of one model give, in words (shift, ranking, or neither: sampling noise)."""
    flagged = rows[rows["format_sensitive"]]
    reasons = []
    big = flagged[flagged["shift_in_country_sd"] >= SHIFT_THRESHOLD]
    if len(big):
        reasons.append(f"{_variants(big)} moved its answers by at least the spread between countries "
                       f"(up to {big['shift_in_country_sd'].max():.2f} country SDs)")
    unstable = flagged[flagged["country_rank_tau"] < TAU_THRESHOLD]
    if len(unstable):
        reasons.append(f"{_variants(unstable)} reordered its ranking of countries (Kendall tau down to "
                       f"{unstable['country_rank_tau'].min():.2f})")
    rest = flagged.drop(index=big.index.union(unstable.index))
    if len(rest):
        reasons.append(f"{_variants(rest)} shifted its answers by more than its own sampling noise explains")
    return reasons


def _variants(rows: pd.DataFrame) -> str:
    names = sorted(rows["variant"].unique())
    return ("variant " if len(names) == 1 else "variants ") + ", ".join(names)


def model_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model: the largest shift in country SDs, the lowest rank tau and item correlation over its
    variants and conditions, how many of its rows are flagged, and whether any is."""
    grouped = table.groupby("model")
    summary = pd.DataFrame({
        "largest_shift_sd": grouped["shift_in_country_sd"].max(),
        "largest_shift": grouped["mean_abs_shift"].max(),
        "lowest_tau": grouped["country_rank_tau"].min(),
        "lowest_correlation": grouped["item_correlation"].min(),
        "flagged_rows": grouped["format_sensitive"].sum().astype(int),
        "rows": grouped.size(),
    })
    summary["flagged"] = summary["flagged_rows"] > 0
    return summary.reset_index()


def conclusions_across_formats(out: OutputDir) -> pd.DataFrame | None:
    """The conclusions with their ``holds_across_formats`` (yes / no / not tested), from summary.json's
    conclusions or tables/conclusions.csv; None when neither carries the column."""
    records = out.summary().get("conclusions") or []
    frame = pd.DataFrame(records) if records else None
    if frame is None or "holds_across_formats" not in frame:
        path = out.path / "tables" / "conclusions.csv"
        frame = pd.read_csv(path, keep_default_na=False, na_values=[""]) if path.is_file() else None
    if frame is None or "holds_across_formats" not in frame or frame.empty:
        return None
    frame = frame.copy()
    frame["holds_across_formats"] = frame["holds_across_formats"].fillna("not tested").astype(str).str.strip()
    return frame
