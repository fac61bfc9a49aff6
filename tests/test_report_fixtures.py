"""Analysis output directories for the report tests, from the paper's published data in ../shared.

``analysed_dir`` runs the real analysis pipeline on the paper's published LLM item means with the bundled
human data. Only answer distributions are synthetic (the paper published item means, not distributions): a
discretised normal around each item mean, written as a run writes item_distributions.csv.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from shared_paths import PAPER

needs_shared = pytest.mark.needs_shared  # skipped without ../shared (conftest.py)


def _synthetic_distributions(means: pd.DataFrame) -> pd.DataFrame:
    scale = {"mfq2": range(1, 6), "wvs7": range(1, 11)}
    frames = []
    for survey, group in means.dropna(subset=["mean"]).groupby("survey"):
        values = np.array(list(scale[survey]), dtype=float)
        weights = np.exp(-((values[None, :] - group["mean"].to_numpy()[:, None]) ** 2) / (2 * 0.6 ** 2))
        probs = weights / weights.sum(axis=1, keepdims=True)
        long = pd.DataFrame(probs, columns=values.astype(int), index=group.index).stack().rename("probability")
        long = long.reset_index(level=1).rename(columns={"level_1": "value"})
        frames.append(group[["model", "survey", "language", "persona", "item"]].join(long))
    return pd.concat(frames, ignore_index=True)


def analysed_dir(out: Path, *, surveys: tuple[str, ...] = ("mfq2", "wvs7"), models: list[str] | None = None,
                 languages: list[str] | None = None, personas: list[str] | None = None,
                 distributions: bool = False, paper_compatible: bool = False) -> Path:
    """Run the real analysis pipeline on the paper's published answers (bundled human data) into ``out``;
    paper_compatible groups the MFQ-2 respondents by Participant label, as the paper's scripts did."""
    from whosevalues.analysis.llm_responses import load_llm_responses
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.humans import load_populations

    files = {"mfq2": "llm_mfq_responses.csv", "wvs7": "llm_wvs_responses.csv"}
    means = load_llm_responses([PAPER / files[s] for s in surveys])
    for column, wanted in (("model", models), ("language", languages), ("persona", personas)):
        if wanted is not None:
            means = means[means[column].isin(wanted)]
    out.mkdir(parents=True, exist_ok=True)
    means.to_csv(out / "item_means.csv", index=False)
    populations = {s: load_populations(s, "bundled", countries=["CHN", "USA"], paper_labels=paper_compatible)
                   for s in surveys}
    analyze(means, populations, out_dir=out, bootstrap=0, paper_compatible=paper_compatible)
    if distributions:  # synthetic; a run writes this file in either mode
        _synthetic_distributions(means).to_csv(out / "item_distributions.csv", index=False)
    return out


def paper_report_dir(tmp_path_factory) -> Path:
    """The report of the paper's published answers, built once per test session and shared by modules."""
    out = tmp_path_factory.getbasetemp() / "paper_report"
    if not (out / "report.html").is_file():
        from whosevalues.report.write import write_report

        analysed_dir(out, distributions=True)
        write_report(out)
    return out
