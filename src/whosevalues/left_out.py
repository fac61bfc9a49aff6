"""Why a model answered a survey yet is absent from an analysis, when what it answered explains it: one rule for
the analysis (exclusions.csv) and the report (which never imports the analysis)."""

from __future__ import annotations

from collections.abc import Collection

NO_PERSONA = "none"
#: analyses that compare the models' answers without a persona (``rq2_*``: country pairs under national personas)
PERSONA_NONE_ANALYSES = ("headline", "rq1", "rq3", "aggregate")


def persona_reason(analysis: str, personas: Collection[str]) -> str | None:
    """The reason when ``personas`` (those the model answered under) lack what ``analysis`` compares, else None."""
    base = analysis.split("_")[0]
    if base in PERSONA_NONE_ANALYSES and NO_PERSONA not in personas:
        return "no answers under persona none: the input holds only national-persona answers for this model"
    if base == "rq2" and not set(personas) - {NO_PERSONA}:
        return "no answers under a national persona"
    return None
