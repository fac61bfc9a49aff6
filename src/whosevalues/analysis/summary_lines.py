"""The lines an analysis says in the run output, read from its summary (summary.json's content): the same
whether the analysis just ran or a rerun reused its files (analysis/rerun.py), and light to import, since a
rerun analyses nothing."""

from __future__ import annotations

import math


def summary_warnings(summary: dict) -> list[str]:
    """One line per departure worth saying in the run output: unbalanced origins, items removed by the
    minimum-valid-samples rule, temperature confounded with origin."""
    lines = []
    for survey, result in summary.get("surveys", {}).items():
        for name, analysis in result.get("analyses", {}).items():
            lines += [f"{survey} {warning}" for warning in analysis.get("warnings", [])]
            # a factor left out of a model changes what the model says: never only in summary.json
            lines += [f"{survey} {name}: term {term} left out of the model ({reason})"
                      for term, reason in (analysis.get("dropped_terms") or {}).items() if ":" not in term]
        removed = result.get("reliability", {}).get("items_below_min_valid", 0)
        if removed:
            lines.append(f"{survey}: {removed} item(s) had fewer than {result['reliability']['min_valid_samples']} "
                         f"valid samples in a condition and count as missing (see exclusions.csv)")
        note = result.get("temperature", {}).get("note")
        if note:
            lines.append(f"{survey}: {note}")
    return lines + format_warnings(summary)


def format_warnings(summary: dict) -> list[str]:
    """Run-output lines: the format-sensitive models, and rows whose sampling-noise test could not be made."""
    lines = []
    for survey, result in summary.get("surveys", {}).items():
        formats = result.get("formats") or {}
        flagged = formats.get("format_sensitive_models") or []
        if flagged:
            lines.append(f"{survey}: the question format moves the answers of {', '.join(flagged)} "
                         f"(format-sensitive: robustness_{survey}.csv)")
        untested = [row for row in formats.get("rows", []) if _judged_without_noise_test(row)]
        if untested:
            lines.append(f"{survey}: {len(untested)} robustness row(s) judged without the sampling-noise test "
                         f"(no per-sample answers: distribution mode or item means only)")
    return lines


def _judged_without_noise_test(row: dict) -> bool:
    """A robustness row judged without its sampling-noise test: its ``p_sampling`` is NaN (null in summary.json:
    no per-sample answers to permute). A row skipped (no original answers) has none and was not judged."""
    if "p_sampling" not in row:
        return False
    p = row["p_sampling"]
    return not (isinstance(p, (int, float)) and math.isfinite(p))
