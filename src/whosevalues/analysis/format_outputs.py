"""The pipeline's hooks for question formats (issue 18), kept out of pipeline.py's own flow:

- ``split``: the paper's analyses see ``original`` only; the every-variant item means go to the format checks;
- ``conclusions_across_formats``: holds_across_formats per claim (analysis/across_formats.py);
- ``write_format_outputs``: null respondents appended to ``baselines_<survey>.csv``, ``robustness_<survey>.csv``
  and summary.json's ``surveys.<survey>.formats``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from whosevalues.analysis import across_formats, null_respondents, reliability, robustness
from whosevalues.analysis.formats import rows_of_variant, variants_of, with_variant
from whosevalues.analysis.model_inference import InferenceOptions
from whosevalues.analysis.vectors import human_vectors
from whosevalues.humans.population import Population
from whosevalues.instruments import InstrumentError, load_instrument
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.outfiles import json_safe


def split(item_means: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(the ``original`` rows, every variant's rows); both with a ``variant`` column."""
    every = with_variant(item_means)
    return every[every["variant"] == ORIGINAL], every


def split_distributions(llm_side: dict) -> pd.DataFrame | None:
    """Every variant's item distributions; ``llm_side`` keeps the ``original`` ones for the paper's analyses."""
    every = llm_side["distributions"]
    if every is not None:
        llm_side["distributions"] = rows_of_variant(every, ORIGINAL)
    return every


def every_variant_means(every: pd.DataFrame, min_valid: int) -> pd.DataFrame:
    """Every variant's item means with the run's minimum-valid-samples rule applied, as the original's are."""
    return reliability.apply_min_valid(every, min_valid)[0]


def conclusions_across_formats(every: pd.DataFrame, populations: dict[str, list[Population]],
                               options: InferenceOptions, languages: dict[str, str] | None,
                               paper_compatible: bool, summary: dict, out_dir: Path) -> dict:
    """holds_across_formats per claim; ``original``'s verdicts are those of the RQ tables just written."""
    written = {}
    for survey, result in summary["surveys"].items():
        for analysis in ("rq1", "rq2", "rq3"):
            path = Path(out_dir) / "tables" / f"{analysis}_{survey}.csv"
            if "rows" in result.get("analyses", {}).get(analysis, {}) and path.exists():
                written[(survey, analysis)] = pd.read_csv(path)
    return across_formats.holds_across_formats(every, populations, options, languages, paper_compatible,
                                               written)


def write_format_outputs(every: pd.DataFrame, populations: dict[str, list[Population]],
                         country_populations: dict[str, list[Population]], summary: dict, out_dir: Path,
                         distributions: pd.DataFrame | None, across: dict, seed: int) -> None:
    """Per survey: the null respondents, robustness_<survey>.csv and ``surveys.<survey>.formats``."""
    out_dir = Path(out_dir)
    for survey in sorted(set(every["survey"].astype(str))):
        try:
            instrument = load_instrument(survey)
        except InstrumentError:
            continue  # the survey's own entry already says why it was skipped
        survey_means = every[every["survey"].astype(str) == survey]
        variants = variants_of(survey_means)
        entry = summary["surveys"].setdefault(survey, {})
        nulls = _write_nulls(survey, instrument, populations.get(survey, []),
                             country_populations.get(survey, []), variants, out_dir, seed)
        if len(nulls):
            entry["null_respondents"] = json_safe(nulls.to_dict(orient="records"))
        countries_file = out_dir / f"countries_{survey}.csv"
        countries = pd.read_csv(countries_file, keep_default_na=False, na_values=[""]) \
            if countries_file.exists() else None
        formats = robustness.write_robustness(every, country_populations.get(survey, []), instrument, survey,
                                              out_dir, countries, distributions, seed)
        formats = formats or {"variants": variants, "format_sensitive_models": [],
                              "note": "only the paper's prompt (original) was asked: no format check"}
        formats["conclusions"] = [d for d in across.get("detail", []) if d["survey"] == survey]
        formats["conclusions_how"] = across.get("how")
        entry["formats"] = json_safe(formats)


def _write_nulls(survey, instrument, populations, country_populations, variants, out_dir: Path,
                 seed: int) -> pd.DataFrame:
    """Append the null respondents to baselines_<survey>.csv (written now when there are no respondents)."""
    by_country = {p.country: p for p in [*country_populations, *populations]}
    humans = [human_vectors(p, instrument.item_ids) for p in populations if p.responses is not None]
    nulls = null_respondents.null_respondents(instrument, list(by_country.values()), humans, variants, seed)
    if nulls.empty:
        return nulls
    path = out_dir / f"baselines_{survey}.csv"
    baselines = pd.read_csv(path) if path.exists() else None
    if baselines is not None and "versus" in baselines:  # written by an earlier run into this directory
        kept = [c for c in baselines if c not in null_respondents.NULL_COLUMNS]
        baselines = baselines[baselines["versus"].isna()][kept]
    null_respondents.with_null_rows(baselines, nulls).to_csv(path, index=False)
    return nulls


__all__ = ["conclusions_across_formats", "every_variant_means", "rows_of_variant", "split",
           "write_format_outputs"]
