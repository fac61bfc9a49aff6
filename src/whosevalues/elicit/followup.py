"""Requests that follow the main plan: items sampled instead of read as distributions, and the sample check.

- **Sampled instead.** A distribution-mode answer whose valid mass is below the study's minimum (or that
  brought no token probabilities, or could not be read from its position: a "1" that may start "10", a
  letter that began a word, a text variant) is stored with status ``sampled_instead`` and its weak
  distribution; the item is then asked ``samples`` times in sample mode, and those answers replace it in the
  item means. The run note counts the items for each reason (:func:`sampled_instead_note`).
- **Sample check.** In ``auto`` mode every distribution-mode model also samples a small fixed subset
  (``CHECK_ITEMS`` first items of each survey, in every language, under the first persona, in the
  ``original`` format only) at temperature 1 (``CHECK_TEMPERATURE``) in rounds, and stops as soon as
  agreement or disagreement with the distribution means is clear (``elicit/sample_check.py``: the rule,
  its tolerance and error rate). The run notes report the cells, the samples per cell it took and the
  verdict. The check's answers never enter the item means.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from whosevalues.elicit.distribution import UNREADABLE_REASONS
from whosevalues.elicit.outcome import BELOW_MIN_MASS, NO_TOKEN_PROBABILITIES
from whosevalues.elicit.plan import ModelPlan, PlannedRequest, plan_model
from whosevalues.elicit.sample_check import CHECK_TEMPERATURE, ROUNDS, TOLERANCE, evaluate, run_in_rounds
from whosevalues.elicit.store import Store
from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.models.base import Mode
from whosevalues.study import Study

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd

#: items per survey the check samples (x languages; first persona; original format)
CHECK_ITEMS = 2
#: the most samples a check cell gets (the last round)
CHECK_SAMPLES = ROUNDS[-1]
CHECK_TOLERANCE = TOLERANCE

Cell = tuple[str, str, str, str, str]  # survey, item, language, persona, variant


def _cell(p: PlannedRequest) -> Cell:
    return p.survey, p.item, p.language, p.persona, p.variant


def sampled_instead_plan(study: Study, store: Store, plan: Mapping[str, Sequence[PlannedRequest]]
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
    """The run note for one model's items sampled instead, with how many for each reason (``Outcome.reason``)."""
    reasons = {BELOW_MIN_MASS: f"next-token probabilities below the minimum valid mass {min_valid_mass:g}",
               NO_TOKEN_PROBABILITIES: "no token probabilities", **UNREADABLE_REASONS}
    stored = store.answer_meta(keys)["reason"]
    counts = {said: int((stored == reason).sum()) for reason, said in reasons.items()}
    why = "; ".join(f"{n} {said}" for said, n in counts.items() if n)
    return (f"{model}: {len(keys)} items sampled instead of read as distributions ({why or 'see their details'}); "
            "their weak distributions are kept in the store for reference")


def replaced_keys(replaced: dict[str, set[str]]) -> set[str]:
    return set().union(*replaced.values()) if replaced else set()


def sample_check_plan(study: Study, modes: dict[str, Mode]) -> dict[str, list[PlannedRequest]]:
    """The check's sample-mode requests (up to ``CHECK_SAMPLES`` per cell) for each distribution-mode model."""
    checked = study.with_overrides(samples=CHECK_SAMPLES, personas=study.personas[:1], variants=[ORIGINAL],
                                   temperature=CHECK_TEMPERATURE)
    instruments = checked.instruments()
    first_items = {(i.id, item) for i in instruments for item in i.item_ids[:CHECK_ITEMS]}
    return {spec.id: [p for p in plan_model(checked, spec, "sample", instruments)
                      if (p.survey, p.item) in first_items and getattr(p, "variant", ORIGINAL) == ORIGINAL]
            for spec in study.model_specs() if modes.get(spec.id) == "distribution"}


async def run_sample_check(study: Study, modes: dict[str, Mode], store: Store,
                           plan: Mapping[str, Sequence[PlannedRequest]],
                           ask: Callable[[dict[str, list[PlannedRequest]]], Awaitable[object]]
                           ) -> dict[str, list[PlannedRequest]]:
    """Ask each distribution-mode model's check round by round until its verdict is clear; what was asked."""
    checks = sample_check_plan(study, modes)
    if not checks:
        return {}

    def judge(model: str, asked: list[PlannedRequest], last_round: bool) -> dict:
        requests = plan[model]
        keys = requests.keys() if isinstance(requests, ModelPlan) else [p.key for p in requests]
        distributions = store.answers_frame(set(keys))
        return _evaluate(store, model, asked, distributions, last_round)

    return await run_in_rounds(checks, ask, judge)


def sample_checks(store: Store, plan: Mapping[str, Sequence[PlannedRequest]], checks: dict[str, list[PlannedRequest]],
                  answers: pd.DataFrame) -> dict[str, dict]:
    """Per checked model: sampled vs distribution means on the check's cells (``elicit/sample_check.py``)."""
    return {model: _evaluate(store, model, requests, answers, last_round=True) for model, requests in checks.items()}


def _evaluate(store: Store, model: str, asked: list[PlannedRequest], answers: pd.DataFrame, last_round: bool) -> dict:
    sampled = store.answers_frame({p.key for p in asked})
    sampled = sampled[sampled["status"] == "valid"]
    distributions = answers[(answers["model"] == model) & (answers["mode"] == "distribution")
                            & (answers["status"] == "valid") & (answers.get("variant", ORIGINAL) == ORIGINAL)]
    ranges = {survey: float(load_instrument(survey).scale.max - load_instrument(survey).scale.min)
              for survey in set(sampled["survey"])}
    samples_asked = max((p.sample for p in asked), default=-1) + 1
    # ``items`` counts the cells judged (with a valid sampled answer); the cells asked can be more
    return {**evaluate(sampled, distributions, ranges, samples_asked, last_round),
            "cells_asked": len({_cell(p) for p in asked})}
