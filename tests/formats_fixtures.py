"""An analysis directory with question variants, for the report's tests of issue 18's files.

The real analysis runs on the paper's published answers of six models (one, GPT-4, relabelled as the
embedded model so its flag can be tested). The files the format analysis writes (robustness_<survey>.csv,
the null respondents of baselines_<survey>.csv, holds_across_formats, countries_<survey>.csv's variant and
distributional columns, summary.json's formats entry) are then written here by hand, following DESIGN.md's
contract, with simple numbers the tests recompute: the report is built against that contract while the
analysis that writes them is built elsewhere.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from test_report_fixtures import PAPER

MODELS = ["deepseek-chat", "glm-4-plus", "qwen2.5-72b-instruct", "gpt-4o", "gpt-4.1", "gpt-4"]
EMBEDDED = "smollm2-135m"
VARIANTS = ["recoded", "letters", "paraphrase1"]
# (model, variant) pairs whose answers move by more than the spread between countries
SHIFTED = {(EMBEDDED, "recoded"), (EMBEDDED, "letters"), ("glm-4-plus", "letters")}
UNSTABLE = {("gpt-4o", "paraphrase1")}  # country ranking reordered (tau < .5), shift small
RANDOM_RANGE = (-0.33, 0.33)  # respondent_cosine: the band of Figures 1, 3 and 4
# other metrics of the random respondent: (mean, half-width); the country ranking draws "similarity"
VECTOR_BANDS = {"similarity": (0.0, 0.4), "js_similarity": (0.5, 0.0)}


def variants_dir(out: Path, survey: str = "mfq2") -> Path:
    """Run the real analysis on six of the paper's models, then add the format analysis's files."""
    from whosevalues.analysis.llm_responses import load_llm_responses
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.humans import load_populations

    files = {"mfq2": "llm_mfq_responses.csv", "wvs7": "llm_wvs_responses.csv"}
    means = load_llm_responses([PAPER / files[survey]])
    means = means[means["model"].isin(MODELS)].copy()
    means["model"] = means["model"].replace({"gpt-4": EMBEDDED})
    out.mkdir(parents=True, exist_ok=True)
    means.to_csv(out / "item_means.csv", index=False)
    populations = {survey: load_populations(survey, "bundled", countries=["CHN", "USA"])}
    analyze(means, populations, out_dir=out, bootstrap=0)
    _with_variant_means(out)
    _write_robustness(out, survey, means)
    _add_null_respondents(out, survey)
    _add_holds_across_formats(out)
    _add_countries_columns(out, survey)
    _add_formats_summary(out, survey)
    return out


def robustness_rows(means: pd.DataFrame) -> pd.DataFrame:
    records = []
    conditions = means[["model", "language", "persona"]].drop_duplicates().itertuples(index=False)
    for model, language, persona in conditions:
        for k, variant in enumerate(VARIANTS):
            shifted, unstable = (model, variant) in SHIFTED, (model, variant) in UNSTABLE
            shift_sd = (1.4 if language == "en" else 1.8) if shifted else 0.1 + 0.05 * k
            tau = 0.3 if unstable else 0.9
            records.append({"model": model, "variant": variant, "language": language, "persona": persona,
                            "n_items": 36, "mean_abs_shift": round(shift_sd * 0.5, 3),
                            "shift_in_country_sd": shift_sd, "item_correlation": 0.2 if shifted else 0.95,
                            "country_rank_tau": tau, "format_sensitive": shifted or unstable})
    return pd.DataFrame(records)


def _write_robustness(out: Path, survey: str, means: pd.DataFrame) -> None:
    robustness_rows(means).to_csv(out / f"robustness_{survey}.csv", index=False)


def _with_variant_means(out: Path) -> None:
    """item_means.csv with a variant column; the variants' rows are the original's moved by half a point, so a
    figure that mixed them in would show it."""
    original = pd.read_csv(out / "item_means.csv")
    frames = [original.assign(variant="original")]
    for variant in VARIANTS:
        frames.append(original.assign(variant=variant, mean=original["mean"] + 0.5))
    pd.concat(frames, ignore_index=True).to_csv(out / "item_means.csv", index=False)


def _add_null_respondents(out: Path, survey: str) -> None:
    path = out / f"baselines_{survey}.csv"
    table = pd.read_csv(path)
    # the analysis now writes its own null rows: replace them with these known ones, so the tests know the band
    table = table[~table["country"].isin(["random", "first_option", "last_option"])]
    low, high = RANDOM_RANGE
    # as analysis/null_respondents.py writes them: one row per metric and level
    rows = [{"country": "random", "versus": c, "metric": "respondent_cosine", "level": "item", "null_mean": 0.0,
             "null_low": low, "null_high": high} for c in ("CHN", "USA")]
    rows += [{"country": "random", "versus": c, "metric": metric, "level": "item", "null_mean": value,
              "null_low": value - spread, "null_high": value + spread}
             for metric, (value, spread) in VECTOR_BANDS.items() for c in ("CHN", "USA")]
    rows += [{"country": who, "variant": v, "versus": c, "null_mean": value, "null_low": value, "null_high": value}
             for who, value in (("first_option", -0.05), ("last_option", 0.04)) for v in ["original", *VARIANTS]
             for c in ("CHN", "USA")]
    pd.concat([table, pd.DataFrame(rows)], ignore_index=True).to_csv(path, index=False)


HOLDS = ["yes", "no", "not tested"]


def _add_holds_across_formats(out: Path) -> None:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    for k, record in enumerate(summary.get("conclusions") or []):
        record["holds_across_formats"] = HOLDS[k % 3]
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    path = out / "tables" / "conclusions.csv"
    if path.is_file():
        table = pd.read_csv(path)
        table["holds_across_formats"] = [HOLDS[k % 3] for k in range(len(table))]
        table.to_csv(path, index=False)


def _add_countries_columns(out: Path, survey: str) -> None:
    path = out / f"countries_{survey}.csv"
    if not path.is_file():
        return
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    rng = np.random.default_rng(1)
    original = table.assign(variant="original", js_similarity=rng.uniform(0.6, 0.9, len(table)).round(3),
                            representativeness=rng.uniform(0.7, 0.95, len(table)).round(3),
                            entropy_model=1.2, entropy_country=2.0, variance_ratio=0.5)
    recoded = original.assign(variant="recoded", similarity=-original["similarity"])  # must not be mixed in
    pd.concat([original, recoded], ignore_index=True).to_csv(path, index=False)


def _add_formats_summary(out: Path, survey: str) -> None:
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    flagged = sorted({m for m, _ in SHIFTED | UNSTABLE})
    summary.setdefault("surveys", {}).setdefault(survey, {})["formats"] = {
        "variants": ["original", *VARIANTS], "format_sensitive_models": flagged}
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
