"""One measurement per comparison, and one study per analysis.

Two real OpenAI-compatible endpoints on loopback (the project's stub server): one returns token
probabilities, the other ignores the request for them, as many providers do.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from rich.console import Console

from whosevalues.pipeline import run_study
from whosevalues.study import Study, StudyError
from whosevalues.testing import StubOpenAIServer


@pytest.fixture(scope="module")
def servers():
    with StubOpenAIServer() as with_logprobs, StubOpenAIServer(logprobs=False) as without:
        yield with_logprobs, without


def study(servers, mode: str, **fields) -> Study:
    with_logprobs, without = servers
    models = [{"id": "probs", "provider": "openai-compatible", "base_url": with_logprobs.base_url,
               "api_model": "stub-model", "origin": "CHN"},
              {"id": "text-only", "provider": "openai-compatible", "base_url": without.base_url,
               "api_model": "stub-model", "origin": "USA"}]
    return Study.from_dict({"models": models, "surveys": ["mfq2"], "languages": ["en"], "personas": ["none"],
                            "samples": 2, "mode": mode, **fields})


def quiet() -> Console:
    return Console(stderr=True, quiet=True)


def modes_in_store(db: Path) -> dict[str, set[str]]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT model, mode FROM requests").fetchall()
    out: dict[str, set[str]] = {}
    for model, mode in rows:
        out.setdefault(model, set()).add(mode)
    return out


@pytest.mark.slow
def test_auto_samples_every_model_when_one_lacks_probabilities(tmp_path, servers):
    result = run_study(study(servers, "auto"), tmp_path, console=quiet(), show_progress=False)
    assert result.modes == {"probs": "sample", "text-only": "sample"}
    assert any("every model is sampled" in note and "text-only" in note for note in result.notes)
    assert modes_in_store(result.db_path) == {"probs": {"sample"}, "text-only": {"sample"}}
    notes = json.loads((tmp_path / "run_notes.json").read_text())
    assert notes["mixed_modes"] is False
    assert notes["models"]["probs"]["mode"] == "sample" and "text-only" in notes["models"]["probs"]["mode_reason"]


@pytest.mark.slow
def test_per_model_mixes_modes_and_says_so(tmp_path, servers):
    result = run_study(study(servers, "per-model"), tmp_path, console=quiet(), show_progress=False)
    assert result.modes == {"probs": "distribution", "text-only": "sample"}
    # the study's answers (the store also keeps the distribution model's sample check, outside the study)
    assert {model: set(rows["mode"]) for model, rows in result.answers.groupby("model")} == \
        {"probs": {"distribution"}, "text-only": {"sample"}}
    assert set(result.item_means.groupby("model")["mode"].first().items()) == set(result.modes.items())
    notes = json.loads((tmp_path / "run_notes.json").read_text())
    assert notes["mixed_modes"] is True
    assert {model: entry["mode"] for model, entry in notes["models"].items()} == result.modes
    assert all(entry["mode_reason"].startswith("per-model") for entry in notes["models"].values())
    assert any("flagged" in note for note in notes["notes"])


def table_rows(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: conn.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


@pytest.mark.slow
def test_distribution_for_a_model_without_probabilities_is_refused_before_asking(tmp_path, servers):
    db = tmp_path / "store.sqlite"
    run_study(study(servers, "sample", samples=1), tmp_path, db, console=quiet(), show_progress=False)
    before, asked_before = table_rows(db), servers[1].requests
    with pytest.raises(StudyError, match="text-only.*per-model"):
        run_study(study(servers, "distribution"), tmp_path, db, console=quiet(), show_progress=False)
    assert servers[1].requests - asked_before <= 5  # the probe's few requests, none of the 36 planned
    assert table_rows(db) == before  # not even the probe's result is kept for a refused study


@pytest.mark.slow
def test_auto_reads_distributions_when_every_model_has_them(tmp_path, servers):
    with_logprobs, _ = servers
    models = [{"id": f"probs-{i}", "provider": "openai-compatible", "base_url": with_logprobs.base_url,
               "api_model": "stub-model", "origin": origin} for i, origin in enumerate(["CHN", "USA"])]
    one_mode = Study.from_dict({"models": models, "surveys": ["mfq2"], "languages": ["en"], "personas": ["none"]})
    result = run_study(one_mode, tmp_path, console=quiet(), show_progress=False)
    assert set(result.modes.values()) == {"distribution"}


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=300)


@pytest.mark.slow
def test_dry_run_shows_each_models_mode(tmp_path, servers):
    config = tmp_path / "study.toml"
    with_logprobs, without = servers
    config.write_text(f'''surveys = ["mfq2"]
languages = ["en"]
personas = ["none"]
mode = "per-model"
[[models]]
id = "probs"
provider = "openai-compatible"
base_url = "{with_logprobs.base_url}"
api_model = "stub-model"
supports_logprobs = true
[[models]]
id = "text-only"
provider = "openai-compatible"
base_url = "{without.base_url}"
api_model = "stub-model"
''')
    result = cli("run", "--config", str(config), "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    lines = {line.split(":")[0]: line for line in result.stdout.splitlines()
             if line.startswith(("probs:", "text-only:"))}
    assert lines["probs"].startswith("probs: distribution")
    assert lines["text-only"].startswith("text-only: sample")
    assert not (tmp_path / "whosevalues-out").exists()  # a dry run writes nothing


@pytest.mark.slow
def test_a_store_with_two_studies_is_analysed_one_study_at_a_time(tmp_path, servers):
    db = tmp_path / "shared.sqlite"
    small = study(servers, "sample", samples=2, name="two-samples")
    large = study(servers, "sample", samples=3, name="three-samples")
    run_study(small, tmp_path / "a", db, console=quiet(), show_progress=False)
    run_study(large, tmp_path / "b", db, console=quiet(), show_progress=False)

    listed = cli("analyze", "--db", str(db), "--bootstrap", "0", "--out", "o", cwd=tmp_path)
    assert listed.returncode != 0 and "Traceback" not in listed.stderr
    assert "two-samples" in listed.stderr and "three-samples" in listed.stderr and "--study" in listed.stderr

    chosen = cli("analyze", "--db", str(db), "--study", "three-samples", "--bootstrap", "0", "--out", "o",
                 cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    means = pd.read_csv(tmp_path / "o" / "item_means.csv")
    assert not means.duplicated(["model", "survey", "language", "persona", "variant", "item"]).any()
    # samples 0 and 1 are shared by both studies (same keys); the chosen study's own third sample is in too
    assert set(means["n_total"]) == {3}
    assert len(means) == 2 * 36 * 2  # two models, two formats (the default original,recoded)


def test_study_id_is_stable_and_changes_with_the_design():
    assert Study().study_id == Study().study_id
    assert Study().study_id != Study(samples=3).study_id
    assert Study(name="pilot").study_id == "pilot"


@pytest.mark.slow
def test_a_store_from_before_studies_is_read_without_being_changed(tmp_path, servers):
    """analyze --db on a store without 004_studies: a private upgraded copy is read; the file is untouched."""
    import hashlib

    from whosevalues.elicit.store import Store

    db = tmp_path / "old.sqlite"
    run_study(study(servers, "sample", samples=2), tmp_path / "a", db, console=quiet(), show_progress=False)
    with sqlite3.connect(db) as conn:  # make it look like a store from before migration 004
        conn.executescript("DROP TABLE study_requests; DROP TABLE studies; ALTER TABLE runs DROP COLUMN study_id; "
                           "DELETE FROM schema_migrations WHERE name = '004_studies';")
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    store = Store(db, read_only=True)
    try:
        studies = store.studies()
        assert len(studies) == 1 and studies["answers"].iloc[0] == 2 * 36 * 2 * 2  # models x items x samples x formats
        assert len(store.answers_frame(study=studies["study"].iloc[0])) == 2 * 36 * 2 * 2
    finally:
        store.close()
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
