"""How the answers were obtained, as the output directory records it: each model's answer mode, and how many
of its answers were valid, per model and condition, in the terms of that mode.

- Mode, per model: the ``mode`` column of item_means.csv (what the store holds), else ``run_notes.json``
  (docs/output.md), else "not recorded" (item means given directly without one).
- Validity, per model x survey x language x persona, one measure per mode, never an invented count:
  sampled answers: the share of samples that held a number on the scale (n_valid / n_total);
  distribution mode: the mean probability that fell on valid answers before renormalising (valid_mass);
  the paper's published answers: 1 - prop_na, the share of the condition's samples the file records as not
  missing; anything else: unknown.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.outdir import OutputDir, display_name, survey_label

SAMPLE, DISTRIBUTION, NOT_RECORDED = "sample", "distribution", "not recorded"
MEASURES = {
    "samples": "share of sampled answers that were a number on the scale",
    "mass": "probability on valid answers (distribution mode)",
    "recorded": "share of samples the answers file records as not missing (1 - prop_na)",
    "unknown": "unknown: the answers file records no validity",
}
# Below this, a distribution-mode answer mostly is not a number: the renormalised distribution rests on little.
LOW_VALID_MASS = 0.5


# -- modes ---------------------------------------------------------------------------------------

def model_modes(out: OutputDir) -> dict[str, str]:
    """model id -> sample | distribution | "sample and distribution" | not recorded, for every model answering."""
    return dict(out.memo("model_modes", lambda: _model_modes(out)))


def _model_modes(out: OutputDir) -> dict[str, str]:
    means = out.item_means()
    notes = out.run_notes().get("models") or {}
    by_model: dict[str, set[str]] = {}  # the modes each model's item means record
    if means is not None and "mode" in means:
        for model, mode in means[["model", "mode"]].dropna().drop_duplicates().itertuples(index=False):
            by_model.setdefault(model, set()).add(str(mode))
    modes = {}
    for model in sorted(out.model_origins()):
        recorded = sorted(by_model.get(model, set()) - {"nan", ""})
        if not recorded and isinstance(notes.get(model), dict) and notes[model].get("mode"):
            recorded = [str(notes[model]["mode"])]
        modes[model] = " and ".join(recorded) if recorded else NOT_RECORDED
    return modes


def mode_reason(out: OutputDir, model: str) -> str:
    note = (out.run_notes().get("models") or {}).get(model)
    if isinstance(note, dict) and note.get("mode_reason"):
        from whosevalues.elicit.run_notes import qualified_mode_reason  # never "trustworthy" against its check

        return qualified_mode_reason(str(note["mode_reason"]), note.get("sample_check"))
    means = out.item_means()
    if means is not None and "prop_na" in means and means.loc[means["model"] == model, "prop_na"].notna().any():
        return "the paper's published answers: the mean of its sampled answers per item"
    return ""


def modes_by_kind(modes: dict[str, str]) -> dict[str, list[str]]:
    by_kind: dict[str, list[str]] = {}
    for model, mode in sorted(modes.items(), key=lambda kv: display_name(kv[0])):
        by_kind.setdefault(mode, []).append(model)
    return by_kind


def mode_summary(out: OutputDir) -> str:
    """One line for the design table: the mode of every model, or which models used which."""
    by_kind = modes_by_kind(model_modes(out))
    described = {SAMPLE: "sampled answers", DISTRIBUTION: "distribution (token probabilities)",
                 NOT_RECORDED: "not recorded (item means given without a mode)"}
    if len(by_kind) == 1:
        mode, models = next(iter(by_kind.items()))
        return f"{described.get(mode, mode)}, for {_all_n(len(models))}"
    return "mixed: " + "; ".join(f"{described.get(mode, mode)} for {', '.join(map(display_name, models))}"
                                 for mode, models in by_kind.items())


def mixed_mode_warning(out: OutputDir) -> str | None:
    """The warning every comparison across answer modes needs, or None when the models share one mode."""
    by_kind = {k: v for k, v in modes_by_kind(model_modes(out)).items() if k != NOT_RECORDED}
    if len(by_kind) < 2 and not out.run_notes().get("mixed_modes"):
        return None
    groups = "; ".join(f"{mode}: {', '.join(map(display_name, models))}" for mode, models in by_kind.items())
    return (f"The models answered in different modes ({groups}). Every comparison across these models (the "
            f"headline, Figures 1-5 and the origin terms of RQ1-RQ3) compares a mean of sampled answers with the "
            f"expectation of a probability distribution, so a difference may come from the measurement, not "
            f"the model.")


def _all_n(n: int) -> str:
    return "the one model" if n == 1 else f"all {n} models"


def samples_per_item(out: OutputDir) -> str:
    """The design table's "Samples per item and condition", per mode, never a number the files do not hold."""
    means = out.item_means()
    if means is None:
        return "not recorded"
    modes = model_modes(out)
    parts = []
    for mode, models in modes_by_kind(modes).items():
        rows = means[means["model"].isin(models)]
        counts = rows["n_total"].dropna().astype(int) if "n_total" in rows else pd.Series(dtype=int)
        if mode == DISTRIBUTION:
            text = "one probability distribution per item"
        elif len(counts):
            text = ", ".join(map(str, sorted(counts.unique())))
        else:
            text = "not recorded (the answers file gives item means only)"
        parts.append(text if len(modes_by_kind(modes)) == 1 else f"{mode}: {text}")
    return "; ".join(parts)


# -- validity --------------------------------------------------------------------------------------

def validity_data(out: OutputDir, survey: str | None = None) -> pd.DataFrame | None:
    """Per model x survey x language x persona: mode, measure (a key of MEASURES), valid (the share that
    measure gives, NaN when unknown), n_items, items_without_answer, n_valid, n_total, valid_mass, prop_na,
    refusal_rate (NaN when not recorded) and display_name."""
    return out.memo(f"validity_{survey}", lambda: _validity_data(out, survey))


def _validity_data(out: OutputDir, survey: str | None) -> pd.DataFrame | None:
    means = out.item_means(all_formats=True)  # each question format's validity
    if means is not None and survey is not None:
        means = means[means["survey"] == survey]
    if means is None or not len(means):
        return None
    means = means.copy()
    if "variant" in means:  # a missing name is the original format (and groupby would drop it)
        means["variant"] = means["variant"].fillna("original")
    for column in ("n_valid", "n_total", "refusal_rate", "valid_mass", "prop_na"):
        means[column] = pd.to_numeric(means[column], errors="coerce") if column in means else np.nan
    modes = model_modes(out)
    means["mode"] = means["model"].map(lambda m: modes.get(m, NOT_RECORDED))
    means["refusals"] = means["refusal_rate"] * means["n_total"]
    means["no_answer"] = means["mean"].isna()
    keys = ["model", "survey", "language", "persona", *(["variant"] if "variant" in means else []), "mode"]
    groups = means.groupby(keys, sort=True)
    grouped = groups.agg(n_items=("item", "nunique"), items_without_answer=("no_answer", "sum"),
                         valid_mass=("valid_mass", "mean"), prop_na=("prop_na", "mean"))
    # counts stay unknown (NaN) where no row records them, never 0
    grouped = grouped.join(groups[["n_valid", "n_total", "refusals"]].sum(min_count=1)).reset_index()
    grouped["refusal_rate"] = grouped["refusals"] / grouped["n_total"]
    measure = np.select(
        [(grouped["mode"] == DISTRIBUTION) & grouped["valid_mass"].notna(), grouped["n_total"] > 0,
         grouped["prop_na"].notna()], ["mass", "samples", "recorded"], "unknown")
    grouped["measure"] = measure
    grouped["valid"] = np.select(
        [measure == "mass", measure == "samples", measure == "recorded"],
        [grouped["valid_mass"], grouped["n_valid"] / grouped["n_total"].where(grouped["n_total"] > 0),
         1 - grouped["prop_na"]], np.nan)
    grouped["display_name"] = grouped["model"].map(display_name)
    return grouped.drop(columns="refusals")


def validity_table(out: OutputDir, every_condition: bool = False) -> pd.DataFrame | None:
    """Display rows for every model x survey x condition whose answers were not all valid, and every
    distribution-mode condition (its valid mass is the point), lowest validity first; or every condition."""
    data = validity_data(out)
    if data is None:
        return None
    shown = data if every_condition else data[
        (data["measure"] == "mass") | (data["valid"] < 1) | (data["refusal_rate"] > 0)
        | (data["items_without_answer"] > 0)]
    shown = shown.sort_values(["valid", "display_name", "survey", "language", "persona"], na_position="last")
    return pd.DataFrame({
        "Model": shown["display_name"], "Survey": shown["survey"].map(survey_label), "Language": shown["language"],
        "Persona": shown["persona"], **({"Variant": shown["variant"]} if "variant" in shown else {}),
        "Mode": shown["mode"],
        "Valid": shown["valid"].map(_percent),
        "Measure": shown["measure"].map({"mass": "probability on valid answers", "samples": "valid samples",
                                         "recorded": "1 - prop_na (file)", "unknown": "unknown"}),
        "Refusals": shown["refusal_rate"].map(lambda v: "not recorded" if pd.isna(v) else _percent(v)),
        "Items with no valid answer": shown["items_without_answer"].astype(int),
    })


def validity_sentences(out: OutputDir) -> list[tuple[str, bool]]:
    """What the validity table says, in words: (sentence, is_warning), one per measure present."""
    data = validity_data(out)
    if data is None:
        return [("item_means.csv is absent: answer validity is unknown.", True)]
    sentences = []
    for measure, rows in data.groupby("measure", sort=False):
        models = ", ".join(sorted(set(rows["display_name"])))
        if measure == "samples":
            if (rows["valid"] >= 1).all() and not (rows["items_without_answer"] > 0).any():
                sentences.append((f"Every sampled answer was a number on the scale ({models}).", False))
            else:
                worst = rows.loc[rows["valid"].idxmin()]
                overall = rows["n_valid"].sum() / rows["n_total"].sum()
                sentences.append((f"Sampled answers were valid in {_percent(overall)} of cases overall; lowest: "
                                  f"{_where(worst)} with {_percent(worst['valid'])}.",
                                  bool(worst["valid"] < LOW_VALID_MASS)))
        elif measure == "mass":
            worst = rows.loc[rows["valid"].idxmin()]
            low = rows[rows["valid"] < LOW_VALID_MASS]
            text = (f"Distribution mode ({models}): on average {_percent(rows['valid'].mean())} of the probability "
                    f"fell on valid answers (lowest: {_where(worst)}, {_percent(worst['valid'])}). Each item's "
                    f"distribution is renormalised over the scale, so every item gets an answer however little "
                    f"probability the model put on the scale.")
            if len(low):
                text += (f" In {len(low)} of {len(rows)} conditions less than {LOW_VALID_MASS:.0%} did: there the "
                         f"model mostly wanted to say something other than a number, and its answers rest on a small "
                         f"part of its probability.")
            contradicted = contradicted_models(out, set(rows["model"]))
            if contradicted:
                names = ", ".join(map(display_name, contradicted))
                text += (f" The sample check contradicts the distributions of {names}"
                         f" (their sampled answers' means lie beyond the tolerance from the distributions'): those "
                         f"distributions are not trustworthy, whatever their probability on the scale.")
            sentences.append((text, bool(len(low)) or bool(contradicted)))
        elif measure == "recorded":
            missing = rows[rows["prop_na"] > 0]
            sentences.append((
                f"The answers file records the share of missing answers per condition (prop_na), not how many "
                f"samples of each item were valid: {len(missing)} of {len(rows)} conditions had missing answers "
                f"(at most {_percent(rows['prop_na'].max())}).", False))
        else:
            sentences.append((f"Answer validity is unknown for {models}: the answers file records neither "
                              f"valid-sample counts, nor probabilities, nor a share of missing answers.", True))
    return sentences


def contradicted_models(out: OutputDir, models: set[str]) -> list[str]:
    """The models among ``models`` whose sample check (run_notes.json) disagrees with their distributions."""
    notes = out.run_notes().get("models") or {}
    return sorted(m for m in models if isinstance(notes.get(m), dict)
                  and isinstance(notes[m].get("sample_check"), dict) and notes[m]["sample_check"].get("disagree"))


def _where(row) -> str:
    shows_variant = "variant" in row and str(row["variant"]) not in ("original", "nan")
    variant = f" / variant {row['variant']}" if shows_variant else ""
    return f"{row['display_name']}, {survey_label(row['survey'])}, {row['language']} / {row['persona']}{variant}"


def _percent(value) -> str:
    """Whole percents, one decimal below 10% or where rounding would show an incomplete share as 100%."""
    if pd.isna(value):
        return "unknown"
    text = f"{value:.0%}"
    return f"{value:.1%}" if 0 < value < 0.1 or (value < 1 and text == "100%") else text
