"""Bad input on the command line: one clear line, a non-zero exit, never a traceback, nothing written."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from whosevalues.elicit.store import Store

pytestmark = pytest.mark.slow  # every test runs the whosevalues CLI in a subprocess


def whosevalues(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], cwd=cwd, capture_output=True,
                          text=True, env={**os.environ, **(env or {}), "COLUMNS": "200"}, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize("args, fragments", [
    (["run", "--models", "gpt-5-imaginary"], ["unknown model 'gpt-5-imaginary'", "whosevalues models"]),
    (["run", "--surveys", "mfq3"], ["unknown survey 'mfq3'", "mfq2"]),
    (["run", "--languages", "fr"], ["no language 'fr'", "[languages.fr]"]),
    (["run", "--personas", "XYZ"], ["persona 'XYZ' is not an ISO 3166-1 alpha-3 code"]),
    (["run", "--personas", "MOR"], ["persona 'MOR' is WVS's code, not ISO's: write MAR"]),
    (["run", "--mode", "guess"], ["mode"]),
    (["run", "--config", "missing.toml"], ["missing.toml", "--config"]),
    (["surveys", "show", "mfq2", "--item", "99"], ["no item '99'"]),
    (["report", "nowhere"], ["not an analysis directory"]),
    (["run", "--bogus"], ["No such option: --bogus"]),
    (["analyze", "--out", "x"], ["exactly one of --db or --llm-responses"]),
])
def test_bad_options_give_one_line_errors(tmp_path, args, fragments):
    result = whosevalues(*args, cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "whosevalues-out").exists()  # nothing half-written


def test_malformed_survey_file_on_the_command_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('id = "bad"\nname = "Bad"\n[scale]\nmin = 1\nmax = 5\n')
    assert_one_line_error(whosevalues("run", "--surveys", str(bad), cwd=tmp_path), str(bad), "field")


def test_missing_api_key_fails_before_any_request(tmp_path):
    env = {"DEEPSEEK_API_KEY": ""}
    result = whosevalues("run", "--models", "deepseek-v3", "--surveys", "mfq2", cwd=tmp_path, env=env)
    assert_one_line_error(result, "DEEPSEEK_API_KEY")


def test_unwritable_db_and_newer_store(tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    result = whosevalues("run", "--db", str(blocker / "s.sqlite"), cwd=tmp_path)
    assert_one_line_error(result, "--db")
    newer = tmp_path / "newer.sqlite"
    Store(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("INSERT INTO schema_migrations VALUES ('999_from_the_future', 'now')")
    assert_one_line_error(whosevalues("run", "--db", str(newer), cwd=tmp_path), "newer whosevalues")


def test_surveys_show_prints_exact_messages(tmp_path):
    result = whosevalues("surveys", "show", "wvs7", "--language", "zh", "--persona", "USA", "--item", "Q182",
                         cwd=tmp_path)
    assert result.returncode == 0
    from whosevalues.instruments import load_instrument

    prompt = load_instrument("wvs7").render("Q182", "zh", "USA")
    assert result.stdout == f"--- system ---\n{prompt.system}\n--- user ---\n{prompt.user}\n"


def test_dry_run_costs_the_papers_design_and_asks_nothing(tmp_path):
    result = whosevalues("run", "--models", "paper", "--variants", "original", "--dry-run", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    total = next(line for line in result.stdout.splitlines() if "TOTAL" in line)
    assert "132,000" in total  # 20 models x 55 items x 2 languages x 3 personas x 20 samples
    assert "gpt-4o" in result.stdout and "claude-opus-4" in result.stdout
    assert not (tmp_path / "whosevalues-out").exists()
