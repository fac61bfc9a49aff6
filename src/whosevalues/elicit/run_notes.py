"""``run_notes.json``: what a run did that the study did not say, per model, for the terminal and the report.

Format (docs/INTERFACES): ``{"notes": [str, ...], "models": {model_id: {"mode", "mode_reason", "reasoned",
"mean_reasoning_tokens", "adaptations", "temperature", "model_versions", "system_fingerprints",
"seed_honoured", "sample_check", "disagreement_noted", ...}}}``. ``notes`` lists every departure from the study
design (adapted parameters, items sampled instead, thinking switches, probes that failed), so none is silent;
``disagreement_noted``: ``notes`` already says this model's sample check disagrees (the report does not repeat it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.outcome import KEPT_WEAK
from whosevalues.elicit.runner import RunStats
from whosevalues.elicit.sample_check import cells_text
from whosevalues.elicit.store import Store
from whosevalues.models.base import Backend, Mode
from whosevalues.outfiles import atomic_write, none_if_nan
from whosevalues.study import Study

RUN_NOTES = "run_notes.json"


def merge_stats(first: RunStats, second: RunStats) -> RunStats:
    return RunStats(first.asked + second.asked, first.statuses + second.statuses,
                    first.interrupted or second.interrupted, first.seconds + second.seconds,
                    first.sample_check + second.sample_check,
                    {**first.stopped, **second.stopped})


def build_run_notes(study: Study, backends: dict[str, Backend], store: Store, modes: dict[str, Mode],
                    reasons: dict[str, str], memories: dict[str, EndpointMemory], keys: set[str],
                    notes: list[str], checks: dict[str, dict]) -> dict:
    meta = store.answer_meta(keys)
    models: dict[str, dict] = {}
    all_notes = list(notes)
    for model, backend in backends.items():
        rows = meta[meta["model"] == model]
        memory = memories[model]
        thinking = _thinking_note(backend)
        if thinking:
            all_notes.append(thinking)
        all_notes += [n for n in memory.adaptation_notes if n not in all_notes]
        budget = max(memory.budgets.values(), default=None)
        if budget and budget > study.max_tokens:
            all_notes.append(f"{model}: answers needed up to {budget} output tokens (the study's max_tokens is "
                             f"{study.max_tokens}); later requests started there")
        weak_kept = int((rows["reason"] == KEPT_WEAK).sum())
        if weak_kept:
            all_notes.append(f"{model}: {weak_kept} distributions had less than {study.min_valid_mass:g} of their "
                             "probability on the scale's answers; kept (exact distributions of an in-process "
                             "model, renormalised over the answers) rather than sampled")
        exhausted = int((rows["status"] == "no_answer_budget").sum())
        if exhausted:
            all_notes.append(f"{model}: {exhausted} answers ran out of budget on reasoning even at "
                             f"{backend.spec.reasoning_budget_cap} tokens (status no_answer_budget)")
        check = checks.get(model)
        disagrees = bool(check and check.get("disagree"))
        if check and disagrees:
            all_notes.append(f"{model}: sampled means differ from distribution means by "
                             f"{_check_difference(check)} over {check['items']} check items "
                             f"(tolerance {check['tolerance']:.2f}): the distributions may not describe its answers")
        models[model] = _model_notes(study, backend, rows, modes.get(model), reasons.get(model, ""), memory, check)
        models[model]["disagreement_noted"] = disagrees  # the report need not say it again
    return {"notes": all_notes, "models": models}


def _model_notes(study: Study, backend: Backend, rows, mode: Mode | None, reason: str, memory: EndpointMemory,
                 check: dict | None) -> dict:
    reasoning = rows["reasoning_tokens"].dropna()  # answers whose provider reported them
    reasoned = bool((rows["reasoned"].fillna(0) == 1).any()) or bool((reasoning > 0).any())
    seeds = rows["seed_honoured"].dropna()
    temperature = study.temperature if study.temperature is not None else backend.spec.temperature
    if "no_temperature" in backend.param_adaptations:
        temperature = None
    return {
        "mode": mode, "mode_reason": qualified_mode_reason(reason, check), "reasoned": reasoned,
        "mean_reasoning_tokens": _round(reasoning.mean()) if len(reasoning) else None,
        "adaptations": memory.adaptation_notes, "temperature": temperature,
        "model_versions": sorted(set(rows["model_version"].dropna())),
        "system_fingerprints": sorted(set(rows["system_fingerprint"].dropna())),
        "seed_honoured": None if seeds.empty else bool((seeds == 1).all()),
        "max_tokens_used": _int_or_none(rows["max_tokens_used"].max()),
        "thinking": backend.spec.thinking,
        "sample_check": check,
    }


def _check_difference(check: dict) -> str:
    """The sample check's difference as its rule judged it (elicit/sample_check.py: RMS, share of the range)."""
    if check.get("rms_difference") is not None:
        return f"{check['rms_difference']:.2f} of the scale's range (RMS)"
    return f"{check['mean_abs_difference']:.2f} on average"


NOT_TRUSTWORTHY = "its own sample check contradicts these distributions, so they are not trustworthy here"


def qualified_mode_reason(reason: str, check: dict | None) -> str:
    """The reason for a model's mode, never calling its distributions trustworthy when its own sample check
    found its sampled answers far from them (issue 17: the report and the terminal say one thing)."""
    if not (isinstance(check, dict) and check.get("disagree")) or NOT_TRUSTWORTHY in reason:
        return reason
    reason = re.sub(r"\btrustworthy\s+", "", reason)
    return f"{reason}; but {NOT_TRUSTWORTHY} (sampled means {_check_difference(check)} away from the " \
           f"distributions', tolerance {check.get('tolerance')})"


def _thinking_note(backend: Backend) -> str | None:
    return backend.thinking_note()


def _round(value) -> float | None:
    return None if none_if_nan(value) is None else round(float(value), 1)


def _int_or_none(value) -> int | None:
    return None if none_if_nan(value) is None else int(value)


def write_run_notes(run_notes: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RUN_NOTES
    atomic_write(path, json.dumps(run_notes, indent=2, ensure_ascii=False, default=str))
    return path


def print_model_notes(run_notes: dict, console: Console) -> None:
    """One line per model: mode and why, reasoning, adaptations, versions, fingerprints, seed."""
    for model, info in run_notes["models"].items():
        tokens = info["mean_reasoning_tokens"]
        reasoned = f"reasoned ({tokens:g} reasoning tokens per answer)" if info["reasoned"] and tokens is not None \
            else "reasoned (reasoning tokens not reported)" if info["reasoned"] else "did not reason"
        seed = {True: "seed honoured", False: "seed rejected", None: "no seed sent"}[info["seed_honoured"]]
        parts = [f"{info['mode']} ({qualified_mode_reason(info['mode_reason'], info.get('sample_check'))})", reasoned,
                 f"versions {', '.join(info['model_versions']) or 'not reported'}",
                 f"fingerprints {', '.join(info['system_fingerprints']) or 'none'}", seed]
        if info["adaptations"]:
            parts.append(f"{len(info['adaptations'])} adaptation(s)")
        check = info.get("sample_check")
        if check and check.get("items"):
            per_item = f" x {check['samples_per_item']} samples" if check.get("samples_per_item") else ""
            parts.append(f"sample check of {cells_text(check)}{per_item}: " + _check_difference(check)
                         + (" DISAGREES: the distributions are not trustworthy" if check["disagree"] else " agrees"))
        console.print(f"[bold]{escape(model)}[/]: " + escape("; ".join(parts)), highlight=False)
