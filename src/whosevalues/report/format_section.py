"""The report's opening section when more than one question format was asked: "Does the format change the
answer?" Per survey: which models are format-sensitive and why, the figure of each variant's shift against
the spread between countries, a table per model; then which of the conclusions hold across formats.

A model whose answers move with the wording of the question as much as between countries is said to be
format-sensitive in plain words, the embedded model included: that is a finding, not a failure of the run.
"""

from __future__ import annotations

import pandas as pd

from whosevalues.report import render
from whosevalues.report.figures import FigureResult
from whosevalues.report.formats import (
    SHIFT_THRESHOLD,
    TAU_THRESHOLD,
    conclusions_across_formats,
    flagged_models,
    has_variants,
    model_summary,
    read_robustness,
    variants_asked,
    why_flagged,
)
from whosevalues.report.outdir import OutputDir, display_name, survey_label
from whosevalues.report.tables import fmt_number, term_label

# What each built-in variant changes (issue 18); a survey file's own description wins when it has one.
VARIANT_DESCRIPTIONS = {
    "original": "the paper's exact prompt",
    "descending": "options listed from the highest number to the lowest, same numbers and meaning",
    "recoded": "the numbers run the other way (1 = the other end of the scale)",
    "letters": "letters instead of numbers",
    "text": "answer with the option's words, not its identifier",
    "paraphrase1": "a rewording of the instruction (never of the item)",
    "paraphrase2": "a second rewording of the instruction",
    "paraphrase3": "a third rewording of the instruction",
    "unforced": "no \"respond only with a number\"",
}


def is_format_figure(figure: FigureResult) -> bool:
    return figure.name.startswith("formats_")


def format_section(out: OutputDir, figures: list[FigureResult]) -> str:
    """The section's HTML, or "" when every survey was asked in the original format only."""
    return render.section("formats", format_data(out, figures))


def format_data(out: OutputDir, figures: list[FigureResult]) -> dict | None:
    """What the section shows (templates/sections/formats.html.j2), or None without variants."""
    if not has_variants(out):
        return None
    drawn = {figure.name: figure for figure in figures}
    surveys = [_survey_part(out, survey, drawn.get(f"formats_{survey}")) for survey in out.surveys()]
    return {"shift_threshold": f"{SHIFT_THRESHOLD:g}", "tau_threshold": f"{TAU_THRESHOLD:g}",
            "surveys": [part for part in surveys if part is not None], "conclusions": _conclusions_part(out)}


def _survey_part(out: OutputDir, survey: str, drawn: FigureResult | None) -> dict | None:
    variants = variants_asked(out, survey)
    if len(variants) < 2:
        return None
    label = survey_label(survey)
    part = {"label": label, "survey": survey, "variants": _variants(survey, variants), "robustness": None}
    table = read_robustness(out, survey)
    if table is None:
        return part
    models = sorted(table["model"].unique(), key=display_name)
    flagged = [m for m in flagged_models(out, survey) if m in set(models)] or flagged_models(out, survey)
    robustness = {"headline": flagged_sentence(label, models, flagged),
                  "embedded": [embedded_sentence(m, label, table) for m in flagged if is_embedded(m)],
                  "figure": render.figure(drawn), "models": _model_table(table, flagged)}
    return {**part, "robustness": robustness}


def flagged_sentence(label: str, models: list[str], flagged: list[str]) -> str:
    if not flagged:
        return (f"{label}: no model is format-sensitive. No variant moved any of the {len(models)} models' answers "
                f"as far as the spread between countries, reordered its countries, or shifted it beyond its "
                f"sampling noise.")
    names = ", ".join(display_name(m) for m in flagged)
    return (f"{label}: {len(flagged)} of {len(models)} models {'is' if len(flagged) == 1 else 'are'} "
            f"format-sensitive ({names}). For {'it' if len(flagged) == 1 else 'them'}, which country the answers "
            f"resemble depends on how the question is asked.")


def is_embedded(model: str) -> bool:
    """The local model whosevalues runs when no model is named (the catalog's local-llama entries)."""
    from whosevalues.models.catalog import EMBEDDED_MODEL, load_catalog

    spec = load_catalog().get(model)
    return model == EMBEDDED_MODEL or (spec is not None and spec.provider == "local-llama")


def embedded_sentence(model: str, label: str, table: pd.DataFrame) -> str:
    reasons = why_flagged(table[table["model"] == model])
    return (f"The embedded model ({display_name(model)}) is format-sensitive on {label}: "
            f"{'; '.join(reasons) or 'its rows in the robustness file are flagged'}. This is a true finding about "
            f"the model, not a fault of the run: its answers say more about how the question is put than about "
            f"whose values it holds, so read its similarities and rankings below as such.")


def _variants(survey: str, variants: list[str]) -> list[tuple[str, str]]:
    """Each variant asked with what it changes."""
    described = _survey_descriptions(survey)
    return [(v, described.get(v) or VARIANT_DESCRIPTIONS.get(v, "a survey-defined format")) for v in variants]


def _survey_descriptions(survey: str) -> dict[str, str]:
    """A survey file's own variant descriptions, when its schema has them."""
    from whosevalues.instruments import load_instrument

    try:
        declared = getattr(load_instrument(survey), "variants", None) or {}
    except (ValueError, KeyError):
        return {}
    items = declared.items() if isinstance(declared, dict) else ((getattr(v, "name", ""), v) for v in declared)
    return {str(name): str(getattr(v, "description", "") or "") for name, v in items if getattr(v, "description", "")}


def _model_table(table: pd.DataFrame, flagged: list[str]) -> dict:
    summary = model_summary(table)
    summary["flagged"] = summary["flagged"] | summary["model"].isin(flagged)
    summary = summary.sort_values(["flagged", "largest_shift_sd"], ascending=[False, False])
    reasons = {m: "; ".join(why_flagged(table[table["model"] == m])) for m in summary["model"]}
    shown = pd.DataFrame({
        "Model": summary["model"].map(display_name),
        "Format-sensitive": summary["flagged"].map({True: "yes", False: "no"}),
        "Largest shift (country SDs)": summary["largest_shift_sd"].map(lambda v: fmt_number(v, 2)),
        "Largest shift (scale points)": summary["largest_shift"].map(lambda v: fmt_number(v, 2)),
        "Lowest country-rank tau": summary["lowest_tau"].map(lambda v: fmt_number(v, 2)),
        "Lowest item r": summary["lowest_correlation"].map(lambda v: fmt_number(v, 2)),
        "Flagged conditions": [f"{f} of {n}" for f, n in zip(summary["flagged_rows"], summary["rows"])],
        "Why": summary["model"].map(reasons),
    })
    return render.table(shown)


def _conclusions_part(out: OutputDir) -> dict | None:
    """Which conclusions hold across formats, or None when the file does not say."""
    frame = conclusions_across_formats(out)
    if frame is None:
        return None
    counts = frame["holds_across_formats"].value_counts()
    sentence = (f"Of {len(frame)} conclusions, {counts.get('yes', 0)} hold in every format, {counts.get('no', 0)} "
                f"do not, and {counts.get('not tested', 0)} were not tested across formats.")
    failing = frame[frame["holds_across_formats"] == "no"]
    if len(failing):
        sentence += " Those that change with the format: " + "; ".join(
            f"{survey_label(r.survey)} {str(r.analysis).upper()} {term_label(r.term)}"
            for r in failing.itertuples()) + "."
    shown = pd.DataFrame({"Survey": frame["survey"].map(survey_label), "RQ": frame["analysis"].str.upper(),
                          "Term": frame["term"].map(term_label), "Claim": frame.get("claim", ""),
                          "Verdict (original format)": frame.get("verdict", ""),
                          "Holds across formats": frame["holds_across_formats"]})
    return {"sentence": sentence, "table": render.table(shown)}


def caveat(out: OutputDir) -> str | None:
    """One line for the report's "Read with care" box when any model is format-sensitive."""
    if not has_variants(out):
        return None
    found = [(survey, flagged_models(out, survey)) for survey in out.surveys()]
    found = [(survey, models) for survey, models in found if models]
    if not found:
        return None
    parts = "; ".join(f"{survey_label(s)}: {', '.join(display_name(m) for m in models)}" for s, models in found)
    return (f"Format-sensitive models ({parts}): their answers move with how the question is asked as much as "
            f"between countries; see \"Does the format change the answer?\".")
