"""The paper's Figures 1-5 per survey, plus answer validity and answer distributions, from an output directory.

Each figure is computed in two steps: ``figN_data(out, survey)`` returns the exact numbers the figure plots
(a DataFrame, also written next to the figure as CSV so a reader can check or re-plot them), and a plotting
function draws them. A figure whose data is missing, or that the design cannot show (one language and one
persona, no rq2/rq3 file, ...), is skipped with a reason instead of failing.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures are files

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402,F401
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from whosevalues.report.outdir import (  # noqa: E402
    REFERENCE_REMOVED, OutputDir, ci_table, display_name, survey_label,
)

DPI = 200
# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
COUNTRY_COLOURS = {"USA": "#0072B2", "CHN": "#D55E00"}
PAPER_WIDTH = 7.0  # inches: a two-column page width, so fonts print at their nominal size
STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7.5,
    "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "axes.spines.top": False, "axes.spines.right": False,
    "svg.fonttype": "none", "figure.dpi": 100,
}


@dataclass
class FigureResult:
    """One figure: its files (PNG then SVG), caption, and why it was skipped (None when drawn)."""

    name: str
    paths: list[Path]
    caption: str
    skipped_reason: str | None = None
    data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def png(self) -> Path | None:
        return next((p for p in self.paths if p.suffix == ".png"), None)


def colour_of(code: str, order: list[str] | None = None) -> str:
    """A fixed colour per country code (CHN, USA), others from the rest of the palette in a stable order."""
    if code in COUNTRY_COLOURS:
        return COUNTRY_COLOURS[code]
    others = [c for c in OKABE_ITO if c not in COUNTRY_COLOURS.values()]
    position = (order or [code]).index(code) if order and code in order else abs(hash(code))
    return others[position % len(others)]


def _skip(name: str, caption: str, reason: str) -> FigureResult:
    return FigureResult(name=name, paths=[], caption=caption, skipped_reason=reason)


def _save(fig, out_dir: Path, name: str, data: pd.DataFrame) -> list[Path]:
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = [fig_dir / f"{name}.png", fig_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    data.to_csv(fig_dir / f"{name}.csv", index=False)
    return paths


def _top_legend(fig, ax, title: str) -> None:
    """The figure's title with one legend under it, above every panel, so it never hides bars. The title is
    the legend's own title: constrained layout (which the figure must use) then reserves room for both,
    where a separate suptitle would overlap an "outside" legend."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, title=title, title_fontsize=9, loc="outside upper center",
               ncol=min(len(labels), 4), frameon=False)


def _instrument(survey: str):
    from whosevalues.instruments import load_instrument

    try:
        return load_instrument(survey)
    except (ValueError, KeyError):
        return None


def _item_order(survey: str, items) -> list[str]:
    instrument = _instrument(survey)
    present = list(dict.fromkeys(map(str, items)))
    if instrument is None:
        return present
    ordered = [i for i in instrument.item_ids if i in present]
    return ordered + [i for i in present if i not in ordered]


def _dimension_map(survey: str) -> dict[str, str]:
    instrument = _instrument(survey)
    return instrument.dimension_of() if instrument is not None else {}


def _dimension_label(survey: str, dimension: str) -> str:
    instrument = _instrument(survey)
    if instrument is not None and not instrument.dimensions:
        try:
            gloss = instrument.item(dimension).gloss
            return f"{dimension} {gloss}" if gloss else dimension
        except KeyError:
            pass
    return dimension


def _origin_label(origin: str) -> str:
    return f"LLMs made in {origin}"


def _population_label(country: str) -> str:
    return f"{country} respondents"


# == shared aggregations =========================================================================

def rq1_rows(out: OutputDir, survey: str) -> tuple[pd.DataFrame | None, str]:
    """The respondent x model cosines of RQ1, or per-model cosines of item means when only aggregates exist.

    Returns (frame with model, origin, population, cosine[, respondent]), and the unit a row stands for.
    """
    sim = out.similarity(survey, "rq1")
    if sim is not None and len(sim):
        rows = sim.rename(columns={"nationality": "population"})
        return rows[[c for c in ("respondent", "model", "origin", "population", "cosine") if c in rows]], "respondent"
    agg = out.aggregate_similarity(survey)
    if agg is not None and len(agg):
        rows = agg[agg["persona"].astype(str) == "none"] if "persona" in agg else agg
        rows = rows.rename(columns={"country": "population", "cosine_item_means": "cosine"})
        rows = rows.groupby(["model", "origin", "population"], as_index=False)["cosine"].mean()
        return rows, "model"
    rows = item_mean_cosines(out, survey)
    return (rows, "model") if rows is not None else (None, "")


# The prompt language that matches a population, as in the paper's RQ1; other populations use every language.
RESPONDENT_LANGUAGE = {"CHN": "zh", "USA": "en"}


def item_mean_cosines(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Last resort when the analysis wrote no similarity file (e.g. models of one origin only): the cosine
    between each model's z-scored item means (persona none) and each population's z-scored item means."""
    stats, means = out.human_item_stats(), out.survey_means(survey)
    if stats is None or not len(means):
        return None
    stats = stats[stats["survey"] == survey]
    means = means[means["persona"] == "none"] if (means["persona"] == "none").any() else means
    records = []
    for country, human in stats.groupby("country"):
        target = human.set_index("item")["mean"].astype(float)
        for (model, origin, language), llm in means.groupby(["model", "origin", "language"]):
            if RESPONDENT_LANGUAGE.get(str(country)) in set(means.loc[means["model"] == model, "language"]) \
                    and language != RESPONDENT_LANGUAGE[str(country)]:
                continue
            vector = llm.groupby("item")["mean"].mean().reindex(target.index)
            both = pd.concat([_z(vector), _z(target)], axis=1).dropna()
            if len(both) > 1:
                a, b = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
                cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                records.append(dict(model=model, origin=origin, population=str(country), cosine=cosine))
    if not records:
        return None
    return pd.DataFrame(records).groupby(["model", "origin", "population"], as_index=False)["cosine"].mean()


def model_similarity(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Mean cosine of each model to each population (RQ1 conditions), with a 95% CI over respondents."""
    rows, _ = rq1_rows(out, survey)
    if rows is None:
        return None
    table = ci_table(rows, ["model", "origin", "population"], "cosine")
    table.insert(1, "display_name", table["model"].map(display_name))
    return table


# == Figure 1 ====================================================================================

def fig1_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    rows, unit = rq1_rows(out, survey)
    if rows is None:
        return None
    # per respondent x model pair, or (item-mean comparisons) one value per model: the interval is over those
    table = ci_table(rows, ["population", "origin"], "cosine")
    return table.assign(unit=f"{unit} x model" if unit == "respondent" else "model")


def figure1(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig1_{survey}"
    label = survey_label(survey)
    data = fig1_data(out, survey)
    caption = (f"Figure 1 ({label}). Mean cosine similarity of LLM answers to each population's respondents, "
               f"by the LLM's country of origin (persona none, prompts in the respondents' language). "
               f"Error bars: 95% confidence intervals")
    if data is None:
        return _skip(name, caption, f"no similarity data for {label} (similarity_{survey}_rq1 or "
                                    f"aggregate_similarity_{survey}.csv is missing)")
    unit = data["unit"].iloc[0]
    caption += (" over respondent x model pairs." if unit != "model" else
                " over models. No respondent-level similarities were computed for this design, so each "
                "model's similarity is the cosine between its (z-scored) item means and the population's.")
    populations, origins = sorted(data["population"].unique()), sorted(data["origin"].unique())
    fig, ax = plt.subplots(figsize=(min(PAPER_WIDTH, 2.4 + 1.6 * len(populations)), 3.0), layout="constrained")
    _grouped_bars(ax, data, group="population", hue="origin", groups=populations, hues=origins,
                  hue_label=_origin_label)
    ax.set_xticks(range(len(populations)), [_population_label(p) for p in populations])
    ax.set_ylabel("Mean cosine similarity")
    ax.set_xlabel("Human population")
    _top_legend(fig, ax, f"{label}: similarity of LLMs to each population")
    return FigureResult(name, _save(fig, out.path, name, data), caption, data=data)


def _grouped_bars(ax, data: pd.DataFrame, *, group: str, hue: str, groups: list, hues: list, hue_label,
                  value: str = "mean", hatch_of=None) -> None:
    width = 0.8 / max(len(hues), 1)
    for j, h in enumerate(hues):
        sub = data[data[hue] == h].set_index(group).reindex(groups)
        x = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
        yerr = None
        if {"ci_low", "ci_high"} <= set(sub.columns) and sub["ci_low"].notna().any():
            yerr = np.vstack([sub[value] - sub["ci_low"], sub["ci_high"] - sub[value]])
            yerr = np.nan_to_num(yerr)
        ax.bar(x, sub[value], width * 0.95, yerr=yerr, capsize=2, color=colour_of(str(h), hues),
               label=hue_label(h), edgecolor="black", linewidth=0.4, hatch=hatch_of(h) if hatch_of else None,
               error_kw={"elinewidth": 0.7})
    ax.axhline(0, color="black", linewidth=0.5)


# == Figure 2 ====================================================================================

def fig2_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Mean z-scored rating per dimension: respondents by country, LLMs by origin (persona none)."""
    dims = _dimension_map(survey)
    records = []
    stats = out.human_item_stats()
    if stats is not None:
        stats = stats[stats["survey"] == survey].copy()
        for country, group in stats.groupby("country"):
            z = group["z_mean"] if "z_mean" in group and group["z_mean"].notna().all() else _z(group["mean"])
            group = group.assign(z=z.to_numpy(), dimension=_dimensions_of(group, dims))
            for dimension, values in group.groupby("dimension")["z"]:
                records.append(dict(group="Respondents", country=country, dimension=dimension,
                                    z=float(values.mean()), ci_low=np.nan, ci_high=np.nan, n=int(group["n"].max())
                                    if "n" in group else np.nan))
    records += _aggregate_human_z(out, survey, dims, {r["country"] for r in records})
    means = out.survey_means(survey)
    means = means[means["persona"] == "none"] if "persona" in means else means
    if len(means):
        # z within each model and language (the paper's LLM vectors), then the model's mean per dimension
        means = means.dropna(subset=["mean"]).copy()
        means["z"] = means.groupby(["model", "language"])["mean"].transform(_z)
        means["dimension"] = _dimensions_of(means, dims)
        per_model = means.groupby(["origin", "model", "dimension"], as_index=False)["z"].mean()
        llms = ci_table(per_model, ["origin", "dimension"], "z", ["country", "dimension"])
        records += llms.rename(columns={"mean": "z"}).assign(group="LLMs").to_dict("records")
    if not records:
        return None
    data = pd.DataFrame(records)
    order = _dimension_order(survey, data["dimension"])
    data["dimension"] = pd.Categorical(data["dimension"], order, ordered=True)
    return data.sort_values(["dimension", "group", "country"]).reset_index(drop=True)


def _aggregate_human_z(out: OutputDir, survey: str, dims: dict[str, str], done: set[str]) -> list[dict]:
    """Populations absent from human_item_stats.csv (aggregate-only data such as bundled WVS): z-score the
    item means from their audit in populations.json, since within-respondent z needs respondents."""
    records = []
    for record in out.populations():
        item_means = (record.get("audit") or {}).get("item_means")
        if record.get("survey") != survey or str(record.get("country")) in done or not isinstance(item_means, dict):
            continue
        z = _z(pd.Series(item_means, dtype=float))
        per_dimension = z.groupby(z.index.map(lambda i: dims.get(str(i), str(i)))).mean()
        records += [dict(group="Respondents", country=str(record["country"]), dimension=dimension, z=float(value),
                         ci_low=np.nan, ci_high=np.nan, n=record.get("n", np.nan))
                    for dimension, value in per_dimension.items()]
    return records


def _z(values: pd.Series) -> pd.Series:
    sd = values.std(ddof=1)
    return (values - values.mean()) / sd if sd and sd > 0 else values * np.nan


def _dimensions_of(frame: pd.DataFrame, dims: dict[str, str]) -> pd.Series:
    if "dimension" in frame and frame["dimension"].notna().all():
        return frame["dimension"].astype(str)
    return frame["item"].astype(str).map(lambda i: dims.get(i, i))


def _dimension_order(survey: str, present) -> list[str]:
    instrument = _instrument(survey)
    present = list(dict.fromkeys(map(str, present)))
    if instrument is None:
        return present
    canonical = instrument.dimensions or instrument.item_ids
    return [d for d in canonical if d in present] + [d for d in present if d not in canonical]


def figure2(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig2_{survey}"
    label = survey_label(survey)
    instrument = _instrument(survey)
    kind = instrument.dimension_kind if instrument is not None else "dimension"
    caption = (f"Figure 2 ({label}). Normalised ratings per {kind}: respondents by country (hatched) and LLMs "
               f"by origin (solid). Ratings are z-scored within each respondent and within each LLM and prompt "
               f"language (persona none), then averaged over the {kind}'s items; LLM error bars are 95% "
               f"confidence intervals over models.")
    data = fig2_data(out, survey)
    if data is None:
        return _skip(name, caption, f"neither human_item_stats.csv nor item means for {label}")
    stats = out.human_item_stats()
    if (data["group"] == "Respondents").any() and (stats is None or not (stats["survey"] == survey).any()):
        caption += (" The respondents' data are aggregates only, so each population's item means are z-scored "
                    "across items instead.")
    data = data.assign(key=data["group"] + " " + data["country"])
    keys = sorted(data["key"].unique(), key=lambda k: (not k.startswith("Resp"), k))
    dims = list(data["dimension"].cat.categories)
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH if len(dims) > 8 else min(PAPER_WIDTH, 1.6 + 0.9 * len(dims)), 3.2),
                           layout="constrained")
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        sub = data[data["key"] == key].set_index("dimension").reindex(dims)
        group, country = key.split(" ", 1)
        x = np.arange(len(dims)) - 0.4 + width * (j + 0.5)
        yerr = np.nan_to_num(np.vstack([sub["z"] - sub["ci_low"], sub["ci_high"] - sub["z"]]))
        human = group == "Respondents"
        colour = colour_of(country, sorted(data["country"].unique()))
        ax.bar(x, sub["z"], width * 0.95, yerr=None if human else yerr, capsize=1.5,
               color="white" if human else colour, edgecolor=colour, hatch="////" if human else None,
               linewidth=0.8, label=_population_label(country) if human else _origin_label(country),
               error_kw={"elinewidth": 0.6})
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(dims)), [_dimension_label(survey, d) for d in dims],
                  rotation=45 if len(dims) > 8 else 0, ha="right" if len(dims) > 8 else "center")
    ax.set_ylabel("Mean z-scored rating")
    ax.set_xlabel(kind.capitalize())
    _top_legend(fig, ax, f"{label}: normalised ratings of humans and LLMs")
    return FigureResult(name, _save(fig, out.path, name, data.drop(columns="key")), caption, data=data)


# == Figure 3 ====================================================================================

def fig3_reference_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    ref = out.reference_similarity(survey)
    if ref is None or not len(ref):
        return None
    table = ci_table(ref, ["nationality", "reference"], "cosine", ["population", "reference"])
    return table.astype({"population": str, "reference": str})


def figure3(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig3_{survey}"
    label = survey_label(survey)
    caption = (f"Figure 3 ({label}). (A) Mean cosine similarity of each LLM to each population's respondents "
               f"(persona none, respondents' language), LLMs grouped by origin (shaded backgrounds alternate by "
               f"origin); error bars are 95% confidence intervals over respondents. (B) Similarity of individual "
               f"respondents to the mean item ratings of each human population and of the LLMs of each origin.")
    data = model_similarity(out, survey)
    if data is None:
        return _skip(name, caption, f"no similarity data for {label}")
    if rq1_rows(out, survey)[1] == "model":
        caption = caption.replace("error bars are 95% confidence intervals over respondents",
                                  "each bar is the cosine between the model's and the population's z-scored "
                                  "item means (no respondent-level data)")
    reference = fig3_reference_data(out, survey)
    if reference is None:
        caption = caption.split(" (B)")[0] + f" (Panel B is left out: reference_similarity_{survey}.csv is " \
                                              f"missing, it needs individual respondents.)"
    models = data.sort_values(["origin", "display_name"])[["model", "display_name", "origin"]].drop_duplicates()
    populations = sorted(data["population"].unique())
    width_a = min(PAPER_WIDTH * (0.7 if reference is not None else 1), 1.5 + 0.35 * len(models) * len(populations) ** 0.5)
    ncols = 2 if reference is not None else 1
    fig, axes = plt.subplots(1, ncols, figsize=(PAPER_WIDTH if ncols == 2 else max(width_a, 3.0), 3.6),
                             gridspec_kw={"width_ratios": [3, 1.3]} if ncols == 2 else None, squeeze=False,
                             layout="constrained")
    ax = axes[0][0]
    plot = data.assign(x=data["model"].map({m: i for i, m in enumerate(models["model"])}))
    _shade_origins(ax, models)
    _grouped_bars(ax, plot, group="model", hue="population", groups=list(models["model"]), hues=populations,
                  hue_label=_population_label)
    many = len(models) > 3  # a few names fit horizontally; rotated, one name would waste half the figure
    ax.set_xticks(range(len(models)), models["display_name"], rotation=60 if many else 0,
                  ha="right" if many else "center")
    ax.set_ylabel("Mean cosine similarity")
    ax.set_title("A. Each LLM", loc="left", pad=12)
    if reference is not None:
        ax_b = axes[0][1]
        refs = sorted(reference["reference"].unique(), key=lambda r: (not r.startswith("Human"), r))
        _grouped_bars(ax_b, reference, group="reference", hue="population", groups=refs, hues=populations,
                      hue_label=_population_label)
        ax_b.set_xticks(range(len(refs)), refs, rotation=45, ha="right")
        ax_b.set_title("B. Mean-rating references", loc="left", pad=12)
        ax_b.set_ylabel("Mean cosine similarity")
    _top_legend(fig, ax, f"{label}: similarity of each LLM to each population")
    out_data = data if reference is None else pd.concat([data.assign(panel="A"), reference.assign(panel="B")])
    return FigureResult(name, _save(fig, out.path, name, out_data), caption, data=data)


def _shade_origins(ax, models: pd.DataFrame) -> None:
    """Grey backgrounds behind every other origin's block of bars, with the origin written on top."""
    origins = list(dict.fromkeys(models["origin"]))
    for k, origin in enumerate(origins):
        positions = np.flatnonzero(models["origin"].to_numpy() == origin)
        if k % 2 == 0 and len(origins) > 1:
            ax.axvspan(positions.min() - 0.5, positions.max() + 0.5, color="0.9", zorder=0)
        ax.text((positions.min() + positions.max()) / 2, 1.0, f"made in {origin}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7)


# == Figure 4 ====================================================================================

def fig4_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    sim = out.similarity(survey, "rq2")
    if sim is None or not len(sim):
        return None
    return ci_table(sim, ["origin", "language", "persona", "nationality"], "cosine",
                    ["origin", "language", "persona", "population"])


def figure4(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig4_{survey}"
    label = survey_label(survey)
    caption = (f"Figure 4 ({label}). Mean cosine similarity of LLMs to each population's respondents by LLM "
               f"origin (rows), respondents (columns), prompt persona (x axis) and prompt language (colour). "
               f"Error bars: 95% confidence intervals over respondent x model pairs.")
    data = fig4_data(out, survey)
    if data is None:
        languages, personas = out.design(survey)["language"], out.design(survey)["persona"]
        why = (f"the design has {len(languages)} language(s) ({', '.join(languages) or '-'}) and persona(s) "
               f"{', '.join(personas) or '-'}; RQ2 needs national personas" if len(personas) < 2 or
               set(personas) <= {"none"} else out.analyses(survey).get("rq2", {}).get("skipped")
               or f"similarity_{survey}_rq2 is missing")
        return _skip(name, caption, f"no language x persona data for {label}: {why}")
    languages, personas = sorted(data["language"].unique()), sorted(data["persona"].unique())
    if len(languages) < 2 and len(personas) < 2:
        return _skip(name, caption, f"{label} was asked in one language ({languages[0]}) with one persona "
                                    f"({personas[0]}): there is no language or persona contrast to show")
    origins, populations = sorted(data["origin"].unique()), sorted(data["population"].unique())
    fig, axes = plt.subplots(len(origins), len(populations), sharey=True, squeeze=False,
                             figsize=(PAPER_WIDTH if len(populations) > 1 else 3.6, 1.1 + 1.7 * len(origins)),
                             layout="constrained")
    palette = {lang: OKABE_ITO[2 + i] for i, lang in enumerate(languages)}
    for r, origin in enumerate(origins):
        for c, population in enumerate(populations):
            ax = axes[r][c]
            sub = data[(data["origin"] == origin) & (data["population"] == population)]
            width = 0.8 / len(languages)
            for j, lang in enumerate(languages):
                s = sub[sub["language"] == lang].set_index("persona").reindex(personas)
                x = np.arange(len(personas)) - 0.4 + width * (j + 0.5)
                yerr = np.nan_to_num(np.vstack([s["mean"] - s["ci_low"], s["ci_high"] - s["mean"]]))
                ax.bar(x, s["mean"], width * 0.95, yerr=yerr, capsize=2, color=palette[lang], edgecolor="black",
                       linewidth=0.4, label=f"prompt in {lang}", error_kw={"elinewidth": 0.7})
            ax.axhline(0, color="black", linewidth=0.5)
            ax.set_xticks(range(len(personas)), [f"persona {p}" for p in personas])
            ax.set_title(f"{_origin_label(origin)} vs {_population_label(population)}", fontsize=8)
            if c == 0:
                ax.set_ylabel("Mean cosine similarity")
    _top_legend(fig, axes[0][0], f"{label}: similarity by origin, language and persona")
    return FigureResult(name, _save(fig, out.path, name, data), caption, data=data)


# == Figure 5 ====================================================================================

def fig5_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Change in mean cosine when each dimension/question is removed, per population, for all LLMs and per origin."""
    sim = out.similarity(survey, "rq3")
    if sim is not None and len(sim) and "removed" in sim:
        is_reference = sim["removed"].isin(REFERENCE_REMOVED) | sim["removed"].isna()
        if is_reference.any():
            return _removal_changes(sim, is_reference, survey)
    return _removal_changes_from_table(out, survey)


def _removal_changes(sim: pd.DataFrame, is_reference: pd.Series, survey: str) -> pd.DataFrame:
    sim = sim.assign(removed=sim["removed"].where(~is_reference, "none"))
    records = []
    for origin_label, frame in [("all", sim), *[(o, g) for o, g in sim.groupby("origin")]]:
        means = frame.groupby(["nationality", "removed"])["cosine"].mean().unstack("removed")
        for population, row in means.iterrows():
            for removed in row.index.drop("none"):
                records.append(dict(origin=origin_label, population=population, removed=removed,
                                    change=row[removed] - row["none"], source="similarity"))
    data = pd.DataFrame(records)
    order = _dimension_order(survey, data["removed"])
    data["removed"] = pd.Categorical(data["removed"], order, ordered=True)
    return data.sort_values(["origin", "population", "removed"]).reset_index(drop=True)


def _removal_changes_from_table(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """From the RQ3 coefficients: change for a population = removed[d] + code * nationality:removed[d], with the
    nationality code +0.5 for CHN respondents and -0.5 otherwise (the paper's coding, two populations only)."""
    table = out.table("rq3", survey)
    if table is None:
        return None
    estimates = dict(zip(table["term"].astype(str), table["estimate"]))
    dims = [t[len("removed["):-1] for t in estimates if t.startswith("removed[") and t.endswith("]")]
    populations = out.populations_of(survey)
    if not dims or len(populations) != 2 or "CHN" not in populations:
        return None
    records = []
    for population in populations:
        code = 0.5 if population == "CHN" else -0.5
        for d in dims:
            change = estimates[f"removed[{d}]"] + code * estimates.get(f"nationality:removed[{d}]", 0.0)
            records.append(dict(origin="all", population=population, removed=d, change=change, source="rq3 table"))
    data = pd.DataFrame(records)
    data["removed"] = pd.Categorical(data["removed"], _dimension_order(survey, dims), ordered=True)
    return data.sort_values(["population", "removed"]).reset_index(drop=True)


def figure5(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig5_{survey}"
    label = survey_label(survey)
    instrument = _instrument(survey)
    kind = instrument.dimension_kind if instrument is not None else "dimension"
    caption = (f"Figure 5 ({label}). Change in mean cosine similarity of LLMs to each population's respondents "
               f"when one {kind} is removed from the answer vectors (persona none, respondents' language); "
               f"positive values: removing it makes LLMs more similar to that population.")
    data = fig5_data(out, survey)
    if data is None:
        why = out.analyses(survey).get("rq3", {}).get("skipped")
        return _skip(name, caption, f"no leave-one-out data for {label}: " + (
            why or f"similarity_{survey}_rq3 and tables/rq3_{survey}.csv are missing"))
    if data["source"].iloc[0] != "similarity":
        caption += " Computed from the RQ3 regression coefficients."
    panels = ["all"] + sorted(o for o in data["origin"].unique() if o != "all")
    if len(panels) == 2:  # one origin: its panel would repeat "all"
        panels = ["all"]
    removed = list(data["removed"].cat.categories)
    populations = sorted(data["population"].unique())
    fig, axes = plt.subplots(1, len(panels), sharey=True, sharex=True, squeeze=False,
                             figsize=(PAPER_WIDTH if len(panels) > 1 else 3.8, 1.0 + 0.17 * len(removed) * len(populations) ** 0.5 + 0.6),
                             layout="constrained")
    for k, panel in enumerate(panels):
        ax = axes[0][k]
        sub = data[data["origin"] == panel]
        height = 0.8 / len(populations)
        for j, population in enumerate(populations):
            s = sub[sub["population"] == population].set_index("removed").reindex(removed)
            y = np.arange(len(removed)) - 0.4 + height * (j + 0.5)
            ax.barh(y, s["change"], height * 0.95, color=colour_of(population, populations), edgecolor="black",
                    linewidth=0.4, label=_population_label(population))
        ax.axvline(0, color="black", linewidth=0.5)
        ax.set_yticks(range(len(removed)), [_dimension_label(survey, d) for d in removed])
        ax.invert_yaxis()
        ax.set_title("All LLMs" if panel == "all" else _origin_label(panel), fontsize=8)
    axes[0][0].set_ylabel(f"{kind.capitalize()} removed")
    fig.supxlabel("Change in mean cosine similarity", fontsize=8.5)
    _top_legend(fig, axes[0][0], f"{label}: effect of removing each {kind}")
    return FigureResult(name, _save(fig, out.path, name, data), caption, data=data)


# == Validity and refusals =======================================================================

def validity_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    means = out.survey_means(survey)
    if not len(means) or not {"n_valid", "n_total"} <= set(means.columns):
        return None
    means = means.assign(refusals=means["refusal_rate"] * means["n_total"] if "refusal_rate" in means else np.nan)
    grouped = means.groupby(["model", "language", "persona"], as_index=False)[["n_valid", "n_total", "refusals"]].sum(min_count=1)
    grouped["valid_share"] = grouped["n_valid"] / grouped["n_total"]
    grouped["refusal_rate"] = grouped["refusals"] / grouped["n_total"]
    grouped["display_name"] = grouped["model"].map(display_name)
    return grouped.drop(columns="refusals")


def figure_validity(out: OutputDir, survey: str) -> FigureResult:
    name = f"validity_{survey}"
    label = survey_label(survey)
    caption = (f"Answer validity ({label}). Share of sampled answers that hold a number on the scale (left) and "
               f"share of answers detected as refusals (right), per model and condition (language / persona), "
               f"over all items and samples.")
    data = validity_data(out, survey)
    if data is None:
        return _skip(name, caption, f"item_means.csv has no n_valid/n_total columns for {label}")
    data = data.assign(condition=data["language"] + " / " + data["persona"])
    conditions = sorted(data["condition"].unique())
    models = sorted(data["display_name"].unique())
    panels = [("valid_share", "Valid answers", "viridis")]
    if data["refusal_rate"].notna().any():
        panels.append(("refusal_rate", "Refusals", "viridis_r"))
    fig, axes = plt.subplots(1, len(panels), squeeze=False,
                             figsize=(min(PAPER_WIDTH, 1.8 + len(panels) * (0.9 + 0.55 * len(conditions))),
                                      max(2.2, 0.9 + 0.22 * len(models))))
    for k, (column, title, cmap) in enumerate(panels):
        ax = axes[0][k]
        grid = data.pivot_table(index="display_name", columns="condition", values=column).reindex(
            index=models, columns=conditions)
        image = ax.imshow(grid.to_numpy(dtype=float), cmap=cmap, vmin=0, vmax=1, aspect="auto")
        for (i, j), value in np.ndenumerate(grid.to_numpy(dtype=float)):
            if not np.isnan(value):
                ax.text(j, i, f"{value:.0%}", ha="center", va="center", fontsize=6,
                        color="white" if (value < 0.5) == (cmap == "viridis") else "black")
        ax.set_xticks(range(len(conditions)), conditions, rotation=45, ha="right")
        ax.set_yticks(range(len(models)), models if k == 0 else [""] * len(models))
        ax.set_xlabel("Language / persona")
        ax.set_title(title, fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, format=matplotlib.ticker.PercentFormatter(1.0))
    fig.suptitle(f"{label}: answer validity per model and condition", fontsize=9)
    fig.tight_layout()
    return FigureResult(name, _save(fig, out.path, name, data), caption, data=data)


# == Answer distributions ========================================================================

def distribution_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per item and scale value: each population's answer share and the mean LLM probability per origin
    (persona none, all languages)."""
    llm = out.item_distributions()
    if llm is None:
        return None
    llm = llm[(llm["survey"] == survey) & (llm["persona"] == "none")]
    if not len(llm):
        return None
    origins = out.model_origins()
    llm = llm.assign(origin=llm["model"].map(lambda m: origins.get(m, "UNK")))
    per_model = llm.groupby(["origin", "model", "item", "value"], as_index=False)["probability"].mean()
    frames = [per_model.groupby(["origin", "item", "value"], as_index=False)["probability"].mean()
              .assign(group=lambda f: "LLMs " + f["origin"]).rename(columns={"origin": "country"})]
    humans = out.human_distributions()
    if humans is not None:
        humans = humans[humans["survey"] == survey]
        frames.append(humans.rename(columns={"proportion": "probability"})
                      .assign(group=lambda f: "Respondents " + f["country"].astype(str))
                      [["country", "item", "value", "probability", "group"]])
    data = pd.concat(frames, ignore_index=True)
    data["value"] = data["value"].astype(float)
    return data


def figure_distributions(out: OutputDir, survey: str) -> FigureResult:
    name = f"distributions_{survey}"
    label = survey_label(survey)
    caption = (f"Answer distributions ({label}). For each item, the share of respondents giving each answer "
               f"(dashed, by country) beside the LLMs' answer probabilities (solid, mean over models of each "
               f"origin; persona none).")
    data = distribution_data(out, survey)
    if data is None:
        return _skip(name, caption, f"no answer distributions for {label}: item_distributions.csv is only "
                                    f"written in distribution mode (`--mode distribution`)")
    items = _item_order(survey, data["item"].unique())
    ncols = 6 if len(items) > 20 else min(5, len(items))
    nrows = int(np.ceil(len(items) / ncols))
    fig, axes = plt.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False,
                             figsize=(PAPER_WIDTH, 0.4 + 1.05 * nrows))
    groups = sorted(data["group"].unique(), key=lambda g: (not g.startswith("Resp"), g))
    countries = sorted(data["country"].astype(str).unique())
    for ax, item in zip(axes.flat, items):
        for group in groups:
            sub = data[(data["item"] == item) & (data["group"] == group)].sort_values("value")
            country = group.split(" ", 1)[1]
            ax.plot(sub["value"], sub["probability"], color=colour_of(country, countries), linewidth=1,
                    linestyle="--" if group.startswith("Resp") else "-", marker="o", markersize=1.5,
                    label=_population_label(country) if group.startswith("Resp") else _origin_label(country))
        ax.set_title(_dimension_label(survey, item) if not _dimension_map(survey).get(item, item) != item
                     else f"{item} ({_dimension_map(survey)[item]})", fontsize=6)
        ax.tick_params(labelsize=6)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True, nbins=5))
    for ax in axes.flat[len(items):]:
        ax.axis("off")
    for ax in axes[:, 0]:
        ax.set_ylabel("Share", fontsize=7)
    for ax in axes[-1, :]:
        ax.set_xlabel("Answer", fontsize=7)
    handles, labels = axes.flat[0].get_legend_handles_labels()
    # Fixed margins in inches (tight_layout over dozens of small panels costs a full extra render, ~2 s):
    # the title above the top row's panel titles, the legend below the x labels.
    height = fig.get_figheight()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), frameon=False, bbox_to_anchor=(0.5, 0.0),
               fontsize=7)
    fig.suptitle(f"{label}: answer distributions, humans and LLMs", fontsize=9, y=1 - 0.08 / height)
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.8 / height, top=1 - 0.5 / height, wspace=0.12, hspace=0.6)
    return FigureResult(name, _save(fig, out.path, name, data), caption, data=data)


# == all of them =================================================================================

FIGURES = (figure1, figure2, figure3, figure4, figure5, figure_validity, figure_distributions)


def write_figures(out_dir: Path | str, workers: int | None = None) -> list[FigureResult]:
    """Draw every figure for every survey into out_dir/figures; skipped figures carry the reason.

    Figures are independent, and rendering dozens of panels to PNG and SVG is most of a report's time, so they
    are drawn by up to two forked worker processes (``workers=1``, or WHOSEVALUES_FIGURE_WORKERS=1, draws in
    this process).
    """
    out = out_dir if isinstance(out_dir, OutputDir) else OutputDir(out_dir)
    tasks = [(out.path, survey, index) for survey in out.surveys() for index in range(len(FIGURES))]
    workers = workers or int(os.environ.get("WHOSEVALUES_FIGURE_WORKERS", 0)) or min(2, os.cpu_count() or 1)
    if workers > 1 and len(tasks) > 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(_draw, tasks))
    else:
        results = [_draw(task, out) for task in tasks]
    _write_index(out.path, results)
    return results


def _draw(task: tuple[Path, str, int], out: OutputDir | None = None) -> FigureResult:
    out_path, survey, index = task
    make = FIGURES[index]
    with plt.rc_context(STYLE):
        try:
            return make(out or OutputDir(out_path), survey)
        except Exception as exc:  # noqa: BLE001 - one odd file must not lose the other figures
            plt.close("all")
            name = make.__name__.replace("figure", "fig").replace("fig_", "") + f"_{survey}"
            return _skip(name, "", f"could not be drawn ({type(exc).__name__}: {exc})")


def _write_index(out_dir: Path, results: list[FigureResult]) -> None:
    """figures/figures.json: every figure's name, files, caption and skip reason (read by tests and tools)."""
    import json

    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    index = [{"name": r.name, "paths": [p.name for p in r.paths], "caption": r.caption,
              "skipped_reason": r.skipped_reason} for r in results]
    (out_dir / "figures" / "figures.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


def read_figure_index(out_dir: Path | str) -> list[FigureResult]:
    """The figures ``write_figures`` last wrote into out_dir, without drawing them again."""
    import json

    folder = Path(out_dir) / "figures"
    entries = json.loads((folder / "figures.json").read_text(encoding="utf-8"))
    return [FigureResult(e["name"], [folder / p for p in e["paths"]], e["caption"], e["skipped_reason"])
            for e in entries]
