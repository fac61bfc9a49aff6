"""The pipeline's hooks for inference beyond the paper's (issue 10), kept out of pipeline.py's own flow.

Each function takes what the pipeline has at that point and returns what goes into summary.json or a file:

- ``prepare_llm_side``: the minimum valid samples per item (reliability.apply_min_valid), the per-sample
  data (item_distributions.csv) and the sampling temperatures;
- ``rowset_inference``: per RQ table, the RQ3 family adjustments and joint Wald tests, the variance shares,
  what the model-level methods used, a warning when the models per origin are unbalanced, and in
  paper-compatible mode the RQ2 table's ``note`` column (its model-level SEs are inflated);
- ``write_rq2_contrasts``: ``tables/rq2_contrasts_<survey>.csv``, RQ2's named congruence contrasts;
- ``write_baselines`` / ``with_ceiling``: ``baselines_<survey>.csv`` and the ceiling-normalised similarity;
- ``llm_reliability``: ``reliability_<survey>.csv`` and its summary;
- ``complete_exclusions``: every input model left out of an analysis, with the reason;
- ``write_conclusions``: ``tables/conclusions.csv``, the paper's claims against each inference method.
"""

from __future__ import annotations

from math import comb
from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis import baselines as human_baselines
from whosevalues.analysis import conclusions, exclusions, families, reliability, rq2_contrasts, variance
from whosevalues.analysis.design import RowSet
from whosevalues.analysis.model_inference import InferenceOptions
from whosevalues.analysis.vectors import HumanVectors
from whosevalues.outfiles import json_safe

# -- LLM side ---------------------------------------------------------------------------------------

def prepare_llm_side(item_means: pd.DataFrame, paper_compatible: bool, min_valid: int | None, out_dir: Path,
                     distributions: pd.DataFrame | None) -> tuple[pd.DataFrame, dict]:
    """Item means with the minimum-valid-samples rule applied, and what the reliability step needs."""
    if min_valid is None:
        min_valid = 1 if paper_compatible else reliability.DEFAULT_MIN_VALID
    else:
        check_min_valid(item_means, min_valid)
    means, removed = reliability.apply_min_valid(item_means, min_valid)
    if distributions is None and (Path(out_dir) / "item_distributions.csv").exists():
        distributions = pd.read_csv(Path(out_dir) / "item_distributions.csv", dtype={"item": str})
    return means, {"min_valid": int(min_valid), "removed": removed, "distributions": distributions,
                   "temperatures": reliability.temperatures(item_means, out_dir)}


def check_min_valid(item_means: pd.DataFrame, min_valid: int) -> None:
    """A minimum above the samples asked would be capped to them: refused instead, with the largest it can be."""
    from whosevalues.errors import UsageError

    if "n_total" not in item_means.columns:
        return
    sampled = pd.to_numeric(item_means.loc[reliability.is_sample_mode(item_means), "n_total"], errors="coerce")
    if sampled.notna().any() and min_valid > sampled.max():
        raise UsageError(f"--min-valid-samples {min_valid}: the answers have at most {sampled.max():g} samples per "
                         f"item, so no item could reach it; give at most {sampled.max():g}")


def options_summary(options: InferenceOptions, llm_side: dict) -> dict:
    removed = llm_side["removed"]
    return {"bootstrap_replicates": options.bootstrap, "wild_bootstrap_replicates": options.wild,
            "wild_weights": "Webb six-point", "permutation_exact_limit": options.exact_limit,
            "permutation_monte_carlo": options.permutations, "seed": options.seed,
            "min_valid_samples": llm_side["min_valid"],
            "items_below_min_valid": int(removed["items_removed"].sum()) if len(removed) else 0}


# -- per RQ table --------------------------------------------------------------------------------

def rowset_inference(rows: RowSet, table: pd.DataFrame, options: InferenceOptions,
                     paper_compatible: bool) -> tuple[pd.DataFrame, dict]:
    """The table (RQ3: with p_holm, p_bh, p_holm_model, p_bh_model) and the summary entries of one analysis."""
    cells = rows.model_cells()
    fitted = (cells.X @ cells.beta)[rows.cell]
    entry: dict = {"model_inference": _model_inference_entry(rows, options),
                   "variance_shares": variance.variance_shares(rows.cosine, fitted, rows.respondent, rows.model)}
    if rows.analysis == "rq3":
        table = families.adjust(table)
        residual_ss = float(np.sum((rows.cosine - fitted) ** 2))
        df_resid = int(rows.n_rows - cells.n_terms)
        entry["joint_tests"] = families.joint_tests(cells, residual_ss / df_resid, df_resid, options)
    warning = balance_warning(rows, paper_compatible)
    if warning:
        entry["warnings"] = [warning]
    if rows.analysis == "rq2" and paper_compatible:
        table["note"] = entry["model_level_note"] = PAPER_RQ2_NOTE
    return table, json_safe(entry)


# Beside the model-level columns of the paper's RQ2 specification (table column ``note``, summary.json
# ``analyses.rq2.model_level_note``, and the report).
PAPER_RQ2_NOTE = ("paper-compatible RQ2 (cosine ~ language * persona * origin) omits nationality and the main "
                  "effects of prompt language, persona and origin; they stay in the residuals with the sign of "
                  "each model's origin, so the model-clustered SEs and the model-level p values (se_cluster_model, "
                  "se_twoway, p_twoway, p_wild_model, p_perm_model, se_cr2_model, p_cr2_model) are inflated; the "
                  "default analysis fits the full factorial")


def write_rq2_contrasts(rows: RowSet, table: pd.DataFrame, out_dir: Path, paper_compatible: bool) -> dict:
    """tables/rq2_contrasts_<survey>.csv from the RQ2 table; returns its records for summary.json."""
    countries = sorted(set(rows.respondents["nationality"]), key=lambda c: (c != "CHN", c))
    frame = rq2_contrasts.contrasts(table, countries)
    if paper_compatible:
        frame["note"] = PAPER_RQ2_NOTE
    frame.to_csv(Path(out_dir) / "tables" / f"rq2_contrasts_{rows.survey}.csv", index=False)
    return {"contrasts": json_safe(frame.to_dict(orient="records"))}


def _model_inference_entry(rows: RowSet, options: InferenceOptions) -> dict:
    labels, reason = rows.origin_labels()
    entry: dict[str, object] = {"clusters": int(rows.model_cells().n_models), "wild_bootstrap_replicates": options.wild,
             "bootstrap_replicates": options.bootstrap}
    if labels is None:
        entry["permutation"] = f"not done: {reason}"
    else:
        assignments = comb(len(labels), int(labels.sum()))
        exact = assignments <= options.exact_limit
        entry["permutation"] = {"assignments": assignments if exact else options.permutations, "exact": exact}
    return entry


def balance_warning(rows: RowSet, paper_compatible: bool) -> str | None:
    """A sentence when the models per origin are unequal in a fit with origin terms."""
    if not any("origin" in name.split(":") for name in rows.design.term_names()):
        return None
    counts = rows.models["origin"].value_counts().sort_index()
    if len(counts) < 2 or counts.nunique() == 1:
        return None
    text = ", ".join(f"{n} {origin}" for origin, n in counts.items())
    message = f"{rows.analysis}: unbalanced models per origin ({text})"
    if rows.analysis == "rq2" and "nationality" not in " ".join(rows.design.term_names()):
        return message + ("; without nationality in the model (the paper's specification) the origin "
                          "estimate is biased by the respondents' nationality gap")
    return message + ("; origin estimates weight the origins unequally, and the model-level p values "
                      "(p_wild_model, p_perm_model, p_cr2_model) rest on few models")


# -- human baselines -------------------------------------------------------------------------------

def write_baselines(survey: str, humans: list[HumanVectors], out_dir: Path, result: dict) -> pd.DataFrame | None:
    if not humans:
        return None
    table = human_baselines.baselines(humans)
    table.to_csv(Path(out_dir) / f"baselines_{survey}.csv", index=False)
    result["baselines"] = json_safe(table.to_dict(orient="records"))
    return table


def with_ceiling(welch: pd.DataFrame, baselines: pd.DataFrame | None, pair: tuple[str, str]) -> pd.DataFrame:
    """The per-model Welch table plus ``ceiling_<country>``: mean similarity / own_mean_cosine_loo."""
    if baselines is None:
        return welch
    welch = welch.copy()
    for country in pair:
        column = f"mean_{country}"
        if column in welch:
            welch[f"ceiling_{country}"] = human_baselines.ceiling_normalised(
                welch[column], pd.Series(country, index=welch.index), baselines)
    return welch


# -- LLM reliability -----------------------------------------------------------------------------

def llm_reliability(survey: str, items: list[str], item_means: pd.DataFrame, humans: list[HumanVectors],
                    llm_side: dict, out_dir: Path, options: InferenceOptions,
                    baselines: pd.DataFrame | None) -> dict:
    """Write reliability_<survey>.csv; return the survey's summary entries (reliability, temperature)."""
    removed = llm_side["removed"]
    table = reliability.reliability_table(item_means, llm_side["distributions"], humans, survey, items,
                                          removed=removed, temperatures=llm_side["temperatures"],
                                          seed=options.seed)
    if baselines is not None and len(table):
        table["similarity_ceiling"] = human_baselines.ceiling_normalised(table["similarity"], table["population"],
                                                                         baselines)
    table.to_csv(Path(out_dir) / f"reliability_{survey}.csv", index=False)
    survey_removed = removed[removed["survey"] == survey] if len(removed) else removed
    conditions = table.drop_duplicates(["model", "language", "persona"]) if len(table) else table
    has_samples = bool(len(conditions)) and conditions["split_half"].notna().any()
    entry = {"min_valid_samples": llm_side["min_valid"],
             "items_below_min_valid": int(survey_removed["items_removed"].sum()) if len(survey_removed) else 0,
             "per_sample_data": has_samples,
             "how": ("split-half (Spearman-Brown) of each condition's item means over random splits of its "
                     "samples; similarity CIs resample the samples and the respondents" if has_samples else
                     "no per-sample data in the input (item means only): no split-half reliability; "
                     "similarity CIs resample respondents only; distribution-mode conditions get the "
                     "reliability a 20-sample mean would have, from the distributions' variances")}
    if len(conditions):
        by_origin = conditions.groupby("origin")[["split_half", "reliability"]].mean()
        entry["mean_by_origin"] = {origin: {k: json_safe(float(v)) for k, v in row.items()}
                                   for origin, row in by_origin.iterrows()}
    origins = dict(zip(item_means["model"].astype(str), item_means["origin"].astype(str)))
    out = {"reliability": json_safe(entry)}
    if llm_side["temperatures"]:
        survey_models = set(item_means.loc[item_means["survey"] == survey, "model"].astype(str))
        temps = {m: t for m, t in llm_side["temperatures"].items() if m in survey_models}
        out["temperature"] = reliability.temperature_summary(temps, origins)
    return out


# -- exclusions and conclusions ------------------------------------------------------------------------

def complete_exclusions(survey: str, survey_means: pd.DataFrame, used: dict[str, set[str]],
                        recorded: pd.DataFrame, paper_compatible: bool, result: dict) -> pd.DataFrame:
    """Every input model left out of a fitted analysis, recorded (exclusions.py); each analysis's
    ``excluded_models`` in summary.json updated to match."""
    extra = exclusions.missing_records(survey, survey_means, used, recorded, paper_compatible)
    frames = [f for f in (recorded, extra) if len(f)]
    frame = pd.concat(frames, ignore_index=True) if frames else recorded
    for name in used:
        excluded = frame.loc[frame["analysis"].astype(str) == name, "model"].astype(str)
        result["analyses"][name]["excluded_models"] = sorted(set(excluded))
    return frame


def write_conclusions(summary: dict, out_dir: Path, across_formats: dict | None = None) -> list[dict]:
    """tables/conclusions.csv from the RQ tables written for each survey (the first country pair);
    ``across_formats``: holds_across_formats per claim (analysis/across_formats.py)."""
    tables = {}
    for survey, result in summary["surveys"].items():
        for analysis in ("rq1", "rq2", "rq3"):
            path = Path(out_dir) / "tables" / f"{analysis}_{survey}.csv"
            if "rows" in result.get("analyses", {}).get(analysis, {}) and path.exists():
                tables[(survey, analysis)] = pd.read_csv(path)
    table = conclusions.conclusions(tables, across_formats)
    table.to_csv(Path(out_dir) / "tables" / "conclusions.csv", index=False)
    return json_safe(table.to_dict(orient="records"))
