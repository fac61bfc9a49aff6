"""The report's "Whose values" section: every model against every country, and steerability.

It comes first in the report when more than two countries were compared (``world_first``), after the figures
otherwise. It reads ``countries_<survey>.csv``, ``steerability_<survey>.csv`` and summary.json, shows the
ranked dot plot and the persona x country heatmap (``figures/world.py``), and states in one sentence per model
which countries it is closest to and furthest from.
"""

from __future__ import annotations

import base64
import html

import pandas as pd

from whosevalues.report.figures import FigureResult
from whosevalues.report.figures.world import read_countries
from whosevalues.report.outdir import OutputDir, display_name, original_format, survey_label

NO_MAP = ("No world map: no well-kept Python package ships country shapes that need no download when the "
          "report is drawn (cartopy and geodatasets download Natural Earth, geopandas 1.x no longer bundles it, "
          "plotly fetches its shapes from a CDN), so the ranking above shows every country instead.")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


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


def whose_values_section(out: OutputDir, figures: list[FigureResult], first: bool) -> str:
    """The section's HTML when its place is ``first`` (more than two countries) or not; "" elsewhere.
    ``figures``: what write_figures drew (the ranking and steerability figures are taken from them)."""
    if first != world_first(out) or countries_compared(out) == 0:
        return ""
    parts = ["<h2 id=\"whose-values\">Whose values: every model against every country</h2>",
             "<p>Each model's answers (item means, or dimension means where a country is known only by those) "
             "compared with each country's mean answers: cosine similarity of the two vectors, each z-scored "
             "over the items or dimensions both have. Rank 1 is the most similar country. The full table, with "
             "per-respondent cosines where respondents exist, is <code>countries_&lt;survey&gt;.csv</code>.</p>"]
    summary = out.summary().get("surveys", {})
    for survey in out.surveys():
        table = read_countries(out, survey)
        if table is None:
            continue
        entry = summary.get(survey, {})
        parts.append(f"<h3>{_e(survey_label(survey))}</h3>")
        parts.append(_coverage(table, entry.get("countries", {}).get("sources", [])))
        parts.append(_model_sentences(entry.get("countries", {}).get("models", [])))
        parts.append(distribution_alignment_html(table))
        drawn = {figure.name: figure for figure in figures}
        parts.append(figure_html(drawn.get(f"countries_{survey}")))
        parts.append(_steerability_html(entry.get("steerability"), drawn.get(f"steerability_{survey}"), survey))
    parts.append(f"<p class=\"meta\">{_e(NO_MAP)}</p>")
    return "".join(parts)


def _coverage(table: pd.DataFrame, sources: list[dict]) -> str:
    levels = [f"{group['country'].nunique()} at the {level} level"
              for level, group in table.groupby("level", sort=True)]
    listed = "".join(f"<li>{_e(', '.join(s['countries']))} ({_e(s['level'])} level): {_e(s['source'])}</li>"
                     for s in sources)
    mixed = ("<p class=\"meta\">The countries' data come from different studies (samples, years, fieldwork): "
             "part of a difference between countries from different sources may be a difference between the "
             "studies.</p>" if len({s["source"] for s in sources}) > 1 else "")
    return (f"<p>Countries compared: {_e('; '.join(levels))}.</p>"
            + (f"<details><summary>Where each country's data come from</summary><ul>{listed}</ul></details>"
               if listed else "") + mixed)


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


def _model_sentences(models: list[dict]) -> str:
    if not models:
        return "<p class=\"skipped\">No model could be compared with any country (no valid answers).</p>"
    lead = lead_sentence(models)
    items = "".join(f"<li>{_e(_short(m).replace(m['model'], display_name(m['model']), 1))}</li>"
                    for m in sorted(models, key=lambda m: (m["origin"], display_name(m["model"]))))
    return (f"<p class=\"headline\">{_e(lead)}</p>" if lead else "") + f"<ul>{items}</ul>"


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


def distribution_alignment_html(table: pd.DataFrame) -> str:
    """A small table beside the z-cosine: does the model spread its answers like the country's respondents?"""
    data = distribution_data(table)
    if data is None:
        return ""
    shown = pd.DataFrame({"Model": data["display_name"], "Country": data["country"]})
    for column, header in DISTRIBUTION_COLUMNS.items():
        if column in data:
            shown[header] = data[column].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return ("<details><summary>Answer distributions against each country's (distributional alignment, "
            f"{data['model'].nunique()} models)</summary><p>The z-cosine compares average answers; it cannot see a "
            "model that puts all its answers on one option. Here, per item and then averaged: 1 - the "
            "Jensen-Shannon distance between the model's and the country's answer distributions (1 = the same); "
            "OpinionQA's representativeness, 1 - the Wasserstein distance over the largest possible on the scale; "
            "the entropy of each (in bits; a model far below its country answers more uniformly than people do); "
            "and the model's answer variance over the country's (below 1: compressed). Original format, no "
            "persona, mean over prompt languages; every row is in countries_&lt;survey&gt;.csv.</p>"
            + shown.to_html(index=False, escape=True, border=0, na_rep="") + "</details>")


def figure_html(figure: FigureResult | None) -> str:
    """A drawn figure inline (base64 PNG at its printed size) with its caption; a skipped one's reason."""
    if figure is None:
        return ""
    if figure.skipped_reason:
        return f"<p class=\"skipped\"><b>{_e(figure.name)}</b> left out: {_e(figure.skipped_reason)}</p>"
    assert figure.png is not None, "a figure not skipped was drawn"
    png = figure.png.read_bytes()
    width = int(int.from_bytes(png[16:20], "big") * 96 / 200)  # printed size, as the other figures
    encoded = base64.b64encode(png).decode("ascii")
    return (f"<figure id=\"{_e(figure.name)}\"><img width=\"{width}\" src=\"data:image/png;base64,{encoded}\" "
            f"alt=\"{_e(figure.caption)}\"><figcaption>{_e(figure.caption)} <span class=\"meta\">(files: "
            f"figures/{_e(figure.name)}.png, .svg; data: figures/{_e(figure.name)}.csv)</span></figcaption></figure>")


def _steerability_html(steering: dict | None, figure: FigureResult | None, survey: str) -> str:
    parts = ["<h4>Steerability: does a national persona move the model toward that country?</h4>"]
    if not steering:
        parts.append(f"<p class=\"skipped\">Not measured: no persona names a country with human data for "
                     f"{_e(survey_label(survey))}. Run with <code>--personas DEU,JPN,NGA</code> (any ISO code) or "
                     f"<code>--personas countries</code>.</p>")
        return "".join(parts)
    parts.append(f"<p class=\"headline\">{_e(steering['sentence'])}</p>")
    rows = [{"model": display_name(model), "share raised": f"{v['share_raised']:.0%}" if v["n"] else "",
             "mean gain": f"{v['mean_gain']:+.3f}" if v["n"] else "", "cases": v["n"]}
            for model, v in steering.get("by_model", {}).items()]
    if rows:
        parts.append("<details><summary>Per model</summary>"
                     + pd.DataFrame(rows).to_html(index=False, border=0) + "</details>")
    parts.append(figure_html(figure))
    parts.append(f"<p class=\"meta\">Every value: {_e(steering.get('file', f'steerability_{survey}.csv'))} "
                 f"(similarity to the persona's own country with and without the persona, gain, and the "
                 f"country's rank under each).</p>")
    return "".join(parts)


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
        for (model, origin), rows in sorted(data.groupby(["model", "origin"]),
                                            key=lambda kv: (kv[0][1], display_name(kv[0][0]))):
            ordered = rows.sort_values("similarity", ascending=False).dropna(subset=["similarity"])
            ranks = {c: i + 1 for i, c in enumerate(ordered["country"])}
            table.add_row(display_name(model), origin, _pairs(ordered.head(shown)),
                          _pairs(ordered.tail(shown).iloc[::-1]),
                          *(f"{ranks[c]}/{len(ranks)}" if c in ranks else "" for c in HIGHLIGHT))
        tables.append(table)
    return tables


def _pairs(rows: pd.DataFrame) -> str:
    return ", ".join(f"{c} {v:.2f}".replace("0.", ".") for c, v in zip(rows["country"], rows["similarity"]))
