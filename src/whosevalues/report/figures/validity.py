"""Answer validity and refusals per model and condition."""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np
import pandas as pd

from whosevalues.report.figures.common import PAPER_WIDTH, FigureResult, _reuse, _save, _skip
from whosevalues.report.outdir import OutputDir, display_name, survey_label


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
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
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
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)
