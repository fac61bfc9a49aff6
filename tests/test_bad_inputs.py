"""Many bad or careless inputs: each gets a non-zero exit, no traceback, at most three lines that name the
problem and the fix, and a store the command names neither loses nor gains a row (nor a byte, for another
program's database)."""

from __future__ import annotations

import hashlib
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whosevalues.elicit.outcome import Outcome
from whosevalues.elicit.plan import plan_model
from whosevalues.elicit.store import Store
from whosevalues.models.base import ProviderReply
from whosevalues.study import Study

pytestmark = pytest.mark.slow  # every test runs the whosevalues CLI in a subprocess

MFQ_HEADER = "model,origin,survey,language,persona,item,mean,n_valid,n_total,refusal_rate\n"
PAPER_HEADER = "LLM,language,persona,item,llm_response,model_nation\n"


def whosevalues(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=timeout)


def assert_short_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode != 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, result.stderr
    text = " ".join(lines)
    assert text.startswith("error:"), text
    for fragment in fragments:
        assert fragment in text, text


def make_store(path: Path, studies: tuple[tuple[str, int], ...] = (("first", 2),)) -> Path:
    """A small real store: each (name, samples) study on the embedded model's MFQ-2 items, all answered 3."""
    store = Store(path)
    for name, samples in studies:
        study = Study(name=name, surveys=["mfq2"], languages=["en"], personas=["none"], samples=samples)
        plan = plan_model(study, study.model_specs()[0], "sample", study.instruments())
        run = store.start_run("test", study.model_dump_json(), "0", study.study_id)
        store.add_requests(plan, run)
        for planned in plan:
            store.save_answer(planned, ProviderReply(answer_text="3"), Outcome(3.0, "valid"), run, attempts=1,
                              latency_s=0.0)
        store.link_study(study.study_id, [p.key for p in plan])
        store.finish_run(run, "complete")
    store.close()
    return path


def row_counts(path: Path) -> dict[str, int]:
    with sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True) as db:
        tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {table: db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchone()[0] for table in tables}


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def store(tmp_path) -> Path:
    return make_store(tmp_path / "store.sqlite")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------------------------
# run: options and study files (each names the store with --db; none may change it)
# ------------------------------------------------------------------------------------------------------------
RUN_OPTIONS = [
    (["--temperature", "-1"], ["--temperature", "0 to 2"]),
    (["--temperature", "100"], ["--temperature", "0 to 2"]),
    (["--temperature", "nan"], ["--temperature"]),
    (["--temperature", "inf"], ["--temperature"]),
    (["--samples", "0"], ["--samples", "1 to"]),
    (["--samples", "-5"], ["--samples", "1 to"]),
    (["--samples", "1000000000"], ["--samples", "1 to"]),
    (["--samples", "many"], ["--samples"]),
    (["--languages", ""], ["--languages", "empty"]),
    (["--personas", ","], ["--personas", "empty"]),
    (["--models", " , "], ["--models", "empty"]),
    (["--surveys", ""], ["--surveys", "empty"]),
    (["--languages", "en,en"], ["--languages", "twice"]),
    (["--personas", "none,CHN,CHN"], ["--personas", "twice"]),
    (["--mode", "Sample"], ["--mode", "per-model"]),
    (["--mode", "both"], ["--mode"]),
    (["--models", "gpt-4o,nope"], ["unknown model 'nope'"]),
    (["--surveys", "mfq2,WVS7"], ["unknown survey"]),
    (["--personas", "china"], ["persona 'CHINA' is not an ISO 3166-1 alpha-3 code"]),
    (["--languages", "EN"], ["no language 'EN'"]),
]


@pytest.mark.parametrize("args, fragments", RUN_OPTIONS, ids=[" ".join(a) for a, _ in RUN_OPTIONS])
def test_bad_run_options(tmp_path, store, args, fragments):
    before = row_counts(store)
    assert_short_error(whosevalues("run", *args, "--db", str(store), "--out", "out", cwd=tmp_path), *fragments)
    assert row_counts(store) == before
    assert not (tmp_path / "out").exists()


STUDY_FILES = [
    ("temperature = 5\n", ["temperature", "0 to 2"]),
    ("temperature = -0.5\n", ["temperature", "0 to 2"]),
    ("samples = 0\n", ["samples", "1 to"]),
    ('samples = "twenty"\n', ["samples", "number"]),
    ("languages = []\n", ["languages", "empty"]),
    ('personas = ["none", ""]\n', ["personas", "empty name"]),
    ('mode = "random"\n', ["mode", "per-model"]),
    ("max_tokens = 0\n", ["max_tokens"]),
    ('name = "my study!"\n', ["name"]),
    ("sample = 20\n", ["sample", "unknown field"]),
    ("samples = 20\nsamples = 30\n", ["not valid TOML"]),
    ('[[models]]\nid = "m"\nprovider = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
     'api_model = "x"\ntimeout = -1\n', ["'m'", "timeout", "[[models]]"]),
    ('[[models]]\nid = "m"\nprovider = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
     'api_model = "x"\ntemperature = 3\n', ["'m'", "temperature"]),
    ('[[models]]\nid = "m"\nprovider = "openai-compatible"\nbase_url = "http://127.0.0.1:9/v1"\n'
     'api_model = "x"\nmax_concurrency = 0\n', ["'m'", "max_concurrency"]),
    ('[[models]]\nid = "m"\nprovider = "openai-compatible"\norigin = "China"\n', ["origin", "alpha-3"]),
    ('[[models]]\nid = "m"\nprovider = "openai-compatible"\nbase_url = "ftp://example.org"\napi_model = "x"\n',
     ["base_url", "http"]),
]


@pytest.mark.parametrize("text, fragments", STUDY_FILES, ids=[t.splitlines()[-1] for t, _ in STUDY_FILES])
def test_bad_study_files(tmp_path, store, text, fragments):
    prefix = 'surveys = ["mfq2"]\nlanguages = ["en"]\n' if "[[models]]" in text else ""
    config = write(tmp_path / "study.toml", prefix + text)
    before = row_counts(store)
    result = whosevalues("run", "--config", str(config), "--db", str(store), "--out", "out", cwd=tmp_path)
    assert_short_error(result, *fragments)
    assert row_counts(store) == before


def test_config_that_is_a_directory_or_binary(tmp_path, store):
    before = row_counts(store)
    (tmp_path / "configs").mkdir()
    assert_short_error(whosevalues("run", "--config", "configs", "--db", str(store), cwd=tmp_path),
                       "directory", "--config")
    (tmp_path / "study.toml").write_bytes(b"\xff\xfe\x00binary\x9c")
    assert_short_error(whosevalues("run", "--config", "study.toml", "--db", str(store), cwd=tmp_path),
                       "not a text file", "--config")
    assert row_counts(store) == before


def test_survey_file_that_is_a_directory_or_missing(tmp_path, store):
    before = row_counts(store)
    (tmp_path / "surveys").mkdir()
    assert_short_error(whosevalues("run", "--surveys", "surveys/", "--db", str(store), cwd=tmp_path))
    assert_short_error(whosevalues("run", "--surveys", "gone.toml", "--db", str(store), cwd=tmp_path), "gone.toml")
    assert row_counts(store) == before


def test_run_out_that_is_a_file_blames_out_not_db(tmp_path):
    write(tmp_path / "results", "a file")
    result = whosevalues("run", "--out", "results", cwd=tmp_path)
    assert_short_error(result, "--out", "existing file")
    assert "--db" not in result.stderr
    assert (tmp_path / "results").read_text() == "a file"


def test_out_under_a_file(tmp_path):
    write(tmp_path / "f", "x")
    assert_short_error(whosevalues("run", "--out", "f/sub/dir", cwd=tmp_path), "--out", "is a file")


def test_db_that_is_a_directory(tmp_path):
    (tmp_path / "storedir").mkdir()
    assert_short_error(whosevalues("run", "--db", "storedir", cwd=tmp_path), "--db", "directory")
    assert list((tmp_path / "storedir").iterdir()) == []


def test_db_that_is_a_text_file_is_never_overwritten(tmp_path):
    notes = write(tmp_path / "notes.sqlite", "my notes, not a database\n" * 10)
    before = digest(notes)
    assert_short_error(whosevalues("run", "--db", "notes.sqlite", cwd=tmp_path), "not a whosevalues store")
    assert_short_error(whosevalues("analyze", "--db", "notes.sqlite", "--out", "o", cwd=tmp_path),
                       "not a whosevalues store")
    assert digest(notes) == before and not (tmp_path / "o").exists()


def other_programs_database(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, amount REAL)")
        db.execute("INSERT INTO invoices (amount) VALUES (12.5), (99.0)")
    return path


@pytest.mark.parametrize("command", [["run"], ["run", "--dry-run"], ["analyze", "--out", "o"]])
def test_database_of_another_program_is_refused_and_untouched(tmp_path, command):
    foreign = other_programs_database(tmp_path / "accounts.db")
    before = digest(foreign)
    result = whosevalues(*command, "--db", str(foreign), cwd=tmp_path)
    assert_short_error(result, "another program", "--db")
    assert digest(foreign) == before
    assert row_counts(foreign) == {"invoices": 2}


def test_dead_endpoint_fails_within_seconds_naming_model_url_and_fix(tmp_path, store):
    url = f"http://127.0.0.1:{free_port()}/v1"
    config = write(tmp_path / "study.toml", f'surveys = ["mfq2"]\nlanguages = ["en"]\npersonas = ["none"]\n'
                                            f'[[models]]\nid = "dead-vllm"\nprovider = "openai-compatible"\n'
                                            f'base_url = "{url}"\napi_model = "x"\norigin = "USA"\n')
    before = row_counts(store)
    started = time.monotonic()
    result = whosevalues("run", "--config", str(config), "--db", str(store), cwd=tmp_path)
    assert time.monotonic() - started < 20
    assert_short_error(result, "dead-vllm", url, "connection refused", "start the server")
    assert row_counts(store) == before


def test_unresolvable_host_fails_fast(tmp_path):
    config = write(tmp_path / "study.toml", 'surveys = ["mfq2"]\n[[models]]\nid = "typo"\n'
                                            'provider = "openai-compatible"\nbase_url = "http://no-such-host.invalid/v1"\n'
                                            'api_model = "x"\norigin = "USA"\n')
    started = time.monotonic()
    result = whosevalues("run", "--config", str(config), cwd=tmp_path)
    assert time.monotonic() - started < 30
    assert_short_error(result, "typo", "no-such-host.invalid", "not found")


@pytest.mark.needs("llama_cpp")
def test_corrupt_model_file_ends_before_planning(tmp_path, store):
    pytest.importorskip("llama_cpp")
    corrupt = tmp_path / "broken.gguf"
    corrupt.write_bytes(b"GGUF" + os.urandom(50_000))
    config = write(tmp_path / "study.toml", 'surveys = ["mfq2"]\n[[models]]\nid = "broken"\nprovider = "local-llama"\n'
                                            f'api_model = "{corrupt}"\norigin = "USA"\n')
    before = row_counts(store)
    assert_short_error(whosevalues("run", "--config", str(config), "--db", str(store), cwd=tmp_path),
                       "broken", "could not be loaded", ".gguf")
    assert row_counts(store) == before


# ------------------------------------------------------------------------------------------------------------
# analyze: options, stores, studies
# ------------------------------------------------------------------------------------------------------------
def test_analyze_option_ranges(tmp_path, store):
    before = row_counts(store)
    for args, fragments in [
        (["--bootstrap", "-5"], ["--bootstrap", "0 (skip)"]),
        (["--bootstrap", "100000000"], ["--bootstrap"]),
        (["--countries", ""], ["--countries", "empty"]),
        (["--surveys", ","], ["--surveys", "empty"]),
        (["--humans", "mfq2"], ["SURVEY=SOURCE"]),
        (["--humans", "mfq2=/no/such/file.csv"], ["/no/such/file.csv"]),
        (["--humans", "wvs7=bundled"], ["wvs7"]),
    ]:
        result = whosevalues("analyze", "--db", str(store), *args, "--out", "o", cwd=tmp_path)
        assert_short_error(result, *fragments)
        assert not (tmp_path / "o").exists(), args
    assert row_counts(store) == before


def test_analyze_paths(tmp_path, store):
    write(tmp_path / "taken", "a file")
    (tmp_path / "dir").mkdir()
    before = row_counts(store)
    assert_short_error(whosevalues("analyze", "--db", str(store), "--out", "taken", cwd=tmp_path),
                       "--out", "existing file")
    assert_short_error(whosevalues("analyze", "--db", "dir", "--out", "o", cwd=tmp_path), "directory")
    assert_short_error(whosevalues("analyze", "--db", "missing.sqlite", "--out", "o", cwd=tmp_path), "no store")
    write(tmp_path / "empty.sqlite", "")
    assert_short_error(whosevalues("analyze", "--db", "empty.sqlite", "--out", "o", cwd=tmp_path), "empty")
    assert_short_error(whosevalues("analyze", "--llm-responses", "dir", "--out", "o", cwd=tmp_path),
                       "--llm-responses", "directory")
    assert_short_error(whosevalues("analyze", "--study", "first", "--llm-responses", "x.csv", "--out", "o",
                                   cwd=tmp_path), "--study", "--db")
    assert (tmp_path / "taken").read_text() == "a file" and not (tmp_path / "o").exists()
    assert row_counts(store) == before
    assert not (tmp_path / "missing.sqlite").exists()


def test_store_with_two_studies_needs_study(tmp_path):
    store = make_store(tmp_path / "two.sqlite", (("first", 2), ("second", 3)))
    before = row_counts(store)
    result = whosevalues("analyze", "--db", str(store), "--out", "o", cwd=tmp_path)
    assert_short_error(result, "2 studies", "first", "second", "--study")
    assert_short_error(whosevalues("analyze", "--db", str(store), "--study", "third", "--out", "o", cwd=tmp_path),
                       "'third'", "first", "second")
    assert row_counts(store) == before and not (tmp_path / "o").exists()


# ------------------------------------------------------------------------------------------------------------
# analyze --llm-responses: every value against the survey's scale and items, with file, row and column
# ------------------------------------------------------------------------------------------------------------
def contract_row(mean="3", item="1", survey="mfq2", n_valid="20", n_total="20", refusal="0", origin="USA",
                 persona="none") -> str:
    return f"m,{origin},{survey},en,{persona},{item},{mean},{n_valid},{n_total},{refusal}\n"


ANSWER_FILES = [
    ("means_41.csv", MFQ_HEADER + contract_row() + contract_row(mean="41", item="2"),
     ["means_41.csv", "row 3", "column mean", "1-5"]),
    ("wvs_11.csv", MFQ_HEADER + contract_row(survey="wvs7", item="Q177", mean="11"),
     ["row 2", "column mean", "1-10"]),
    ("zero.csv", MFQ_HEADER + contract_row(mean="0"), ["row 2", "column mean", "1-5"]),
    ("negative.csv", MFQ_HEADER + contract_row(mean="-2.5"), ["column mean", "1-5"]),
    ("inf.csv", MFQ_HEADER + contract_row(mean="inf"), ["column mean"]),
    ("word.csv", MFQ_HEADER + contract_row(mean="agree"), ["row 2", "column mean", "not a number"]),
    ("item.csv", MFQ_HEADER + contract_row(item="37"), ["row 2", "column item", "'37'", "mfq2"]),
    ("wvs_item.csv", MFQ_HEADER + contract_row(survey="wvs7", item="Q1"), ["column item", "Q177"]),
    ("survey.csv", MFQ_HEADER + contract_row(survey="mfq3"), ["row 2", "column survey", "--surveys"]),
    ("counts.csv", MFQ_HEADER + contract_row(n_valid="25"), ["column n_valid", "n_total"]),
    ("negcount.csv", MFQ_HEADER + contract_row(n_total="-1", n_valid="-1"), ["column n_valid"]),
    ("refusal.csv", MFQ_HEADER + contract_row(refusal="2"), ["column refusal_rate", "0-1"]),
    ("origin.csv", MFQ_HEADER + contract_row(origin="China"), ["column origin", "alpha-3"]),
    ("persona.csv", MFQ_HEADER + contract_row(persona="chinese"), ["column persona"]),
    ("header_only.csv", MFQ_HEADER, ["no rows"]),
    ("empty.csv", "", ["not a readable CSV"]),
    ("columns.csv", "model,mean\nm,3\n", ["missing column"]),
    ("paper_45.csv", PAPER_HEADER + "gpt-4,English,none,1,3,USA\ngpt-4,English,none,2,45,USA\n",
     ["paper_45.csv", "row 3", "column llm_response", "1-5"]),
    ("paper_wvs.csv", PAPER_HEADER + "gpt-4,English,none,Q177,12,USA\n", ["column llm_response", "1-10"]),
    ("paper_text.csv", PAPER_HEADER + "gpt-4,English,none,1,three,USA\n", ["row 2", "llm_response", "not a number"]),
    ("paper_lang.csv", PAPER_HEADER + "gpt-4,French,none,1,3,USA\n", ["language", "'French'"]),
    ("paper_nation.csv", PAPER_HEADER + "gpt-4,English,none,1,3,Mars\n", ["model_nation", "'Mars'"]),
]


@pytest.mark.parametrize("name, text, fragments", ANSWER_FILES, ids=[name for name, _, _ in ANSWER_FILES])
def test_bad_answer_files(tmp_path, name, text, fragments):
    write(tmp_path / name, text)
    assert_short_error(whosevalues("analyze", "--llm-responses", name, "--out", "o", cwd=tmp_path), *fragments)
    assert not (tmp_path / "o").exists()


def test_binary_answer_file(tmp_path):
    (tmp_path / "blob.csv").write_bytes(os.urandom(2000))
    assert_short_error(whosevalues("analyze", "--llm-responses", "blob.csv", "--out", "o", cwd=tmp_path), "blob.csv")


def test_report_of_a_file(tmp_path):
    write(tmp_path / "notadir", "x")
    assert_short_error(whosevalues("report", "notadir", cwd=tmp_path), "not an analysis directory")
