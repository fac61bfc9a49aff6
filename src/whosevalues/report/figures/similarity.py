"""Similarity of LLMs to each population: the shared RQ1 aggregations, Figure 1 (by origin) and Figure 3
(each LLM, and the mean-rating references)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from whosevalues.report.figures.common import (
    PAPER_WIDTH, FigureResult, _grouped_bars, _origin_label, _population_label, _reuse, _save, _skip, _z,
    colour_of,
)
from whosevalues.report.outdir import OutputDir, ci_table, display_name, survey_label


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


# == many populations: the closest and furthest few, and the human baselines ===================

HIGHLIGHTED = ("CHN", "USA")


def shown_populations(data: pd.DataFrame, few: int, limit: int) -> tuple[list[str], str]:
    """Every population when at most ``limit``; else CHN and USA and the ``few`` most and least similar (mean
    similarity over the rows), most similar first. Also a caption sentence saying what was left out."""
    overall = data.groupby("population")["mean"].mean().sort_values(ascending=False)
    if len(overall) <= limit:
        return sorted(overall.index), ""
    picked = set(overall.index[:few]) | set(overall.index[-few:]) | {p for p in HIGHLIGHTED if p in overall.index}
    shown = [p for p in overall.index if p in picked]
    return shown, (f" Showing {len(shown)} of {len(overall)} populations, most similar first: "
                   f"{' and '.join(p for p in HIGHLIGHTED if p in overall.index) or 'none of CHN and USA'}, and "
                   f"the {few} most and {few} least similar; every population is in the figure's CSV "
                   f"(column shown) and in countries_<survey>.csv.")


def read_baselines(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """baselines_<survey>.csv (country, n_respondents, pairwise_cosine, own_mean_cosine_loo,
    other_mean_cosine) when the analysis wrote it: how similar respondents are to each other."""
    path = out.path / f"baselines_{survey}.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "versus" in table:  # human rows only: the null respondents (country random, ...) compare with a population
        table = table[table["versus"].isna()]
    return table if len(table) else None


# Reference lines drawn from baselines_<survey>.csv: column, line style, legend text.
BASELINE_LINES = (
    ("own_mean_cosine_loo", "-", "respondent vs own country's mean"),
    ("pairwise_cosine", ":", "two respondents, same country"),
    ("other_mean_cosine", "--", "respondent vs other countries' mean"),
)
BASELINE_GID = "baseline"  # marks the reference lines, which get their own legend under the plot


def _draw_baselines(ax, baselines: pd.DataFrame | None, populations: list[str], half_width: float = 0.45) -> bool:
    """Short black lines over each population's group of bars; True when any was drawn."""
    if baselines is None:
        return False
    rows = baselines.set_index(baselines["country"].astype(str))
    drawn = set()
    for x, population in enumerate(populations):
        if population not in rows.index:
            continue
        for column, style, text in BASELINE_LINES:
            value = rows.loc[population].get(column)
            if value is None or pd.isna(value):
                continue
            lines = ax.hlines(float(value), x - half_width, x + half_width, colors="black", linestyles=style,
                              lw=1.0, label=None if column in drawn else text, zorder=4)
            lines.set_gid(BASELINE_GID)
            drawn.add(column)
    return bool(drawn)


def _for_shown(baselines: pd.DataFrame | None, populations: list[str]) -> pd.DataFrame | None:
    """The baselines of the populations the figure shows (None when it shows none of them)."""
    if baselines is None:
        return None
    kept = baselines[baselines["country"].astype(str).isin(populations)]
    return kept if len(kept) else None


def _with_baselines(data: pd.DataFrame, baselines: pd.DataFrame | None) -> pd.DataFrame:
    """The plotted rows with each population's baselines as extra columns (``baseline_<column>``)."""
    if baselines is None:
        return data
    columns = {column: f"baseline_{column}" for column, _, _ in BASELINE_LINES}
    extra = baselines.set_index(baselines["country"].astype(str))[list(columns)].rename(columns=columns)
    return data.join(extra, on="population")


def _legends(fig, ax, title: str) -> None:
    """The bars' legend above the plot (with the title), the human baselines' legend under it."""
    handles, labels = ax.get_legend_handles_labels()
    is_line = [getattr(h, "get_gid", lambda: None)() == BASELINE_GID for h in handles]
    bars = [(h, t) for h, t, line in zip(handles, labels, is_line) if not line]
    lines = [(h, t) for h, t, line in zip(handles, labels, is_line) if line]
    fig.legend(*zip(*bars), title=title, title_fontsize=9, loc="outside upper center", ncol=min(len(bars), 4),
               frameon=False)
    if lines:
        fig.legend(*zip(*lines), title="Human baselines", title_fontsize=7.5,
                   loc="outside lower center", ncol=min(len(lines), 3), frameon=False)


def _population_tick(population: str, many: bool) -> str:
    return population if many else _population_label(population)


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
    populations, left_out = shown_populations(data, few=4, limit=6)
    caption += left_out.replace("<survey>", survey)
    baselines = _for_shown(read_baselines(out, survey), populations)
    data = _with_baselines(data.assign(shown=data["population"].isin(populations)), baselines)
    plotted = data
    if (paths := _reuse(out.path, name, plotted, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption + _baseline_caption(baselines, survey), data=data)
    origins = sorted(data["origin"].unique())
    many = len(populations) > 4
    width = min(PAPER_WIDTH, 2.4 + (0.55 if many else 1.6) * len(populations))
    if baselines is not None:  # room for the baselines' legend on one line
        width = max(width, PAPER_WIDTH)
    fig, ax = plt.subplots(figsize=(width, 3.0), layout="constrained")
    _grouped_bars(ax, data, group="population", hue="origin", groups=populations, hues=origins,
                  hue_label=_origin_label)
    with_baselines = _draw_baselines(ax, baselines, populations)
    ax.set_xticks(range(len(populations)), [_population_tick(p, many) for p in populations],
                  rotation=45 if many else 0, ha="right" if many else "center")
    for tick, population in zip(ax.get_xticklabels(), populations):
        if many and population in HIGHLIGHTED:
            tick.set_fontweight("bold")
    ax.set_ylabel("Mean cosine similarity")
    ax.set_xlabel("Human population" + (" (most similar first)" if many else ""))
    _legends(fig, ax, f"{label}: similarity of LLMs to each population")
    caption += _baseline_caption(baselines if with_baselines else None, survey)
    return FigureResult(name, _save(fig, out.path, name, plotted, survey), caption, data=data)


def _baseline_caption(baselines: pd.DataFrame | None, survey: str) -> str:
    if baselines is None:
        return ""
    return (f" Black lines: human baselines from baselines_{survey}.csv (solid: a respondent vs the mean of the "
            "other respondents of the same country; dotted: two respondents of the same country; dashed: a "
            "respondent vs the other countries' mean).")


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
    populations, left_out = shown_populations(data, few=1, limit=4)
    caption += left_out.replace("<survey>", survey)
    data = data.assign(shown=data["population"].isin(populations))
    if reference is not None:
        kept = [f"Human {p}" for p in populations]
        reference = reference[reference["population"].isin(populations) & (
            reference["reference"].isin(kept) | reference["reference"].str.startswith("LLM"))]
    baselines = _for_shown(read_baselines(out, survey), populations)
    data = _with_baselines(data, baselines)
    out_data = data if reference is None else pd.concat([data.assign(panel="A"), reference.assign(panel="B")])
    if (paths := _reuse(out.path, name, out_data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption + _fig3_baseline_caption(baselines, survey), data=data)
    data = data[data["shown"]]
    models = data.sort_values(["origin", "display_name"])[["model", "display_name", "origin"]].drop_duplicates()
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
    with_baselines = _fig3_baselines(ax, baselines, populations)
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
    _legends(fig, ax, f"{label}: similarity of each LLM to each population")
    caption += _fig3_baseline_caption(baselines if with_baselines else None, survey)
    return FigureResult(name, _save(fig, out.path, name, out_data, survey), caption, data=data)


def _fig3_baselines(ax, baselines: pd.DataFrame | None, populations: list[str]) -> bool:
    """One dashed line across panel A per population: its respondents vs their country's mean (leave-one-out)."""
    if baselines is None:
        return False
    rows = baselines.set_index(baselines["country"].astype(str))
    drawn = False
    for population in populations:
        if population in rows.index and pd.notna(rows.loc[population, "own_mean_cosine_loo"]):
            ax.axhline(float(rows.loc[population, "own_mean_cosine_loo"]), color=colour_of(population, populations),
                       ls="--", lw=0.9, zorder=4, label=f"{population}: respondent vs own country's mean",
                       gid=BASELINE_GID)
            drawn = True
    return drawn


def _fig3_baseline_caption(baselines: pd.DataFrame | None, survey: str) -> str:
    if baselines is None:
        return ""
    return (" Dashed lines in A: human baseline, the mean cosine of a respondent with the mean of the other "
            f"respondents of the same country (baselines_{survey}.csv).")


def _shade_origins(ax, models: pd.DataFrame) -> None:
    """Grey backgrounds behind every other origin's block of bars, with the origin written on top."""
    origins = list(dict.fromkeys(models["origin"]))
    for k, origin in enumerate(origins):
        positions = np.flatnonzero(models["origin"].to_numpy() == origin)
        if k % 2 == 0 and len(origins) > 1:
            ax.axvspan(positions.min() - 0.5, positions.max() + 0.5, color="0.9", zorder=0)
        ax.text((positions.min() + positions.max()) / 2, 1.0, f"made in {origin}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7)
