"""Complete exclusion records: every model in the input left out of an analysis, with the reason.

The designs record the models they exclude for a missing or unusable condition. Some models never reach a
design: paper-compatible mode builds the paper's WVS RQ1/RQ3 vectors only from models with persona-none
answers (the paper's files give Claude Opus 4, ERNIE-4.5 and GPT-4o persona answers only), and a skipped
``missing_records`` adds a record for each of those, so that ``exclusions.csv`` names every model present in
the input files but absent from an analysis that was fitted. (An analysis skipped as a whole, e.g. for want
of respondents, is reported once with its reason in summary.json and the report, not once per model.)
"""

from __future__ import annotations

import pandas as pd

from whosevalues.analysis.design import EXCLUSION_COLUMNS, NONE
from whosevalues.left_out import persona_reason


def _reason(analysis: str, answers: pd.DataFrame, paper_compatible: bool) -> tuple[str, str, str]:
    """(language, persona, reason) for a model the analysis did not compare, from what the input holds."""
    reason = persona_reason(analysis, set(answers["persona"].astype(str)))
    if reason:
        return "", NONE if analysis.split("_")[0] != "rq2" else "", reason
    if paper_compatible:
        return "", "", "left out by the paper's script for this analysis (paper-compatible mode)"
    return "", "", "not in the analysis's usable models (no other reason recorded)"


def missing_records(survey: str, survey_means: pd.DataFrame, used: dict[str, set[str]], recorded: pd.DataFrame,
                    paper_compatible: bool) -> pd.DataFrame:
    """Records for models of ``survey_means`` absent from an analysis and not yet in ``recorded``.

    ``used``: analysis name -> models compared (the analyses that were fitted)."""
    models = sorted(set(survey_means["model"].astype(str)))
    by_model = {model: group for model, group in survey_means.groupby(survey_means["model"].astype(str))}
    already = set(zip(recorded["analysis"].astype(str), recorded["model"].astype(str))) if len(recorded) else set()
    records = []
    for analysis, compared in used.items():
        for model in models:
            if model in compared or (analysis, model) in already:
                continue
            language, persona, reason = _reason(analysis, by_model[model], paper_compatible)
            records.append((survey, analysis, model, language, persona, reason))
    return pd.DataFrame.from_records(records, columns=EXCLUSION_COLUMNS)
