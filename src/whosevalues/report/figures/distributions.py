"""Answer distributions per item: respondents' answer shares beside the LLMs' answer probabilities."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.figures.common import (
    PAPER_WIDTH,
    FigureResult,
    _dimension_label,
    _dimension_map,
    _item_order,
    _origin_label,
    _population_label,
    _reuse,
    _save,
    _skip,
    colour_of,
    pyplot,
)
from whosevalues.report.outdir import OutputDir, original_format, survey_label

# == Answer distributions ========================================================================

def distribution_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per item and scale value: each population's answer share and the mean LLM probability per origin
    (persona none, all languages)."""
    llm = out.item_distributions()
    if llm is None:
        return None
    llm = original_format(llm[(llm["survey"] == survey) & (llm["persona"] == "none")])
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
               f"(dashed, by country) beside the LLMs' answers (solid, mean over models of each origin; persona "
               f"none): {_llm_side(out)}.")
    data = distribution_data(out, survey)
    if data is None:
        return _skip(name, caption, f"no answer distributions for {label}: item_distributions.csv is absent or "
                                    f"has no {label} rows (answers given as item means only record no distribution)")
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    items = _item_order(survey, data["item"].unique())
    ncols = 6 if len(items) > 20 else min(5, len(items))
    nrows = int(np.ceil(len(items) / ncols))
    plt = pyplot()
    import matplotlib.ticker

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
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)


def _llm_side(out: OutputDir) -> str:
    """What the LLM curves are, by the models' answer modes."""
    from whosevalues.report.answers import DISTRIBUTION, SAMPLE, model_modes

    modes = set(model_modes(out).values())
    if modes == {DISTRIBUTION}:
        return "the probability the model gave each answer, renormalised over the scale"
    if modes == {SAMPLE}:
        return "the share of the model's valid sampled answers giving each answer"
    return ("the probability of each answer for models in distribution mode and the share of valid sampled "
            "answers for the others, averaged together (mixed modes)")
