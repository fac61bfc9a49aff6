"""Requests that follow the main plan: items sampled instead of read as distributions, and the sample check.

- **Sampled instead.** A distribution-mode answer whose valid mass is below the study's minimum (or that
  brought no token probabilities, or could not be read from its position: a "1" that may start "10", a
  letter that began a word, a text variant) is stored with status ``sampled_instead`` and its weak
  distribution; the item is then asked ``samples`` times in sample mode, and those answers replace it in the
  item means. The run note counts the items for each reason (:func:`sampled_instead_note`).
- **Sample check.** In ``auto`` mode every distribution-mode model also samples a small fixed subset
  (``CHECK_ITEMS`` first items of each survey x ``CHECK_SAMPLES`` samples, in every language, under the
  first persona) and the run notes report how far the sampled means are from the distribution means. The
  check's answers never enter the item means. A model is flagged when the mean absolute difference
  exceeds ``CHECK_TOLERANCE`` of the scale's range. The check asks the paper's prompt (``original``) only:
  it tests the reading of next-token probabilities, which is the same machinery in every numbered format,
  and the formats' own effects are what the robustness analysis measures, not something a check should mix in.
"""

from __future__ import annotations

import pandas as pd

from whosevalues.elicit.distribution import UNREADABLE_REASONS

from whosevalues.elicit.plan import PlannedRequest, plan_model
from whosevalues.elicit.store import Store
from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.models.base import Mode
from whosevalues.study import Study

CHECK_ITEMS = 5
CHECK_SAMPLES = 10
#: share of the scale's range (max - min) the sampled and distribution means may differ by on average
CHECK_TOLERANCE = 0.1

Cell = tuple[str, str, str, str, str]  # survey, item, language, persona, variant


def _cell(p: PlannedRequest) -> Cell:
    return p.survey, p.item, p.language, p.persona, p.variant


def sampled_instead_plan(study: Study, store: Store, plan: dict[str, list[PlannedRequest]]
                         ) -> tuple[dict[str, set[str]], dict[str, list[PlannedRequest]]]:
    """(replaced distribution keys per model, sample-mode requests replacing them per model)."""
    weak = {row[0] for row in store.db.execute("SELECT key FROM answers WHERE status = 'sampled_instead'")}
    replaced: dict[str, set[str]] = {}
    follow_up: dict[str, list[PlannedRequest]] = {}
    specs = {spec.id: spec for spec in study.model_specs()}
    for model, requests in plan.items():
        cells = {_cell(p) for p in requests if p.key in weak}
        if not cells:
            continue
        replaced[model] = {p.key for p in requests if p.key in weak}
        sampled = plan_model(study, specs[model], "sample", study.instruments())
        follow_up[model] = [p for p in sampled if _cell(p) in cells]
    return replaced, follow_up


def sampled_instead_note(store: Store, model: str, keys: set[str], min_valid_mass: float) -> str:
    """The run note for one model's items sampled instead, with how many for each reason (their details)."""
    reasons = {"below the minimum": f"next-token probabilities below the minimum valid mass {min_valid_mass:g}",
               "no token probabilities": "no token probabilities", **UNREADABLE_REASONS}
    details = store.answer_meta(keys)["detail"].fillna("")
    counts = {said: int(details.str.contains(phrase, regex=False).sum()) for phrase, said in reasons.items()}
    why = "; ".join(f"{n} {said}" for said, n in counts.items() if n)
    return (f"{model}: {len(keys)} items sampled instead of read as distributions ({why or 'see their details'}); "
            "their weak distributions are kept in the store for reference")


def replaced_keys(replaced: dict[str, set[str]]) -> set[str]:
    return set().union(*replaced.values()) if replaced else set()


def sample_check_plan(study: Study, modes: dict[str, Mode]) -> dict[str, list[PlannedRequest]]:
    """The check's sample-mode requests for each distribution-mode model."""
    checked = study.with_overrides(samples=CHECK_SAMPLES, personas=study.personas[:1], variants=[ORIGINAL])
    instruments = checked.instruments()
    first_items = {(i.id, item) for i in instruments for item in i.item_ids[:CHECK_ITEMS]}
    return {spec.id: [p for p in plan_model(checked, spec, "sample", instruments) if (p.survey, p.item) in first_items]
            for spec in study.model_specs() if modes.get(spec.id) == "distribution"}


def sample_checks(store: Store, plan: dict[str, list[PlannedRequest]], checks: dict[str, list[PlannedRequest]],
                  answers: pd.DataFrame) -> dict[str, dict]:
    """Per checked model: sampled vs distribution means on the check's items (module docstring)."""
    result: dict[str, dict] = {}
    for model, requests in checks.items():
        sampled = store.answers_frame({p.key for p in requests})
        sampled = sampled[sampled["status"] == "valid"]
        means = sampled.groupby(["survey", "item", "language", "persona"])["value"].agg(["mean", "count"])
        dist = answers[(answers["model"] == model) & (answers["mode"] == "distribution")
                       & (answers["status"] == "valid") & (answers.get("variant", ORIGINAL) == ORIGINAL)]
        dist = dist.groupby(["survey", "item", "language", "persona"])["value"].mean()
        rows = []
        for cell, row in means.iterrows():
            if cell in dist.index:
                scale = load_instrument(cell[0]).scale
                rows.append({"survey": cell[0], "item": cell[1], "language": cell[2], "persona": cell[3],
                             "distribution_mean": float(dist[cell]), "sampled_mean": float(row["mean"]),
                             "n_valid_samples": int(row["count"]), "range": scale.max - scale.min})
        result[model] = _summary(rows)
    return result


def _summary(rows: list[dict]) -> dict:
    if not rows:
        return {"items": 0, "samples_per_item": CHECK_SAMPLES, "mean_abs_difference": None,
                "max_abs_difference": None, "tolerance": None, "disagree": None, "per_item": []}
    diffs = [abs(r["sampled_mean"] - r["distribution_mean"]) for r in rows]
    ranges = [r.pop("range") for r in rows]
    mean_diff = sum(diffs) / len(diffs)
    tolerance = CHECK_TOLERANCE * (sum(ranges) / len(ranges))
    return {"items": len(rows), "samples_per_item": CHECK_SAMPLES, "mean_abs_difference": round(mean_diff, 4),
            "max_abs_difference": round(max(diffs), 4), "tolerance": round(tolerance, 4),
            "disagree": mean_diff > tolerance, "per_item": rows}
