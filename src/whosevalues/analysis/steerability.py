"""Steerability: does telling a model "you are from X" move it toward X? ``steerability_<survey>.csv``.

Read off the countries table (``countries_<survey>.csv``), so the two always agree: for each model x language x
persona country that has human data, the similarity to the persona's own country with that persona and with
no persona, the gain (persona minus none), and the own country's rank under each.

One level per persona country: the level that compares the most countries among those it appears at (MFQ-2:
the dimension level, where all 21 countries are; WVS: the item level). Extra columns ``level`` and
``n_countries`` say which, and how many countries the ranks are out of.

The share of persona countries whose similarity the persona raised is Tao et al.'s (2024) measure of cultural
prompting (they found 71-81% for GPT-4-class models over 107 countries).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from whosevalues.analysis.countries import NONE
from whosevalues.analysis.formats import rows_of_variant
from whosevalues.instruments.variants import ORIGINAL

CONDITION = ["model", "origin", "language"]
COLUMNS = [*CONDITION, "persona", "similarity_persona", "similarity_none", "gain", "rank_persona", "rank_none"]
EXTRA_COLUMNS = ["level", "n_countries"]


def level_of(countries: pd.DataFrame, country: str) -> str | None:
    """The level comparing the most countries among the levels where ``country`` has data."""
    counts = countries.groupby("level")["country"].nunique()
    levels = countries.loc[countries["country"] == country, "level"].unique()
    return max(levels, key=lambda level: (counts[level], level == "item")) if len(levels) else None


def steerability(countries: pd.DataFrame) -> pd.DataFrame:
    """One row per model x language x persona country that has data and a persona-free condition to compare."""
    frames = []
    for persona in sorted(set(countries["persona"]) - {NONE}):
        level = level_of(countries, persona)
        if level is None:
            continue
        at_level = countries[countries["level"] == level]
        own = at_level[at_level["country"] == persona]
        with_persona = own[own["persona"] == persona][[*CONDITION, "similarity", "rank"]]
        without = own[own["persona"] == NONE][[*CONDITION, "similarity", "rank"]]
        pair = with_persona.merge(without, on=CONDITION, suffixes=("_persona", "_none"))
        frames.append(pair.assign(persona=persona, level=level, n_countries=int(at_level["country"].nunique())))
    if not frames:
        return pd.DataFrame(columns=COLUMNS + EXTRA_COLUMNS)
    table = pd.concat(frames, ignore_index=True)
    table["gain"] = table["similarity_persona"] - table["similarity_none"]
    return table[COLUMNS + EXTRA_COLUMNS].sort_values(["model", "language", "persona"]).reset_index(drop=True)


def share_raised(table: pd.DataFrame) -> dict:
    """Share of persona countries whose similarity the persona raised: overall, per model, per language, and
    per persona country (there: the share of models x languages)."""
    def share(frame: pd.DataFrame) -> dict:
        valid = frame["gain"].dropna()
        return {"share_raised": float((valid > 0).mean()) if len(valid) else None, "n": int(len(valid)),
                "mean_gain": float(valid.mean()) if len(valid) else None}

    return {"overall": share(table),
            "by_model": {model: share(group) for model, group in table.groupby("model", sort=True)},
            "by_language": {language: share(group) for language, group in table.groupby("language", sort=True)},
            "by_persona": {persona: share(group) for persona, group in table.groupby("persona", sort=True)}}


def steerability_sentence(summary: dict) -> str:
    overall = summary["overall"]
    if not overall["n"]:
        return "No persona country could be compared with the same model and language without a persona."
    models = summary["by_model"]
    return (f"A national persona raised the similarity to its own country in {overall['share_raised']:.0%} of "
            f"{overall['n']} model x language x country cases (mean gain {overall['mean_gain']:+.3f}; "
            f"{len(models)} model{'s' if len(models) != 1 else ''}); Tao et al. (2024) report 71-81% of countries.")


def write_steerability(out_dir: Path, surveys: list[str]) -> dict:
    """Write ``steerability_<survey>.csv`` wherever personas include countries with data; return the summary."""
    out_dir = Path(out_dir)
    result = {}
    for survey in surveys:
        path = out_dir / f"countries_{survey}.csv"
        if not path.exists():
            continue
        countries = rows_of_variant(pd.read_csv(path, keep_default_na=False, na_values=[""]), ORIGINAL)
        countries["rank"] = countries["rank"].astype("Int64")
        table = steerability(countries)
        if table.empty:
            continue
        table.to_csv(out_dir / f"steerability_{survey}.csv", index=False)
        summary = share_raised(table)
        summary["sentence"] = steerability_sentence(summary)
        summary["file"] = f"steerability_{survey}.csv"
        summary["personas"] = sorted(table["persona"].unique())
        result[survey] = summary
    return result

