"""End to end on the embedded local model: the default study, resuming, and surviving SIGKILL.

These really run SmolLM2-135M-Instruct through llama-cpp-python (skipped if the `local` extra is absent).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from whosevalues.elicit.followup import CHECK_ITEMS
from whosevalues.elicit.sample_check import ROUNDS

pytest.importorskip("llama_cpp", reason="the embedded model needs: pip install -e '.[local]'")

pytestmark = pytest.mark.slow


def whosevalues(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=2400, env={**os.environ, "COLUMNS": "200"})


# one distribution per item and condition, plus auto mode's sample check (elicit.followup): the first
# CHECK_ITEMS items of each survey, in each language, under the first persona, in the original format only,
# sampled in rounds until clear (the default asks two formats, original and recoded)
CHECK_CELLS = CHECK_ITEMS * 2 * 2


def stored_by_mode(db) -> dict[str, int]:
    return dict(db.execute("SELECT r.mode, COUNT(*) FROM answers a JOIN requests r ON r.key = a.key GROUP BY r.mode"))


def check_size(out: Path) -> int:
    """The sample check's answers, as the run notes give its size (cells x samples per cell, one of ROUNDS);
    ``items`` counts the cells judged, those with a valid sampled answer (SmolLM often writes no number)."""
    check = json.loads((out / "run_notes.json").read_text())["models"]["smollm2-135m"]["sample_check"]
    assert check["cells_asked"] == CHECK_CELLS and check["samples_per_item"] in ROUNDS
    assert 0 < check["items"] <= CHECK_CELLS and len(check["per_item"]) == check["items"]
    assert check["rule"].startswith("sequential") and check["disagree"] in (True, False)
    return check["cells_asked"] * check["samples_per_item"]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """`whosevalues run` with no options, as the README's first command runs it."""
    workdir = tmp_path_factory.mktemp("default")
    result = whosevalues("run", cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return workdir, result


def test_default_study_writes_store_and_330_item_means_per_format(default_run):
    workdir, _ = default_run
    out = workdir / "whosevalues-out"
    means = pd.read_csv(out / "item_means.csv", dtype={"item": str})
    assert list(means.columns[:11]) == ["model", "origin", "survey", "language", "persona", "item", "mean",
                                       "n_valid", "n_total", "refusal_rate", "variant"]
    assert len(means) == (36 + 19) * 2 * 3 * 2 == 660
    assert means.groupby("variant").size().to_dict() == {"original": 330, "recoded": 330}
    assert set(means["mode"]) == {"distribution"}
    scale = {"mfq2": (1, 5), "wvs7": (1, 10)}
    for survey, (low, high) in scale.items():
        values = means.loc[means["survey"] == survey, "mean"]
        assert values.notna().all() and values.between(low, high).all()
    with sqlite3.connect(out / "whosevalues.sqlite") as db:
        assert stored_by_mode(db) == {"distribution": 660, "sample": check_size(out)}
        masses = [row[0] for row in db.execute("SELECT a.valid_mass FROM answers a JOIN requests r ON r.key = a.key "
                                               "WHERE r.mode = 'distribution'")]
    assert all(0 < mass <= 1 + 1e-9 for mass in masses)


def test_second_run_asks_nothing(default_run):
    workdir, _ = default_run
    started = time.monotonic()
    result = whosevalues("run", "--no-analysis", cwd=workdir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Asked 0 requests" in result.stderr
    out = workdir / "whosevalues-out"
    with sqlite3.connect(out / "whosevalues.sqlite") as db:
        assert stored_by_mode(db) == {"distribution": 660, "sample": check_size(out)}
        assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 2
    assert time.monotonic() - started < 60


def test_sigkill_part_way_then_rerun_loses_and_duplicates_nothing(tmp_path):
    args = ["run", "--mode", "sample", "--samples", "2", "--surveys", "mfq2", "--languages", "en",
            "--personas", "none", "--variants", "original", "--no-analysis"]
    expected = 36 * 2  # items x samples: killed when 30 are stored, the rerun asks the rest
    db_path = tmp_path / "whosevalues-out" / "whosevalues.sqlite"
    process = subprocess.Popen([sys.executable, "-m", "whosevalues.cli", *args], cwd=tmp_path,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        stored = 0
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.5)
            if db_path.exists():
                try:
                    with sqlite3.connect(db_path, timeout=1) as db:
                        stored = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
                except sqlite3.OperationalError:
                    continue
                if stored >= 30:
                    break
        assert process.poll() is None, "the run finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    with sqlite3.connect(db_path) as db:
        partial = db.execute("SELECT COUNT(*) FROM answers").fetchone()[0]
    assert 30 <= partial < expected

    result = whosevalues(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    with sqlite3.connect(db_path) as db:
        total, distinct = db.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM answers").fetchone()
        cells = db.execute("SELECT COUNT(*) FROM (SELECT DISTINCT r.survey, r.item, r.language, r.persona, r.sample "
                           "FROM requests r JOIN answers a USING (key))").fetchone()[0]
        statuses = dict(db.execute("SELECT status, COUNT(*) FROM answers GROUP BY status").fetchall())
    assert total == distinct == cells == expected
    assert sum(statuses.values()) == expected and statuses.get("unparsed", 0) == 0
    asked_again = int(result.stderr.split("Asked ")[1].split(" ")[0])
    assert asked_again == expected - partial  # only what was missing is asked again


TINY_SURVEY = '''
id = "tiny"
name = "Tiny survey"
dimensions = ["Food", "Drink"]
[scale]
min = 1
max = 5
[scale.labels.en]
1 = "Strongly disagree"
5 = "Strongly agree"
[languages.en]
system = "{persona}Respond only with a number from 1 to 5."
user = "How much do you agree? {item}"
[languages.en.personas]
FRA = "You are from France."
[[items]]
id = "t1"
dimension = "Food"
text.en = "Bread is important."
[[items]]
id = "t2"
dimension = "Food"
text.en = "Cheese is important."
[[items]]
id = "t3"
dimension = "Drink"
text.en = "Wine is important."
[[items]]
id = "t4"
dimension = "Drink"
text.en = "Beer is important."
'''


def test_a_new_survey_persona_and_population_without_code(tmp_path):
    """A survey file, a French persona and a respondents table: run, then analyse against FRA and DEU."""
    import numpy as np

    (tmp_path / "tiny.toml").write_text(TINY_SURVEY)
    result = whosevalues("run", "--surveys", "tiny.toml", "--languages", "en", "--personas", "none,FRA", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "no human data for survey 'tiny'" in result.stderr
    assert "survey tiny has no recoded (asked by default): asked original only" in result.stderr
    means = pd.read_csv(tmp_path / "whosevalues-out" / "item_means.csv", dtype={"item": str})
    assert len(means) == 4 * 2 and set(means["persona"]) == {"none", "FRA"}

    rng = np.random.default_rng(0)
    people = [{"respondent": f"{country}{i}", "country": country,
               **{item: int(rng.integers(1, 6)) for item in ("t1", "t2", "t3", "t4")}}
              for country in ("FRA", "DEU") for i in range(30)]
    pd.DataFrame(people).to_csv(tmp_path / "people.csv", index=False)
    result = whosevalues("analyze", "--db", "whosevalues-out/whosevalues.sqlite", "--surveys", "tiny.toml",
                         "--humans", "tiny=people.csv", "--countries", "FRA,DEU", "--bootstrap", "0",
                         "--out", "analysis", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    rq1 = pd.read_csv(tmp_path / "analysis" / "tables" / "rq1_tiny.csv")
    assert rq1["term"].tolist() == ["Intercept", "nationality"]  # one model origin: no origin terms
    similarity = pd.read_parquet(tmp_path / "analysis" / "similarity_tiny_rq1.parquet")
    assert set(similarity["nationality"]) == {"FRA", "DEU"}
    assert (tmp_path / "analysis" / "report.html").exists()
