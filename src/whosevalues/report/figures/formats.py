"""Does the format change the answer? One row per model, one marker per question variant: how far the variant
moved the model's answers from the original prompt, in units of the spread between countries
(``shift_in_country_sd`` of robustness_<survey>.csv), with the threshold 1 drawn. A marker is the mean over the
model's prompt languages and personas; its line spans their smallest to largest shift."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.figures.common import OKABE_ITO, PAPER_WIDTH, FigureResult, _reuse, _save, _skip, pyplot
from whosevalues.report.formats import SHIFT_THRESHOLD, flagged_models, read_robustness
from whosevalues.report.outdir import OutputDir, display_name, survey_label

MARKERS = ["o", "s", "D", "^", "v", "P", "X", "<", ">", "*"]
ROW_INCHES = 0.3  # per model: room for up to ten dodged markers


def formats_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per model x variant: mean, min and max of shift_in_country_sd over languages x personas, how many of
    those conditions are flagged, and whether the model is format-sensitive; models most moved first."""
    table = read_robustness(out, survey)
    if table is None:
        return None
    grouped = table.groupby(["model", "variant"])
    data = pd.DataFrame({
        "shift_sd": grouped["shift_in_country_sd"].mean(), "shift_sd_min": grouped["shift_in_country_sd"].min(),
        "shift_sd_max": grouped["shift_in_country_sd"].max(), "mean_abs_shift": grouped["mean_abs_shift"].mean(),
        "conditions": grouped.size(), "flagged_conditions": grouped["format_sensitive"].sum().astype(int),
    }).reset_index()
    flagged = set(flagged_models(out, survey))
    data["model_flagged"] = data["model"].isin(flagged)
    data["display_name"] = data["model"].map(display_name)
    moved = data.groupby("model").agg(largest=("shift_sd_max", "max"), typical=("shift_sd", "mean")).fillna(-1)
    order = moved.sort_values(["largest", "typical"], ascending=False).index  # ties: the more variants moved
    data["order"] = data["model"].map({m: i for i, m in enumerate(order)})
    return data.sort_values(["order", "variant"]).reset_index(drop=True)


def figure_formats(out: OutputDir, survey: str) -> FigureResult:
    name = f"formats_{survey}"
    label = survey_label(survey)
    caption = (f"Does the format change the answer? ({label}). For each model (rows, most moved first) and each "
               f"question variant (markers): the mean absolute shift of its item answers from the original "
               f"prompt, divided by the standard deviation of the countries' means (robustness_{survey}.csv, "
               f"shift_in_country_sd). The dashed line at {SHIFT_THRESHOLD:g} is the threshold: a shift as large "
               f"as the spread between countries. Markers: mean over prompt languages and personas; lines: their "
               f"smallest to largest shift. Models flagged as format-sensitive are in bold red with a dagger "
               f"(the flag also counts an unstable country ranking and shifts beyond sampling noise, which this "
               f"axis does not show).")
    data = formats_data(out, survey)
    if data is None:
        return _skip(name, caption, f"robustness_{survey}.csv is absent: {label} was asked in the original "
                                    f"format only (run with --variants original,recoded or core)")
    if data["shift_sd"].isna().all():
        return _skip(name, caption, f"robustness_{survey}.csv has no shift_in_country_sd (no country means to "
                                    f"measure the spread between countries); its mean_abs_shift is in the table")
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    fig = _draw(data, label)
    return FigureResult(name, _save(fig, out.path, name, data, survey), caption, data=data)


def _draw(data: pd.DataFrame, label: str):
    models = data.drop_duplicates("model").sort_values("order")
    variants = sorted(data["variant"].unique())
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH, 1.4 + ROW_INCHES * len(models)), layout="constrained")
    y_of = {model: i for i, model in enumerate(models["model"])}
    step = 0.7 / max(len(variants), 1)
    for j, variant in enumerate(variants):
        rows = data[data["variant"] == variant]
        y = rows["model"].map(y_of).to_numpy() + (j - (len(variants) - 1) / 2) * step
        colour = OKABE_ITO[j % len(OKABE_ITO)]
        ax.hlines(y, rows["shift_sd_min"], rows["shift_sd_max"], color=colour, lw=0.8, alpha=0.8)
        ax.scatter(rows["shift_sd"], y, s=18, color=colour, marker=MARKERS[j % len(MARKERS)], edgecolor="black",
                   lw=0.3, label=variant, zorder=3)
    ax.axvline(SHIFT_THRESHOLD, color="#8a1c00", ls="--", lw=1.0, zorder=2,
               label=f"threshold: shift = spread between countries ({SHIFT_THRESHOLD:g})")
    for i in range(len(models)):
        if i % 2 == 0:
            ax.axhspan(i - 0.5, i + 0.5, color="0.95", zorder=0, lw=0)
    ax.set_yticks(range(len(models)), [f"{n} \u2020" if flagged else n
                                       for n, flagged in zip(models["display_name"], models["model_flagged"])])
    for tick, flagged in zip(ax.get_yticklabels(), models["model_flagged"]):
        if flagged:
            tick.set_fontweight("bold")
            tick.set_color("#8a1c00")
    ax.set_ylim(len(models) - 0.5, -0.5)
    ax.set_xlim(left=0, right=max(SHIFT_THRESHOLD * 1.5, float(np.nanmax(data["shift_sd_max"])) * 1.05))
    ax.set_xlabel("Shift from the original prompt, in SDs of the country means (mean |variant - original| / SD)")
    ax.grid(axis="x", lw=0.3, alpha=0.5)
    fig.legend(loc="outside upper center", ncol=min(len(variants) + 1, 5), frameon=False,
               title=f"{label}: how far each question variant moves each model", title_fontsize=9)
    return fig
