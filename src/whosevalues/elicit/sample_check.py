"""The sample check, sized to what it must show: a sequential rule over rounds of samples.

What it must show: that a model's distribution-mode item means are what its sampled answers (at temperature 1,
the distribution's own) give, within
``TOLERANCE`` of the scale's range, so a wrong readout (a missed token spelling, a mis-split "10", a wrong
chat template) cannot go unnoticed. The check's answers never enter the item means.

The rule. The check's cells (``elicit/followup.sample_check_plan``) are asked in rounds, up to ``ROUNDS[r]``
samples per cell after round ``r``. After each round, per cell ``i`` (values in units of the scale's range):

- ``d_i`` = sampled mean - distribution mean;
- ``v_i`` = the variance of that sampled mean: max(sample variance, the distribution's own variance) / n_i
  (the distribution's variance is a floor, so a few identical samples never look certain);

and over the ``k`` cells, the mean squared difference ``D2`` is estimated without the sampling noise's bias,
``D2 = mean(d_i^2 - v_i)``, with standard error ``sqrt(sum(4 d_i^2 v_i + 2 v_i^2)) / k``. Its root (the RMS
difference, which bounds the mean absolute difference from above) is compared with the tolerance:

- **agrees**: the upper bound sqrt(D2 + z SE) is below the tolerance: stop;
- **disagrees**: the lower bound sqrt(D2 - z SE) is above it: stop;
- otherwise the next round; after the last round the point estimate decides, and ``clear`` is False.

``z`` is one-sided at ``ALPHA / (2 * len(ROUNDS))`` (Bonferroni over the looks and the two directions), so
the chance that a stop decides wrongly stays below ``ALPHA``. The run notes give the rule, the cells, the
samples per cell it took and whether the decision was clear.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from statistics import NormalDist
from typing import TYPE_CHECKING

from whosevalues.elicit.plan import PlannedRequest

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd

#: samples per cell after each round (cumulative). Two looks: with a third (20 per cell) the embedded model,
#: whose check answers are mostly not a number (43 valid of 160), was still undecided (RMS .18, interval 0 to
#: .34) after twice the cost; an undecided check says so (``clear`` false) instead of sampling on.
ROUNDS = (5, 10)
#: share of the scale's range the sampled and distribution means may differ by (RMS over the cells)
TOLERANCE = 0.1
ALPHA = 0.05
#: the check samples at temperature 1, the temperature a distribution is read at (the softmax of the logits,
#: or a provider's log probabilities): at a model's own lower temperature its samples are sharper than the
#: distribution they are compared with, and a correct readout would look wrong
CHECK_TEMPERATURE = 1.0
Z = NormalDist().inv_cdf(1 - ALPHA / (2 * len(ROUNDS)))
RULE = (f"sequential: rounds of {', '.join(map(str, ROUNDS))} samples per cell at temperature "
        f"{CHECK_TEMPERATURE:g}; stops once the RMS difference "
        f"between sampled and distribution means (share of the scale's range) is clearly below or above "
        f"{TOLERANCE:g} (one-sided z = {Z:.2f}, Bonferroni over {len(ROUNDS)} looks and both directions)")

CellKey = tuple  # (survey, item, language, persona[, variant])


def cell_stats(sampled: Sequence[float], distribution: dict[int, float], scale_range: float) -> dict:
    """One cell's difference and its variance, in units of the scale's range (module docstring)."""
    import numpy as np
    values = np.asarray(sampled, dtype=float)
    total = sum(distribution.values())
    mean = sum(v * p for v, p in distribution.items()) / total
    spread = sum(p * (v - mean) ** 2 for v, p in distribution.items()) / total
    sample_var = float(values.var(ddof=1)) if len(values) > 1 else 0.0
    return {"distribution_mean": mean, "sampled_mean": float(values.mean()), "n_valid_samples": len(values),
            "d": (float(values.mean()) - mean) / scale_range,
            "v": max(sample_var, spread) / len(values) / scale_range ** 2}


def verdict(cells: list[dict], last_round: bool) -> dict:
    """Agree, disagree or go on (``decided`` False), from the cells' ``d`` and ``v`` (module docstring)."""
    import numpy as np
    d = np.array([c["d"] for c in cells])
    v = np.array([c["v"] for c in cells])
    k = len(cells)
    d2 = float(np.mean(d ** 2 - v))
    se = float(np.sqrt(np.sum(4 * d ** 2 * v + 2 * v ** 2)) / k)
    upper, lower = math.sqrt(max(d2 + Z * se, 0.0)), math.sqrt(max(d2 - Z * se, 0.0))
    point = math.sqrt(max(d2, 0.0))
    if upper < TOLERANCE:
        disagree, clear = False, True
    elif lower > TOLERANCE:
        disagree, clear = True, True
    else:
        disagree, clear = point > TOLERANCE, False
    return {"rms_difference": round(point, 4), "rms_interval": [round(lower, 4), round(upper, 4)],
            "mean_abs_difference": round(float(np.mean(np.abs(d))), 4),
            "max_abs_difference": round(float(np.max(np.abs(d))), 4),
            "tolerance": TOLERANCE, "disagree": disagree, "clear": clear, "decided": clear or last_round}


def cells_text(check: dict) -> str:
    """"6 items (8 asked; 2 gave no valid sampled answer)": the cells judged, and those asked when more."""
    judged, asked = check.get("items", 0), check.get("cells_asked")
    if asked is None or asked <= judged:
        return f"{judged} items"
    return f"{judged} items ({asked} asked; {asked - judged} gave no valid sampled answer)"


def evaluate(checked: pd.DataFrame, distributions: pd.DataFrame, scale_ranges: dict[str, float],
             samples_asked: int, last_round: bool) -> dict:
    """The check's summary for one model: ``checked`` its valid sampled answers (``samples_asked`` per cell were
    asked), ``distributions`` its valid distribution-mode answers; cells are matched on survey, item, language,
    persona (and variant if present)."""
    keys = [c for c in ("survey", "item", "language", "persona", "variant") if c in checked and c in distributions]
    exact = {tuple(row[c] for c in keys): row["distribution"] for _, row in distributions.iterrows()
             if isinstance(row["distribution"], dict) and sum(row["distribution"].values()) > 0}
    cells = []
    for cell, rows in checked.groupby(keys):
        if cell in exact and len(rows):
            stats = cell_stats(rows["value"].tolist(), exact[cell], scale_ranges[cell[0]])
            cells.append({**dict(zip(keys, cell)), **stats})
    if not cells:
        return {"items": 0, "samples_per_item": samples_asked, "mean_abs_difference": None, "max_abs_difference": None,
                "tolerance": None, "disagree": None, "decided": True, "rule": RULE, "per_item": []}
    summary = verdict(cells, last_round)
    per_item = [{k: (round(v, 4) if isinstance(v, float) else v) for k, v in c.items() if k not in ("d", "v")}
                for c in cells]
    return {"items": len(cells), "samples_per_item": samples_asked,
            "unit": "share of the scale's range", **summary, "rule": RULE, "per_item": per_item}


async def run_in_rounds(checks: Mapping[str, Sequence[PlannedRequest]],
                        ask: Callable[[dict[str, list[PlannedRequest]]], Awaitable[object]],
                        judge: Callable[[str, list[PlannedRequest], bool], dict]) -> dict[str, list[PlannedRequest]]:
    """Ask the check round by round until ``judge(model, asked, last_round)`` says ``decided``; returns what
    each model was asked (a rerun re-judges the stored answers, so it stops where the first run did)."""
    asked: dict[str, list[PlannedRequest]] = {model: [] for model in checks}
    open_models = set(checks)
    previous = 0
    for number, upto in enumerate(ROUNDS):
        last = number == len(ROUNDS) - 1
        batch = {model: [p for p in checks[model] if previous <= p.sample < upto] for model in open_models}
        batch = {model: requests for model, requests in batch.items() if requests}
        if not batch:
            break
        interrupted = getattr(await ask(batch), "interrupted", False)
        for model, requests in batch.items():
            asked[model] += requests
            if interrupted or judge(model, asked[model], last).get("decided", True):
                open_models.discard(model)
        if interrupted or not open_models:
            break
        previous = upto
    return asked
