"""The store under stress: a full disk, two runs at once, and faults that outlast a request's attempts.

Every test runs the real command in subprocesses against the project's loopback servers.
"""

from __future__ import annotations

import os
import resource
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whosevalues.testing import FaultProxy, StubOpenAIServer

pytestmark = pytest.mark.slow  # servers and CLI subprocesses (SIGKILL, a full disk)


def study_file(tmp_path: Path, base_url: str, *, max_attempts: int = 6, concurrency: int = 8) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(f'''surveys = ["mfq2"]
languages = ["en"]
personas = ["none"]
mode = "sample"
variants = ["original"]
[[models]]
id = "stub"
provider = "openai-compatible"
base_url = "{base_url}"
api_model = "stub-model"
origin = "USA"
max_attempts = {max_attempts}
max_concurrency = {concurrency}
timeout = 5
''')
    return path


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "whosevalues.cli", "run", *args, "--no-analysis"]


ENV = {**os.environ, "COLUMNS": "200"}


def answers(db: Path) -> tuple[int, int, dict[str, int]]:
    with sqlite3.connect(db, timeout=10) as conn:
        total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM answers").fetchone()
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM answers GROUP BY status").fetchall())
    return total, distinct, statuses


def test_full_disk_ends_in_one_line_and_the_store_stays_intact(tmp_path):
    samples = 30  # a run far larger than the room on the disk; its rerun completes it
    with StubOpenAIServer() as stub:
        config = study_file(tmp_path, stub.base_url)
        first = subprocess.run(command("--config", str(config), "--samples", "1"), cwd=tmp_path, env=ENV,
                               capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        db = tmp_path / "whosevalues-out" / "whosevalues.sqlite"
        before = answers(db)
        limit = db.stat().st_size + 150_000  # room for a few hundred answers in the write-ahead log, not 1,080

        def small_disk() -> None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

        full = subprocess.run(command("--config", str(config), "--samples", str(samples)), cwd=tmp_path, env=ENV,
                              capture_output=True, text=True, timeout=300, preexec_fn=small_disk)
        assert full.returncode != 0
        assert "Traceback" not in full.stderr
        lines = [line for line in full.stderr.splitlines() if line.strip()]
        assert len(lines) <= 3 and lines[-1].startswith("error:"), full.stderr
        assert "disk" in lines[-1] and "store is intact" in lines[-1]

        with sqlite3.connect(db) as conn:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        during = answers(db)
        assert during[0] == during[1] >= before[0]  # nothing lost, nothing twice
        assert during[0] < 36 * samples  # the limit did stop it

        again = subprocess.run(command("--config", str(config), "--samples", str(samples)), cwd=tmp_path, env=ENV,
                               capture_output=True, text=True, timeout=300)
        assert again.returncode == 0, again.stderr
        total, distinct, statuses = answers(db)
        assert total == distinct == 36 * samples and statuses == {"valid": 36 * samples}


def test_two_runs_on_one_store_never_ask_a_request_twice(tmp_path):
    samples = 20
    with StubOpenAIServer(latency=0.02) as stub:
        config = study_file(tmp_path, stub.base_url, concurrency=4)
        args = command("--config", str(config), "--samples", str(samples))
        first = subprocess.Popen(args, cwd=tmp_path, env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                 text=True)
        db = tmp_path / "whosevalues-out" / "whosevalues.sqlite"
        deadline = time.monotonic() + 60
        while stub.requests < 20 and time.monotonic() < deadline:  # the first run is asking
            time.sleep(0.05)
        second = subprocess.Popen(args, cwd=tmp_path, env=ENV, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  text=True)
        first_err = first.communicate(timeout=300)[1]
        second_err = second.communicate(timeout=300)[1]
        assert first.returncode == 0 and second.returncode == 0, first_err + second_err
        assert "waiting for it to finish" in second_err
        assert stub.requests == 36 * samples  # every request asked exactly once, by one of the two
        total, distinct, statuses = answers(db)
        assert total == distinct == 36 * samples and statuses == {"valid": 36 * samples}


def test_interrupted_holder_releases_the_store(tmp_path):
    """A run killed with SIGKILL leaves no lock behind: the next run proceeds at once."""
    with StubOpenAIServer(latency=0.05) as stub:
        config = study_file(tmp_path, stub.base_url, concurrency=2)
        first = subprocess.Popen(command("--config", str(config), "--samples", "50"), cwd=tmp_path, env=ENV,
                                 stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while stub.requests < 10 and time.monotonic() < deadline:
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        second = subprocess.run(command("--config", str(config), "--samples", "2"), cwd=tmp_path, env=ENV,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert "waiting" not in second.stderr


def test_transient_faults_beyond_the_attempts_are_swept_until_every_answer_is_stored(tmp_path):
    faults = {"http_500": 0.05, "http_503": 0.04, "drop": 0.04, "truncate": 0.04, "malformed": 0.03}  # 20%
    with StubOpenAIServer() as stub, FaultProxy(stub.url, faults=faults, seed=7) as proxy:
        config = study_file(tmp_path, proxy.base_url, max_attempts=1, concurrency=8)  # every fault is final
        result = subprocess.run(command("--config", str(config), "--samples", "10"), cwd=tmp_path, env=ENV,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "failed on transient errors" in result.stderr  # the sweep ran
        total, distinct, statuses = answers(tmp_path / "whosevalues-out" / "whosevalues.sqlite")
        assert total == distinct == 360 and statuses == {"valid": 360}, statuses
        assert sum(n for outcome, n in proxy.stats.items() if outcome != "ok") > 0
