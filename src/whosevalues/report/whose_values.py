"""The report's "Whose values" section: every model against every country, and steerability.

It comes first in the report when more than two countries were compared (``world_first``), after the figures
otherwise. It reads ``countries_<survey>.csv``, ``steerability_<survey>.csv`` and summary.json, shows the
ranked dot plot and the persona x country heatmap (``figures/world.py``), and states in one sentence per model
which countries it is closest to and furthest from.
"""

from __future__ import annotations

import pandas as pd

from whosevalues.report import render
from whosevalues.report.figures import FigureResult
from whosevalues.report.figures.world import read_countries
from whosevalues.report.outdir import OutputDir, display_name, original_format, survey_label

NO_MAP = ("No world map: no well-kept Python package ships country shapes that need no download when the "
          "report is drawn (cartopy and geodatasets download Natural Earth, geopandas 1.x no longer bundles it, "
          "plotly fetches its shapes from a CDN), so the ranking above shows every country instead.")


def countries_compared(out: OutputDir) -> int:
    """The most countries any survey compared the models with."""
    counts = [table["country"].nunique() for survey in out.surveys()
              if (table := read_countries(out, survey)) is not None]
    return max(counts, default=0)


def is_world_figure(figure: FigureResult) -> bool:
    """The ranking and steerability figures: shown in this section, not among the paper's figures."""
    return figure.name.startswith(("countries_", "steerability_"))


def world_first(out: OutputDir) -> bool:
    return countries_compared(out) > 2


def whose_values_data(out: OutputDir, figures: list[FigureResult], first: bool) -> dict | None:
    """What the section shows (templates/sections/whose_values.html.j2) when its place is ``first`` (more than
    two countries) or not; None elsewhere. ``figures``: what write_figures drew (the ranking and steerability
    figures are taken from them)."""
    if first != world_first(out) or countries_compared(out) == 0:
        return None
    summary = out.summary().get("surveys", {})
    drawn = {f.name: f for f in figures}
    surveys = []
    for survey in out.surveys():
        table = read_countries(out, survey)
        if table is None:
            continue
        entry = summary.get(survey, {})
        surveys.append({
            "label": survey_label(survey), "survey": survey,
            "coverage": _coverage(table, entry.get("countries", {}).get("sources", [])),
            "models": _model_sentences(entry.get("countries", {}).get("models", [])),
            "distributions": distribution_alignment(table),
            "ranking": render.figure(drawn.get(f"countries_{survey}")),
            "steerability": _steerability(entry.get("steerability"), drawn.get(f"steerability_{survey}"), survey)})
    return {"surveys": surveys, "no_map": NO_MAP}


def _coverage(table: pd.DataFrame, sources: list[dict]) -> dict:
    """How many countries at which level, and where each country's data come from."""
    levels = [f"{group['country'].nunique()} at the {level} level"
              for level, group in table.groupby("level", sort=True)]
    return {"levels": "; ".join(levels),
            "sources": [{"countries": ", ".join(s["countries"]), "level": s["level"], "source": s["source"]}
                        for s in sources],
            "mixed_sources": len({s["source"] for s in sources}) > 1}


def lead_sentence(models: list[dict]) -> str | None:
    """Which country is most often the closest (and the furthest) across models."""
    if len(models) < 2:
        return None
    closest = pd.Series([m["closest"][0][0] for m in models]).value_counts()
    furthest = pd.Series([m["furthest"][0][0] for m in models]).value_counts()
    return (f"Of {len(models)} models, {_count(closest.iloc[0])} closest to {closest.index[0]} and "
            f"{_count(furthest.iloc[0])} furthest from {furthest.index[0]} "
            f"({models[0]['level']} level, {models[0]['n_countries']} countries, "
            f"{'no persona' if models[0]['personas'] == ['none'] else 'personas ' + ', '.join(models[0]['personas'])}, "
            f"similarity averaged over prompts in {', '.join(models[0]['languages'])}).")


def _count(n: int) -> str:
    return f"{n} is" if n == 1 else f"{n} are"


def _model_sentences(models: list[dict]) -> dict | None:
    """The lead sentence over models and one sentence per model; None when no model could be compared."""
    if not models:
        return None
    return {"lead": lead_sentence(models),
            "sentences": [_short(m).replace(m["model"], display_name(m["model"]), 1)
                          for m in sorted(models, key=lambda m: (m["origin"], display_name(m["model"])))]}


def _short(model: dict) -> str:
    """The sentence without its "(level, countries, persona, languages)" tail, which the lead states once."""
    sentence = model["sentence"]
    return sentence.rsplit(" (", 1)[0] + "." if sentence.endswith(").") and model["n_countries"] > 1 else sentence


DISTRIBUTION_COLUMNS = {"js_similarity": "1 - JS distance", "representativeness": "Representativeness",
                        "entropy_model": "Entropy (model)", "entropy_country": "Entropy (country)",
                        "variance_ratio": "Variance ratio"}


def distribution_data(table: pd.DataFrame) -> pd.DataFrame | None:
    """Per model: the distributional-alignment columns of countries_<survey>.csv (original format, no persona,
    mean over prompt languages and items' level rows) for CHN and USA and the mean over every country that has
    them; None when the file has none of the columns."""
    columns = [c for c in DISTRIBUTION_COLUMNS if c in table and pd.to_numeric(table[c], errors="coerce").notna().any()]
    if not columns:
        return None
    rows = original_format(table)
    rows = rows[rows["persona"].astype(str) == "none"] if (rows["persona"].astype(str) == "none").any() else rows
    numeric = {c: pd.to_numeric(rows[c], errors="coerce") for c in columns}
    rows = rows.assign(**numeric).dropna(subset=columns, how="all")
    if rows.empty:
        return None
    per_country = rows.groupby(["model", "country"], as_index=False)[columns].mean()
    frames = [per_country[per_country["country"].isin(["CHN", "USA"])]]
    overall = per_country.groupby("model", as_index=False)[columns].mean()
    counts = per_country.groupby("model")["country"].nunique()
    frames.append(overall.assign(country=overall["model"].map(lambda m: f"mean of {counts[m]} countries")))
    data = pd.concat(frames, ignore_index=True)
    data["display_name"] = data["model"].map(display_name)
    return data.sort_values(["display_name", "country"]).reset_index(drop=True)


def distribution_alignment(table: pd.DataFrame) -> dict | None:
    """A small table beside the z-cosine: does the model spread its answers like the country's respondents?"""
    data = distribution_data(table)
    if data is None:
        return None
    shown = pd.DataFrame({"Model": data["display_name"], "Country": data["country"]})
    for column, header in DISTRIBUTION_COLUMNS.items():
        if column in data:
            shown[header] = data[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return {"models": data["model"].nunique(), "table": render.table(shown)}


def _steerability(steering: dict | None, drawn: FigureResult | None, survey: str) -> dict | None:
    """Does a national persona move the model toward that country: the sentence, per model and the figure."""
    if not steering:
        return None
    rows = [{"model": display_name(model), "share raised": f"{v['share_raised']:.0%}" if v["n"] else "",
             "mean gain": f"{v['mean_gain']:+.3f}" if v["n"] else "", "cases": v["n"]}
            for model, v in steering.get("by_model", {}).items()]
    return {"sentence": steering["sentence"], "by_model": render.table(pd.DataFrame(rows)) if rows else None,
            "figure": render.figure(drawn), "file": steering.get("file", f"steerability_{survey}.csv")}


# -- terminal -------------------------------------------------------------------------------------
def world_tables(out: OutputDir, few: int = 3) -> list:
    """One rich table per survey with more than two countries: each model's closest and furthest ``few``
    countries (no persona, mean over languages) and the ranks of CHN and USA; the full table is the CSV."""
    from rich.table import Table

    from whosevalues.report.figures.world import HIGHLIGHT, ranking_data

    tables = []
    for survey in out.surveys():
        data = ranking_data(out, survey)
        if data is None or data["country"].nunique() <= 2:
            continue
        n_countries = data["country"].nunique()
        shown = min(few, n_countries // 2)
        table = Table(title=f"{survey_label(survey)}: closest and furthest of {n_countries} countries "
                            f"({data['level'].iloc[0]} level, persona {data['personas'].iloc[0]})",
                      title_justify="left", caption=f"every model x condition x country: countries_{survey}.csv",
                      caption_justify="left")
        for column in ("Model", "Origin", "Closest", "Furthest", *(f"{c} rank" for c in HIGHLIGHT)):
            table.add_column(column, justify="right" if column.endswith("rank") else "left",
                             no_wrap=column in ("Closest", "Furthest"))
        # sorted once: each group keeps that order (a model with no similarity at all still gets its row)
        ranked = data.dropna(subset=["similarity"]).sort_values("similarity", ascending=False, kind="stable")
        by_model = dict(list(ranked.groupby(["model", "origin"], sort=False)))
        for model, origin in sorted(set(zip(data["model"], data["origin"])), key=lambda m: (m[1], display_name(m[0]))):
            ordered = by_model.get((model, origin), ranked.iloc[:0])
            ranks = {c: i + 1 for i, c in enumerate(ordered["country"])}
            table.add_row(display_name(model), origin, _pairs(ordered.head(shown)),
                          _pairs(ordered.tail(shown).iloc[::-1]),
                          *(f"{ranks[c]}/{len(ranks)}" if c in ranks else "" for c in HIGHLIGHT))
        tables.append(table)
    return tables


def _pairs(rows: pd.DataFrame) -> str:
    return ", ".join(f"{c} {v:.2f}".replace("0.", ".") for c, v in zip(rows["country"], rows["similarity"]))
