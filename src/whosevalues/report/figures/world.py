"""Figures that compare models with every country, legible for 2 or 100 countries.

- ``countries_<survey>``: a ranked dot plot. One row per country, sorted by the mean similarity over models;
  one dot per origin group (the mean of its models) and a small dot per model; CHN and USA highlighted.
- ``steerability_<survey>``: a persona x country heatmap of similarity (mean over models and prompt
  languages), the persona's own country outlined.

Both read ``countries_<survey>.csv`` (written by the analysis) and save their plotted numbers beside the PNG
and SVG, like the paper's figures. No world map: no well-kept package ships country shapes that need no
download at run time (see README, "Whose values, across the world").
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.analysis.formats import rows_of_variant
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.report.figures.common import STYLE, FigureResult, _reuse, _save, _skip, colour_of, pyplot
from whosevalues.report.figures.similarity import VECTOR_METRIC, _with_band, band_caption, random_band
from whosevalues.report.outdir import OutputDir, display_name, original_format, survey_label

HIGHLIGHT = ("CHN", "USA")
NONE = "none"
ROW_INCHES = 0.17  # per country: 7.5 pt labels with air between them


def read_countries(out: OutputDir, survey: str) -> pd.DataFrame | None:
    path = out.path / f"countries_{survey}.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    table = rows_of_variant(table, ORIGINAL)  # the paper's prompt; robustness_<survey>.csv has the other formats
    return table if len(table) else None


def widest_level(table: pd.DataFrame) -> str:
    """The level comparing the most countries (item on a tie)."""
    counts = table.groupby("level")["country"].nunique()
    return max(counts.index, key=lambda level: (counts[level], level == "item"))


def country_label(code: str) -> str:
    from whosevalues.countries import CountryError, country_name

    try:
        return f"{country_name(code, 'en')} ({code})"
    except CountryError:
        return code


def ranking_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per model and country: similarity with no persona at the widest level, mean over prompt languages;
    with ``order`` (0 = most similar on average over models) and the origin group's mean."""
    table = read_countries(out, survey)
    if table is None:
        return None
    table = original_format(table)
    level = widest_level(table)
    rows = table[table["level"] == level]
    persona_free = rows[rows["persona"] == NONE]
    rows = persona_free if len(persona_free) else rows
    per_model = rows.groupby(["model", "origin", "country"], as_index=False)["similarity"].mean()
    order = per_model.groupby("country")["similarity"].mean().sort_values(ascending=False)
    per_model["order"] = per_model["country"].map({c: i for i, c in enumerate(order.index)})
    per_model["origin_mean"] = per_model.groupby(["origin", "country"])["similarity"].transform("mean")
    return per_model.assign(level=level, personas=", ".join(sorted(rows["persona"].unique())),
                            languages=", ".join(sorted(rows["language"].unique())))


def figure_countries(out: OutputDir, survey: str) -> FigureResult:
    name = f"countries_{survey}"
    label = survey_label(survey)
    data = ranking_data(out, survey)
    caption = f"Whose values ({label}): similarity of the LLMs to every country with data"
    if data is None:
        return _skip(name, caption, f"countries_{survey}.csv is missing (no human data for {label})")
    caption += (f", most similar on top ({data['level'].iloc[0]} level; persona {data['personas'].iloc[0]}; "
                f"mean over prompts in {data['languages'].iloc[0]}). Large dots: mean of the models of each origin; "
                f"small dots: each model. CHN and USA are highlighted. Every value is in countries_{survey}.csv.")
    band = random_band(out, survey, metric=VECTOR_METRIC, level=str(data["level"].iloc[0]))
    data = _with_band(data, band, on="country")
    caption += band_caption(band, survey)
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    countries = data.drop_duplicates("country").sort_values("order")["country"].tolist()
    origins = sorted(data["origin"].unique())
    n_models = data["model"].nunique()
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.0, 1.3 + ROW_INCHES * len(countries)), layout="constrained")
        y = {country: i for i, country in enumerate(countries)}
        for country in HIGHLIGHT:
            if country in y:
                ax.axhspan(y[country] - 0.5, y[country] + 0.5, color=colour_of(country), alpha=0.12, lw=0)
        _band_rows(ax, band, y)
        for origin in origins:
            mine = data[data["origin"] == origin]
            colour = colour_of(origin, origins)
            if n_models > 1:
                ax.scatter(mine["similarity"], mine["country"].map(y), s=7, color=colour, alpha=0.35, lw=0)
            groups = mine.drop_duplicates("country")
            models = mine["model"].nunique()
            who = (f"LLMs made in {origin} (mean of {models})" if models > 1
                   else f"{display_name(mine['model'].iloc[0])} ({origin})")
            ax.scatter(groups["origin_mean"], groups["country"].map(y), s=28, color=colour, edgecolor="black",
                       lw=0.4, label=who, zorder=3)
        ax.set_yticks(range(len(countries)), [country_label(c) for c in countries])
        for tick, country in zip(ax.get_yticklabels(), countries):
            if country in HIGHLIGHT:
                tick.set_fontweight("bold")
                tick.set_color(colour_of(country))
        ax.set_ylim(len(countries) - 0.5, -0.5)  # most similar on top
        ax.axvline(0, color="black", lw=0.5)
        ax.grid(axis="x", lw=0.3, alpha=0.5)
        ax.set_xlabel("Cosine similarity of z-scored vectors (LLM vs country mean)")
        level = data["level"].iloc[0]
        ax.set_title(f"{label}: {len(countries)} countries, {level} level", loc="left")
        fig.legend(loc="outside upper center", ncol=min(len(origins), 3), frameon=False,
                   title="Small dots: each model" if n_models > 1 else None)
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)


def _band_rows(ax, band: pd.DataFrame | None, y: dict[str, int]) -> None:
    """The random respondent's 95% range as a grey bar behind each country's row."""
    if band is None:
        return
    rows = band[band["population"].isin(y)]
    if rows.empty:
        return
    ax.barh(rows["population"].map(y), rows["null_high"] - rows["null_low"], left=rows["null_low"], height=0.7,
            color="0.8", lw=0, zorder=0.5, label="random respondent, 95% range")


def steerability_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """persona x country: mean similarity over models and languages, at the level the steerability file used."""
    table = read_countries(out, survey)
    path = out.path / f"steerability_{survey}.csv"
    if table is None or not path.is_file():
        return None
    steer = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if steer.empty:
        return None
    level = steer["level"].mode().iloc[0] if "level" in steer else widest_level(table)
    table = original_format(table)
    rows = table[(table["level"] == level) & table["persona"].isin([NONE, *steer["persona"].unique()])]
    return rows.groupby(["persona", "country"], as_index=False)["similarity"].mean().assign(level=level)


def figure_steerability(out: OutputDir, survey: str) -> FigureResult:
    name = f"steerability_{survey}"
    label = survey_label(survey)
    data = steerability_data(out, survey)
    caption = (f"Steerability ({label}): similarity to every country (columns) under each persona (rows), mean "
               f"over models and prompt languages; the persona's own country is outlined")
    if data is None:
        return _skip(name, caption, f"no persona with human data for its country (steerability_{survey}.csv "
                                    f"is missing): run with --personas DEU,JPN,... or --personas countries")
    caption += "."
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    ranking = ranking_data(out, survey)
    countries = ranking.drop_duplicates("country").sort_values("order")["country"].tolist() \
        if ranking is not None else sorted(data["country"].unique())
    countries = [c for c in countries if c in set(data["country"])]
    personas = [NONE] + [c for c in countries if c in set(data["persona"])]
    grid = data.pivot(index="persona", columns="country", values="similarity").reindex(index=personas,
                                                                                       columns=countries)
    plt = pyplot()
    from matplotlib.patches import Rectangle

    with plt.rc_context(STYLE):
        width = 1.8 + 0.19 * len(countries)
        fig, ax = plt.subplots(figsize=(max(width, 4.0), 1.6 + 0.19 * len(personas)), layout="constrained")
        image = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu_r", vmin=-1, vmax=1, aspect="auto",
                          interpolation="nearest")
        for row, persona in enumerate(personas):
            if persona in countries:
                ax.add_patch(Rectangle((countries.index(persona) - 0.5, row - 0.5), 1, 1, fill=False, lw=1.2,
                                       edgecolor="black"))
        if len(countries) <= 25 and len(personas) <= 25:
            for (row, column), value in np.ndenumerate(grid.to_numpy(dtype=float)):
                if np.isfinite(value):
                    ax.text(column, row, f"{value:.2f}".replace("0.", "."), ha="center", va="center", fontsize=5.5,
                            color="white" if abs(value) > 0.6 else "black")
        ax.set_xticks(range(len(countries)), countries, rotation=90)
        ax.set_yticks(range(len(personas)), ["no persona" if p == NONE else f"persona {p}" for p in personas])
        for tick, code in [*zip(ax.get_xticklabels(), countries), *zip(ax.get_yticklabels(), personas)]:
            if code in HIGHLIGHT:
                tick.set_fontweight("bold")
                tick.set_color(colour_of(code))
        ax.set_xlabel(f"Country compared with ({data['level'].iloc[0]} level), most similar without persona first")
        ax.spines[["left", "bottom"]].set_visible(False)
        fig.colorbar(image, ax=ax, shrink=0.8, label="Cosine similarity", pad=0.01)
        ax.set_title(f"{label}: does a persona move the model toward its country?", loc="left")
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)

