"""Do the paper's conclusions hold in every question format? ``holds_across_formats`` in tables/conclusions.csv.

RQ1-RQ3 are refitted on each variant's item means (values on the canonical scale) with the same respondents,
design and model-level inference as the ``original`` fit: the variant enters as a factor that interacts with
every term (one fit per variant is the same point estimate as a pooled fit with a full variant interaction),
and each fit's wild bootstrap and permutation resample models, so the variant is nested in the model.
A claim gets:

- ``yes``: its verdict holds (conclusions.verdict) under ``original`` (the run's own RQ tables, as in
  conclusions.csv) and under every other variant asked;
- ``no``: it fails under at least one of them (``failed_in`` in summary.json says which);
- ``not tested``: no variant other than ``original`` was asked, the analysis could not be fitted in a variant,
  or paper-compatible mode (the published answers have the paper's prompt only).

The refits of the other variants use at most ``REFIT_REPLICATES`` bootstrap, wild bootstrap and permutation
replicates (enough for a verdict at .05).
"""

from __future__ import annotations

from dataclasses import replace
from itertools import combinations

import pandas as pd

from whosevalues.analysis import conclusions, families
from whosevalues.analysis.design import DesignSkipped, rq1, rq2, rq3
from whosevalues.analysis.formats import rows_of_variant, variants_of
from whosevalues.analysis.model_inference import InferenceOptions
from whosevalues.analysis.vectors import HumanVectors, human_vectors, llm_vectors
from whosevalues.humans.population import Population
from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import ORIGINAL

YES, NO, NOT_TESTED = "yes", "no", "not tested"
REFIT_REPLICATES = 1999


def holds(verdict: conclusions.Verdict | None) -> bool:
    """A verdict that says the claim holds (``conclusions.Verdict.holds``)."""
    return verdict is not None and verdict.holds


def judged(verdict: conclusions.Verdict | None) -> bool:
    """A verdict that judged the claim: not one whose term was not estimated, nor one without model-level
    inference (one model, or too few): across formats such a claim is "not tested", never "no"."""
    return verdict is not None and verdict.judged


def _first_pair(humans: list[HumanVectors]) -> tuple[str, ...]:
    """The country pair of the pipeline's first RQ1/RQ3 fit (CHN first)."""
    countries = sorted({h.country for h in humans}, key=lambda c: (c not in ("CHN", "USA"), c))
    pair = next(iter(combinations(countries, 2)), tuple(countries))
    return tuple(sorted(pair, key=lambda c: (c != "CHN", c)))


def _dimension_groups(instrument) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for index, dimension in enumerate(instrument.dimension_of().values()):
        groups.setdefault(dimension, []).append(index)
    return groups


def refit_tables(survey: str, means: pd.DataFrame, humans: list[HumanVectors], options: InferenceOptions,
                 languages: dict[str, str] | None) -> dict[tuple[str, str], pd.DataFrame]:
    """(survey, analysis) -> RQ table of one variant's item means, as the pipeline's default fits."""
    instrument = load_instrument(survey)
    items = instrument.item_ids
    llm = llm_vectors(means, survey, items)
    pair = _first_pair(humans)
    fits = {"rq1": lambda: rq1(survey, humans, llm, pair=pair, languages=languages),
            "rq3": lambda: rq3(survey, humans, llm, _dimension_groups(instrument), pair=pair, languages=languages),
            "rq2": lambda: rq2(survey, humans, llm, languages=languages, nationality=True)}
    tables = {}
    for analysis, fit in fits.items():
        try:
            rows = fit()
        except DesignSkipped:
            continue
        table = rows.table(options=options)
        tables[(survey, analysis)] = families.adjust(table) if analysis == "rq3" else table
    return tables


def _verdicts(tables: dict[tuple[str, str], pd.DataFrame]) -> dict[tuple[str, str, str], conclusions.Verdict]:
    return conclusions.claim_verdicts(tables)


def holds_across_formats(item_means: pd.DataFrame, populations: dict[str, list[Population]],
                         options: InferenceOptions, languages: dict[str, str] | None = None,
                         paper_compatible: bool = False,
                         original_tables: dict[tuple[str, str], pd.DataFrame] | None = None) -> dict:
    """``{"claims": {(survey, analysis, term): yes|no|not tested}, "detail": [...], "variants": {...}}``.

    ``item_means``: every variant's rows (minimum-valid rule applied); ``original_tables``: the run's own RQ
    tables of ``original`` ((survey, analysis) -> table), whose verdicts are those of conclusions.csv;
    ``original`` is refitted like the other variants where a survey has none."""
    refit_options = replace(options, bootstrap=min(options.bootstrap, REFIT_REPLICATES),
                            wild=min(options.wild, REFIT_REPLICATES),
                            permutations=min(options.permutations, REFIT_REPLICATES))
    claims, detail, asked = {}, [], {}
    for survey in sorted(set(item_means["survey"].astype(str))):
        survey_means = item_means[item_means["survey"].astype(str) == survey]
        variants = variants_of(survey_means)
        asked[survey] = variants
        humans = [human_vectors(p, load_instrument(survey).item_ids)
                  for p in populations.get(survey, []) if p.responses is not None]
        if paper_compatible or len(variants) < 2 or ORIGINAL not in variants or not humans:
            continue
        written = {key: table for key, table in (original_tables or {}).items() if key[0] == survey}
        verdicts = {variant: _verdicts(written if variant == ORIGINAL and written else
                                       refit_tables(survey, rows_of_variant(survey_means, variant), humans,
                                                    refit_options, languages))
                    for variant in variants}
        for key in verdicts[ORIGINAL]:
            per_variant = {variant: found.get(key) for variant, found in verdicts.items()}
            if not all(judged(v) for v in per_variant.values()):
                claims[key] = NOT_TESTED
            else:
                claims[key] = YES if all(holds(v) for v in per_variant.values()) else NO
            detail.append({"survey": key[0], "analysis": key[1], "term": key[2],
                           "holds_across_formats": claims[key],
                           "verdicts": {v: found.text if found is not None else None
                                        for v, found in per_variant.items()},
                           "failed_in": sorted(v for v, found in per_variant.items()
                                               if judged(found) and not holds(found))})
    return {"claims": claims, "detail": detail, "variants": asked,
            "how": (f"RQ1-RQ3 refitted per variant (variant x every term), model-level inference in each "
                    f"(at most {REFIT_REPLICATES} replicates); yes = the verdict holds in every variant")}
