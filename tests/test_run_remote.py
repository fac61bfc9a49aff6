"""`whosevalues run --config study.toml` against an OpenAI-compatible endpoint behind the fault proxy.

The endpoint is the project's stub server (instant, deterministic answers) so that these runs measure the
client: retries, storage, resumption and secrecy. The same path against the real llama.cpp server and the
embedded model is tested in tests/test_faults.py and tests/test_backend_openai.py.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from whosevalues.testing import FaultProxy, StubOpenAIServer

FAKE_KEY = "sk-test-DO-NOT-LEAK-4b1f9e"
FAULTS = {"http_429": 0.05, "http_500": 0.05, "drop": 0.03, "truncate": 0.03, "malformed": 0.03,
          "empty_choices": 0.03, "content_filter": 0.02}


def study_file(tmp_path: Path, base_url: str, samples: int) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(f'''
surveys = ["mfq2"]
languages = ["en", "zh"]
personas = ["none", "CHN", "USA"]
samples = {samples}
mode = "sample"
variants = ["original"]

[[models]]
id = "stub-behind-proxy"
provider = "openai-compatible"
base_url = "{base_url}"
api_model = "stub-model"
origin = "CHN"
api_key_env = "STUB_API_KEY"
max_concurrency = 16
max_attempts = 8
timeout = 5
''')
    return path


def run(tmp_path: Path, config: Path, **popen) -> subprocess.Popen:
    env = {**os.environ, "STUB_API_KEY": FAKE_KEY, "COLUMNS": "200"}
    return subprocess.Popen([sys.executable, "-m", "whosevalues.cli", "run", "--config", str(config),
                             "--no-analysis"], cwd=tmp_path, env=env, **popen)


def stored(db: Path) -> tuple[int, int, dict]:
    with sqlite3.connect(db, timeout=5) as conn:
        total, distinct = conn.execute("SELECT COUNT(*), COUNT(DISTINCT key) FROM answers").fetchone()
        statuses = dict(conn.execute("SELECT status, COUNT(*) FROM answers GROUP BY status").fetchall())
    return total, distinct, statuses


def enough_stored(db: Path, count: int) -> bool:
    """Whether the running process has stored ``count`` answers (False while the store is still being made)."""
    try:
        return db.exists() and stored(db)[0] >= count
    except sqlite3.OperationalError:  # the schema is not there yet
        return False


def assert_no_key_anywhere(tmp_path: Path, *texts: str) -> None:
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert FAKE_KEY.encode() not in path.read_bytes(), path
    for text in texts:
        assert FAKE_KEY not in text


def test_faulty_endpoint_every_request_stored_once_and_no_key_leaks(tmp_path):
    expected = 36 * 2 * 3 * 3
    with StubOpenAIServer() as stub, FaultProxy(stub.url, faults=FAULTS, seed=11) as proxy:
        process = run(tmp_path, study_file(tmp_path, proxy.base_url, samples=3),
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    total, distinct, statuses = stored(tmp_path / "whosevalues-out" / "whosevalues.sqlite")
    assert total == distinct == expected
    assert statuses.get("error", 0) == 0  # every fault was retried until it went through
    assert statuses["valid"] + statuses.get("refusal", 0) == expected  # content filter: stored as a refusal
    assert sum(proxy.stats[f] for f in FAULTS) > 20  # the faults really happened
    assert_no_key_anywhere(tmp_path, out, err)


def test_sigkill_against_faulty_endpoint_then_rerun(tmp_path):
    expected = 36 * 2 * 3 * 4
    db = tmp_path / "whosevalues-out" / "whosevalues.sqlite"
    with StubOpenAIServer(latency=0.05) as stub, FaultProxy(stub.url, faults=FAULTS, seed=5) as proxy:
        config = study_file(tmp_path, proxy.base_url, samples=4)
        process = run(tmp_path, config, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.2)
            if enough_stored(db, expected // 3):
                break
        assert process.poll() is None, "finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        partial = stored(db)[0]
        assert partial < expected
        second = run(tmp_path, config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        out, err = second.communicate(timeout=300)
    assert second.returncode == 0, err[-3000:]
    total, distinct, statuses = stored(db)
    assert total == distinct == expected and statuses.get("error", 0) == 0
    assert_no_key_anywhere(tmp_path, out, err)


def test_sigint_stops_cleanly_after_storing_requests_in_flight(tmp_path):
    db = tmp_path / "whosevalues-out" / "whosevalues.sqlite"
    with StubOpenAIServer(latency=0.3) as stub:
        config = study_file(tmp_path, stub.base_url, samples=4)
        process = run(tmp_path, config, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not enough_stored(db, 32):
            time.sleep(0.2)
        asked_before = stub.requests  # chat requests the server has seen (no probe in sample mode)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        total, distinct, _ = stored(db)
    assert process.returncode == 130 and "Traceback" not in err
    assert "run the same command again" in err
    # every request the server had been sent before the interrupt was stored (in flight ones finished)
    assert total == distinct >= asked_before
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT status FROM runs ORDER BY id DESC").fetchone()[0] == "interrupted"
