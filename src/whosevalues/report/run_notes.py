"""run_notes.json (written by ``whosevalues run``, elicit/run_notes.py) as the report shows it: per model the
answer mode and why, reasoning, temperature, seed, versions, fingerprints, adaptations and the sample check of
distribution mode against sampled answers; and every departure from the study design, which is never silent."""

from __future__ import annotations

import pandas as pd

from whosevalues.elicit.sample_check import cells_text
from whosevalues.report.answers import mode_reason
from whosevalues.report.outdir import OutputDir, display_name

_SEED_HONOURED: dict[object, str] = {True: "yes", False: "no"}  # run_notes.json: true, false or null


def run_notes_rows(out: OutputDir) -> pd.DataFrame | None:
    """One row per model in run_notes.json: mode and why, reasoning, temperature, seed honoured, versions,
    fingerprints, adaptations and the sample check, as display text."""
    models = out.run_notes().get("models")
    if not isinstance(models, dict) or not models:
        return None
    rows = []
    for model, note in sorted(models.items(), key=lambda kv: display_name(kv[0])):
        note = note if isinstance(note, dict) else {}
        rows.append({
            "Model": display_name(model),
            "Mode": f"{note.get('mode') or '?'}" + (f": {mode_reason(out, model)}" if note.get("mode_reason") else ""),
            "Reasoning": _reasoning(note),
            "Temperature": _text(note.get("temperature"), "provider default"),
            "Seed honoured": _SEED_HONOURED.get(note.get("seed_honoured"), "not reported"),
            "Model versions": _joined(note.get("model_versions")),
            "Fingerprints": _joined(note.get("system_fingerprints")),
            "Adaptations (departures from the design)": _joined(note.get("adaptations"), "none"),
            "Sample check": sample_check_text(note.get("sample_check")),
        })
    return pd.DataFrame(rows)


def run_notes_warnings(out: OutputDir) -> list[str]:
    """Every departure from the study design the run recorded: its notes (adaptations, items sampled instead,
    thinking switches, failed probes), then any model adaptation or disagreeing sample check they omit."""
    notes = out.run_notes()
    found = [str(n) for n in notes.get("notes") or []]
    for model, note in (notes.get("models") or {}).items():
        if not isinstance(note, dict):
            continue
        for adaptation in note.get("adaptations") or []:
            if not any(str(adaptation) in text for text in found):
                found.append(f"{model}: {adaptation}")
        if sample_check_disagrees(note.get("sample_check")) and not note.get("disagreement_noted"):
            found.append(_disagreement(model, note))  # unless the run's own note says it
    return found


def sample_check_warnings(out: OutputDir) -> list[str]:
    """One sentence per model whose sample check disagrees with its distributions (run_notes.json's flag)."""
    models = out.run_notes().get("models") or {}
    return [_disagreement(model, note) for model, note in models.items()
            if isinstance(note, dict) and sample_check_disagrees(note.get("sample_check"))]


def _disagreement(model: str, note: dict) -> str:
    return f"{model}: the sample check disagrees with the distribution ({sample_check_text(note['sample_check'])})"


def sample_check_disagrees(check) -> bool:
    """The flag ``elicit/followup.py`` writes: True when sampled and distribution means differ beyond the
    tolerance (None when there was no item to check)."""
    return isinstance(check, dict) and bool(check.get("disagree"))


def sample_check_text(check) -> str:
    """The run's check of distribution mode against sampled answers (elicit/run_notes.py), in words."""
    if check is None:
        return "not run"
    if not isinstance(check, dict):
        return str(check)
    if {"items", "mean_abs_difference"} <= set(check):
        if not check["items"] or check["mean_abs_difference"] is None:
            return "no item to check"
        text = (f"{check['items']} items, sampled vs distribution means differ by "
                f"{_text(check['mean_abs_difference'])} on average")
        if check.get("rms_difference") is not None:  # elicit/sample_check.py's sequential rule
            text = (f"{cells_text(check)} x {check.get('samples_per_item')} samples, sampled vs distribution "
                    f"means differ by {_text(check['rms_difference'])} of the scale's range (RMS)")
        if check.get("tolerance") is not None:
            text += f" (tolerance {_text(check['tolerance'])})"
        return text + (": DISAGREES" if sample_check_disagrees(check) else ": agrees")
    return "; ".join(f"{key}: {_text(value)}" for key, value in check.items())


def _reasoning(note: dict) -> str:
    reasoned = note.get("reasoned")
    if reasoned is None:
        return "unknown"
    if not reasoned:
        return "no"
    tokens = note.get("mean_reasoning_tokens")
    return "yes" + (f", {tokens:.0f} tokens on average" if isinstance(tokens, (int, float))
                    else ", token count not reported")


def _joined(values, empty: str = "not reported") -> str:
    if not values:
        return empty
    return "; ".join(map(str, values)) if isinstance(values, (list, tuple)) else str(values)


def _text(value, none: str = "") -> str:
    if value is None:
        return none
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)
