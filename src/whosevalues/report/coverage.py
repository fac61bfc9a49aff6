"""Which models each analysis holds, and who was left out of it and why, so that every model count in the
report (headline, design table, figures, regressions, exclusions) can be traced to one table.

Per survey: the headline comparison (Figures 1 and 3, persona none), each regression summary.json records
(rq1, rq2, rq3 and further country pairs), and the comparison with population aggregates. A model is left
out of an analysis when it answered the survey but is absent from that analysis's files; its reason comes from
exclusions.csv when recorded there, else from what its answers lack (e.g. no answers under persona none).
"""

from __future__ import annotations

import pandas as pd

from whosevalues.left_out import persona_reason
from whosevalues.report.figures import model_similarity
from whosevalues.report.outdir import OutputDir, display_name, survey_label

ANALYSIS_NAMES = {"headline": "Headline, Figures 1 and 3 (persona none)", "rq1": "RQ1", "rq2": "RQ2 (Table 2)",
                  "rq3": "RQ3", "aggregate": "Comparison with population item means"}


def survey_models(out: OutputDir, survey: str) -> list[str]:
    means = out.survey_means(survey)
    return sorted(means["model"].unique()) if len(means) else []


def analysis_models(out: OutputDir, survey: str) -> list[tuple[str, list[str] | None, str]]:
    """(analysis key, models it holds or None when not run, why not run) per analysis of a survey."""
    found: list[tuple[str, list[str] | None, str]] = []
    similarity = out.memo(f"model_similarity_{survey}", lambda: model_similarity(out, survey))
    found.append(("headline", sorted(similarity["model"].unique()) if similarity is not None else None,
                  "" if similarity is not None else "no similarity could be computed"))
    for name, info in sorted(out.analyses(survey).items()):
        if info.get("skipped"):
            found.append((name, None, str(info["skipped"])))
            continue
        models = out.similarity_models(survey, name)
        found.append((name, models, "" if models is not None else f"similarity_{survey}_{name} is missing"))
    aggregate = out.aggregate_similarity(survey)
    if aggregate is not None and len(aggregate):
        found.append(("aggregate", sorted(aggregate["model"].astype(str).unique()), ""))
    return found


def left_out_reason(out: OutputDir, survey: str, analysis: str, model: str) -> str:
    exclusions = out.exclusions()
    if exclusions is not None and len(exclusions):
        rows = exclusions[(exclusions["survey"].astype(str) == survey) & (exclusions["model"].astype(str) == model)
                          & (exclusions["analysis"].astype(str) == analysis.split("_")[0])]
        if len(rows):
            return "; ".join(dict.fromkeys(rows["reason"].astype(str)))
    means = out.survey_means(survey)
    mine = means[means["model"] == model]
    reason = persona_reason(analysis, set(mine.dropna(subset=["mean"])["persona"].astype(str)))
    return reason or "not in this analysis's files (no reason recorded)"


def models_table(out: OutputDir) -> pd.DataFrame:
    """Survey, Analysis, Models (n of N), Left out (name: reason) for every analysis."""
    rows = []
    for survey in out.surveys():
        everyone = survey_models(out, survey)
        for analysis, models, why_not in analysis_models(out, survey):
            name = ANALYSIS_NAMES.get(analysis, analysis.upper().replace("_", " "))
            if models is None:
                rows.append({"Survey": survey_label(survey), "Analysis": name, "Models": "not run",
                             "Left out": why_not})
                continue
            missing = [m for m in everyone if m not in models]
            rows.append({"Survey": survey_label(survey), "Analysis": name,
                         "Models": f"{len(models)} of {len(everyone)}",
                         "Left out": "; ".join(f"{display_name(m)}: {left_out_reason(out, survey, analysis, m)}"
                                               for m in missing) or "none"})
    return pd.DataFrame(rows, columns=["Survey", "Analysis", "Models", "Left out"])


def everything_included(out: OutputDir) -> bool:
    """True only when every analysis ran with every model and exclusions.csv lists nobody."""
    table = models_table(out)
    exclusions = out.exclusions()
    return bool(len(table) and (table["Models"] != "not run").all() and (table["Left out"] == "none").all()
                and (exclusions is None or not len(exclusions)))
