"""`whosevalues analyze` from the command line: the paper's published answers, official WVS files, bad files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from shared_paths import PAPER
from wvs_fixtures import write_wvs_file

pytestmark = pytest.mark.slow  # every test runs the whosevalues CLI in a subprocess

needs_paper = pytest.mark.needs_shared  # skipped without ../shared (conftest.py)
WVS_FILES = [str(PAPER / "llm_wvs_responses.csv"), str(PAPER / "llm_wvs_persona_responses.csv")]


def whosevalues(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600, env={**os.environ, "COLUMNS": "200"})


@needs_paper
def test_published_wvs_answers_against_bundled_aggregates(tmp_path):
    # two files after one --llm-responses, as DESIGN.md writes it
    result = whosevalues("analyze", "--llm-responses", *WVS_FILES, "--bootstrap", "0", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    similarity = pd.read_csv(out / "aggregate_similarity_wvs7.csv")
    assert set(similarity["country"]) == {"CHN", "USA"}
    none = similarity[similarity["persona"] == "none"].pivot_table(index="model", columns="country",
                                                                   values="cosine_item_means")
    assert (none["USA"] > none["CHN"]).all()  # the paper's finding, at the level of item means
    assert "official" in result.stderr and "--humans wvs7=PATH" in result.stderr
    assert (out / "report.html").stat().st_size > 10_000


@needs_paper
def test_official_format_wvs_file_gives_per_respondent_tables(tmp_path):
    official = write_wvs_file(tmp_path, "csv;")
    result = whosevalues("analyze", "--llm-responses", *WVS_FILES, "--humans", f"wvs7={official.path}",
                         "--paper-compatible", "--bootstrap", "0", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "out"
    for rq, first_terms in (("rq1", ["Intercept", "nationality", "origin", "nationality:origin"]),
                            ("rq2", ["Intercept", "language", "persona", "origin"])):
        table = pd.read_csv(out / "tables" / f"{rq}_wvs7.csv")
        assert list(table.columns[:5]) == ["term", "estimate", "std_error", "t_value", "p_value"]
        assert table["term"].tolist()[:4] == first_terms
    rq3 = pd.read_csv(out / "tables" / "rq3_wvs7.csv")["term"].tolist()
    assert "nationality:origin:removed[Q182]" in rq3
    summary = json.loads((out / "summary.json").read_text())
    populations = summary["surveys"]["wvs7"]["populations"]
    similarity = pd.read_parquet(out / "similarity_wvs7_rq1.parquet")
    compared = similarity.groupby("nationality")["respondent"].nunique().to_dict()
    for country in ("CHN", "USA"):  # the loader's kept respondents, less straight-liners, are all compared
        kept = official.countries[country].kept
        assert populations[country]["n"] == kept
        assert compared[country] == kept - populations[country]["dropped_straightliners"]


def test_llm_responses_with_wrong_columns(tmp_path):
    bad = tmp_path / "answers.csv"
    bad.write_text("model,item,score\nx,1,3\n")
    result = whosevalues("analyze", "--llm-responses", str(bad), "--out", "out", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "answers.csv" in lines[0]


def test_humans_option_needs_survey_equals_source(tmp_path):
    good = tmp_path / "item_means.csv"
    good.write_text("model,origin,survey,language,persona,item,mean,n_valid,n_total,refusal_rate\n")
    result = whosevalues("analyze", "--llm-responses", str(good), "--humans", "wvs7", "--out", "out", cwd=tmp_path)
    assert result.returncode != 0 and "SURVEY=SOURCE" in result.stderr and "Traceback" not in result.stderr
