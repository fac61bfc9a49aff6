"""The regression analyses' figures: Figure 4 (RQ2, language x persona) and Figure 5 (RQ3, leave one
dimension out)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.figures.common import (
    OKABE_ITO,
    PAPER_WIDTH,
    FigureResult,
    _dimension_kind,
    _dimension_label,
    _dimension_order,
    _origin_label,
    _population_label,
    _reuse,
    _save,
    _skip,
    _top_legend,
    colour_of,
    pyplot,
)
from whosevalues.report.figures.similarity import (
    _with_band,
    band_caption,
    draw_band_across,
    per_model_means,
    random_band,
)
from whosevalues.report.outdir import REFERENCE_REMOVED, OutputDir, ci_table, original_format, survey_label

# == Figure 4 ====================================================================================

def fig4_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per origin x language x persona x population: the mean over the origin's models of each model's mean
    cosine over the population's respondents, with a 95% t interval over models (n = models): language and
    persona effects are compared between origins, which vary only between models."""
    sim = original_format(out.similarity(survey, "rq2"))
    if sim is None or not len(sim):
        return None
    by = ["origin", "language", "persona", "nationality"]
    return ci_table(per_model_means(sim, by), by, "cosine", ["origin", "language", "persona", "population"])


def figure4(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig4_{survey}"
    label = survey_label(survey)
    caption = (f"Figure 4 ({label}). Mean cosine similarity of LLMs to each population's respondents by LLM "
               f"origin (rows), respondents (columns), prompt persona (x axis) and prompt language (colour). "
               f"Bars: the mean over the origin's models of each model's mean cosine over the respondents; "
               f"error bars: 95% confidence intervals over models (t, n - 1 df), the unit of the model-level "
               f"tests, not over respondent x model pairs.")
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
    band = random_band(out, survey, sorted(data["population"].unique()))
    data = _with_band(data, band)
    caption += band_caption(band, survey)
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    origins, populations = sorted(data["origin"].unique()), sorted(data["population"].unique())
    plt = pyplot()
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
            draw_band_across(ax, band, [population])
            ax.set_xticks(range(len(personas)), [f"persona {p}" for p in personas])
            ax.set_title(f"{_origin_label(origin)} vs {_population_label(population)}", fontsize=8)
            if c == 0:
                ax.set_ylabel("Mean cosine similarity")
    _top_legend(fig, axes[0][0], f"{label}: similarity by origin, language and persona")
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)


# == Figure 5 ====================================================================================

def fig5_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Change in mean cosine when each dimension/question is removed, per population, for all LLMs and per origin."""
    sim = original_format(out.similarity(survey, "rq3"))
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
    kind = _dimension_kind(survey)
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
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    panels = ["all"] + sorted(o for o in data["origin"].unique() if o != "all")
    if len(panels) == 2:  # one origin: its panel would repeat "all"
        panels = ["all"]
    removed = list(data["removed"].cat.categories)
    populations = sorted(data["population"].unique())
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), sharey=True, sharex=True, squeeze=False,
                             figsize=(PAPER_WIDTH if len(panels) > 1 else 3.8,
                                      1.0 + 0.17 * len(removed) * len(populations) ** 0.5 + 0.6),
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
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)
