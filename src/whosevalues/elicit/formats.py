"""What a run with several question formats must say: each format's requests and cost, and where a format
is not asked the way the others are (a ``text`` format sampled beside distributions, a survey lacking one).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

from whosevalues.elicit.cost import COLUMNS, estimate_cost
from whosevalues.elicit.plan import ModelPlan, PlannedRequest
from whosevalues.instruments.resolve import skipped_notes
from whosevalues.models.spec import ModelSpec
from whosevalues.study import Study

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd


def plan_variants(plan: dict[str, ModelPlan]) -> list[str]:
    """The formats a plan asks, in plan order (``original`` first)."""
    return list(dict.fromkeys(cell.variant for model_plan in plan.values() for cell in model_plan.cells))


def _requests_of(model_plan: ModelPlan, variant: str) -> Iterator[PlannedRequest]:
    for cell, samples in zip(model_plan.cells, model_plan.samples_per_cell):
        if cell.variant == variant:
            yield from (cell.planned(sample) for sample in range(samples))


def cost_by_variant(plan: dict[str, ModelPlan], specs: dict[str, ModelSpec],
                    done: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """``estimate_cost``'s table with one row per model x format (column ``variant`` after ``model``)."""
    import pandas as pd
    tables = []
    for variant in plan_variants(plan):
        requests = ((specs[model], planned.request) for model, model_plan in plan.items()
                    for planned in _requests_of(model_plan, variant))
        tables.append(estimate_cost(requests, done).assign(variant=variant))
    columns = [COLUMNS[0], "variant", *COLUMNS[1:]]
    if not tables:
        return pd.DataFrame(columns=columns)
    table = pd.concat(tables, ignore_index=True)
    model_order = {model: rank for rank, model in enumerate(plan)}
    table = table.sort_values("model", key=lambda models: models.map(model_order), kind="stable")
    return table[columns].reset_index(drop=True)


def format_notes(study: Study, modes: Mapping[str, str]) -> list[str]:
    """One line per departure of a format from the study's design (for the dry run and the run notes)."""
    instruments = study.instruments()
    notes = skipped_notes(study.variants, instruments)
    read_as_distributions = sorted(model for model, mode in modes.items() if mode == "distribution")
    if not read_as_distributions:
        return notes
    for instrument in instruments:
        for variant in study.variants_for(instrument):
            if instrument.answer_format(variant).by_text:
                note = (f"{variant}: sampled, its answers are words ({study.samples} samples per prompt for "
                        f"{', '.join(read_as_distributions)}, whose other formats are read as distributions)")
                if note not in notes:
                    notes.append(note)
    return notes
