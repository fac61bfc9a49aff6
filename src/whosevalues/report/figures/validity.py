"""Answer validity and refusals per model and condition, each model in the terms of its answer mode (see
whosevalues.report.answers): valid samples, probability on valid answers, or what the answers file records."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.answers import validity_data as _validity_rows
from whosevalues.report.figures.common import PAPER_WIDTH, FigureResult, _reuse, _save, _skip, pyplot
from whosevalues.report.outdir import OutputDir, survey_label

PANEL_TITLES = {
    "samples": "Valid sampled answers",
    "mass": "Probability on valid answers\n(distribution mode)",
    "recorded": "Samples not missing\n(1 - prop_na, from the file)",
}


def validity_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per model x condition: the validity measure of its mode (``measure``, ``valid``) and refusal_rate."""
    data = _validity_rows(out, survey)
    if data is None:
        return None
    return data.assign(condition=data["language"] + " / " + data["persona"])


def figure_validity(out: OutputDir, survey: str) -> FigureResult:
    name = f"validity_{survey}"
    label = survey_label(survey)
    data = validity_data(out, survey)
    caption = f"Answer validity ({label}), per model and condition (language / persona), over all items: "
    if data is None or (data["measure"] == "unknown").all():
        return _skip(name, caption, f"how many of the {label} answers were valid is unknown: the answers file "
                                    f"records neither valid-sample counts, nor probabilities, nor missing shares")
    measures = [m for m in PANEL_TITLES if (data["measure"] == m).any()]
    caption += "; ".join({
        "samples": "the share of sampled answers that held a number on the scale",
        "mass": "in distribution mode, the mean probability the model put on valid answers before the "
                "distribution was renormalised over the scale (low values: the model mostly wanted to say "
                "something else)",
        "recorded": "for the published answers, the share of the condition's samples the file does not record "
                    "as missing (its prop_na; it does not say which items)"}[m] for m in measures)
    panels = [(m, PANEL_TITLES[m], "viridis") for m in measures]
    if data["refusal_rate"].notna().any():
        panels.append(("refusals", "Refusals", "viridis_r"))
        caption += "; and the share of answers detected as refusals"
    if (data["measure"] == "unknown").any():
        caption += ". Blank rows: validity not recorded for that model"
    caption += ". Only cells short of complete validity (or with refusals) carry their number."
    if "variant" in data and data["variant"].nunique() > 1:  # columns would multiply by the variants
        caption += (f" Each cell is the mean over the {data['variant'].nunique()} question formats asked "
                    f"({', '.join(sorted(data['variant'].unique()))}); the report's validity table lists each "
                    f"format apart.")
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    fig = _draw(data, panels, label)
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)


def _draw(data: pd.DataFrame, panels: list[tuple[str, str, str]], label: str):
    import matplotlib.ticker

    conditions = sorted(data["condition"].unique())
    models = sorted(data["display_name"].unique())
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), squeeze=False, layout="constrained",
                             figsize=(min(PAPER_WIDTH, 1.8 + len(panels) * (0.9 + 0.55 * len(conditions))),
                                      max(2.2, 0.9 + 0.22 * len(models))))
    for k, (measure, title, cmap) in enumerate(panels):
        ax = axes[0][k]
        rows = data if measure == "refusals" else data[data["measure"] == measure]
        column = "refusal_rate" if measure == "refusals" else "valid"
        grid = rows.pivot_table(index="display_name", columns="condition", values=column).reindex(
            index=models, columns=conditions).to_numpy(dtype=float)
        image = ax.imshow(grid, cmap=cmap, vmin=0, vmax=1, aspect="auto")
        complete = 0.0 if measure == "refusals" else 1.0
        for (i, j), value in np.ndenumerate(grid):
            # only the exceptions are written: a wall of "100%" hides them (and costs a second to render)
            if not np.isnan(value) and _cell(value) != _cell(complete):
                ax.text(j, i, _cell(value), ha="center", va="center", fontsize=6,
                        color="white" if (value < 0.5) == (cmap == "viridis") else "black")
        ax.set_xticks(range(len(conditions)), conditions, rotation=45, ha="right")
        ax.set_yticks(range(len(models)), models if k == 0 else [""] * len(models))
        ax.set_xlabel("Language / persona")
        ax.set_title(title, fontsize=8)
        fig.colorbar(image, ax=ax, fraction=0.05, pad=0.02, format=matplotlib.ticker.PercentFormatter(1.0))
    fig.suptitle(f"{label}: answer validity per model and condition", fontsize=9)
    return fig


def _cell(value: float) -> str:
    """A cell's percentage; never "100%" for a share below one, nor "0%" above zero."""
    text = f"{value:.0%}"
    if (value < 1 and text == "100%") or (0 < value and text == "0%"):
        return f"{value:.1%}"
    return text
