"""`whosevalues run --batch` against a loopback OpenAI files + batches server, killed at every step.

The server (``whosevalues.testing.stub_batches``) runs in this process; the CLI runs as a child process
that is SIGKILLed: after the upload (reply lost), before the batch is created, after it is created (reply
lost), and while it is polled. The same command is then run again. Every request must end stored once
and valid, the first batch must hold the whole study, no request may be sent twice except lines that
failed, and the rerun must resume the submitted batch.
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

import pytest

from whosevalues.testing.stub_batches import StubBatchServer

REPO = Path(__file__).resolve().parents[1]
# mfq2 (36 items) x 2 languages x 3 personas x 2 samples = 432 requests, as in the check
STUDY = """
surveys = ["mfq2"]
languages = ["en", "zh"]
personas = ["none", "CHN", "USA"]
samples = 2
mode = "sample"
variants = ["original"]

[[models]]
id = "stub-batch"
provider = "openai-compatible"
base_url = "{base_url}"
api_model = "stub-model"
origin = "USA"
"""
N_REQUESTS = 432


def write_study(tmp_path: Path, base_url: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(STUDY.format(base_url=base_url))
    return path


def cli_env() -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), WHOSEVALUES_BATCH_POLL_SECONDS="0.2", COLUMNS="220")
    env.pop("OPENAI_API_KEY", None)
    return env


def start(tmp_path: Path, *extra: str) -> subprocess.Popen:
    args = [sys.executable, "-m", "whosevalues.cli", "run", "--config", str(tmp_path / "study.toml"),
            "--out", str(tmp_path / "out"), "--no-analysis", *extra]
    return subprocess.Popen(args, cwd=tmp_path, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)


def run_to_end(tmp_path: Path, *extra: str, timeout: float = 120) -> str:
    process = start(tmp_path, *extra)
    output, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, output
    return output


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kill(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    if process.stdout:
        process.stdout.close()


def wait_for_batch(tmp_path: Path, server, polled: bool = False) -> str:
    """The first batch's remote id once the run has recorded it as submitted (and, if ``polled``, polled it)."""
    wait_for(lambda: db_rows(tmp_path, "SELECT remote_id FROM batches WHERE state = 'submitted'"),
             what="the batch to be recorded")
    remote_id = db_rows(tmp_path, "SELECT remote_id FROM batches")[0][0]
    if polled:
        wait_for(lambda: ("GET", f"/v1/batches/{remote_id}") in server.requests, what="a poll")
    return remote_id


def kill_once_submitted(tmp_path: Path, server, polled: bool = False) -> str:
    """Start ``run --batch`` and SIGKILL it once its batch is submitted (and polled): the batch's remote id."""
    process = start(tmp_path, "--batch")
    try:
        return wait_for_batch(tmp_path, server, polled)
    finally:
        kill(process)


def db_rows(tmp_path: Path, sql: str) -> list[tuple]:
    db = tmp_path / "out" / "whosevalues.sqlite"
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        try:
            return connection.execute(sql).fetchall()
        except sqlite3.OperationalError:  # the schema is not there yet
            return []


def key_of(custom_id: str) -> str:
    return custom_id.split("-")[0]


def assert_nothing_lost_nothing_paid_twice(tmp_path: Path, server: StubBatchServer) -> None:
    keys = {row[0] for row in db_rows(tmp_path, "SELECT key FROM requests")}
    assert len(keys) == N_REQUESTS
    answers = db_rows(tmp_path, "SELECT key, status FROM answers")
    assert len(answers) == len({key for key, _ in answers}) == N_REQUESTS  # each stored once
    assert {key for key, _ in answers} == keys
    assert {status for _, status in answers} == {"valid"}

    batches = sorted(server.batches.values(), key=lambda b: b.created)
    # a custom_id is the request key, with "-n" when the key was sent n times before (its lines failed)
    submitted = [[key_of(cid) for cid in custom_ids] for custom_ids in server.submitted_custom_ids()]
    assert set(submitted[0]) == keys and len(submitted[0]) == N_REQUESTS  # the first batch holds the study
    # later batches carry only lines that failed in an earlier batch, each at most once per failure
    failed_before: set[str] = set()
    for batch, batch_keys in zip(batches, submitted):
        if batch is not batches[0]:
            assert set(batch_keys) <= failed_before, "a line that had not failed was sent again"
            failed_before -= set(batch_keys)
        failed_before |= {key_of(cid) for cid in server.failed_custom_ids(batch.id)}
    assert not failed_before, "a failed line was never sent again"
    # the store knows every batch the provider has (none created behind its back), the first one resumed
    recorded = {row[0] for row in db_rows(tmp_path, "SELECT remote_id FROM batches WHERE remote_id IS NOT NULL")}
    assert recorded == set(server.batches)
    assert db_rows(tmp_path, "SELECT count(*) FROM batches WHERE state != 'collected'") == [(0,)]


@pytest.fixture
def server():
    with StubBatchServer(duration=1.0, fail_rate=0.04, seed=7) as stub:  # tests that poll for longer set theirs
        yield stub


@pytest.mark.slow
def test_uninterrupted_batch_run(tmp_path, server):
    """``batch = true`` in the model's block (no --batch): the whole study goes in one batch."""
    study = write_study(tmp_path, server.base_url)
    study.write_text(study.read_text() + "batch = true\n")
    output = run_to_end(tmp_path)
    assert "You may stop now" in output
    assert len(server.uploads) == len(server.batches)  # one file per batch
    assert_nothing_lost_nothing_paid_twice(tmp_path, server)
    # a second run asks nothing and submits nothing
    before = len(server.batches)
    run_to_end(tmp_path)
    assert len(server.batches) == before


@pytest.mark.slow
@pytest.mark.parametrize("step", ["upload_after", "create_before", "create_after"])
def test_sigkill_during_submission_then_rerun(tmp_path, server, step):
    """Killed with the upload's or the creation's reply never received: the rerun finds what exists."""
    write_study(tmp_path, server.base_url)
    server.hold(step)
    process = start(tmp_path, "--batch")
    try:
        wait_for(server.held.is_set, what=f"the client to reach {step}")
    finally:
        kill(process)
        server.release()
    assert len(server.uploads) == 1
    assert len(server.batches) == (1 if step == "create_after" else 0)
    run_to_end(tmp_path, "--batch")
    assert len(server.uploads) == len(server.batches)  # the first file was found again, not uploaded twice
    assert_nothing_lost_nothing_paid_twice(tmp_path, server)


@pytest.mark.slow
def test_sigkill_while_polling_then_rerun_resumes(tmp_path, server):
    write_study(tmp_path, server.base_url)
    server.duration = 6.0
    first = kill_once_submitted(tmp_path, server, polled=True)
    assert len(server.batches) == 1
    output = run_to_end(tmp_path, "--batch")
    assert first in output  # the progress bar of the resumed batch
    assert min(server.batches.values(), key=lambda b: b.created).id == first  # resumed, not sent again
    assert_nothing_lost_nothing_paid_twice(tmp_path, server)


@pytest.mark.slow
def test_rerun_without_batch_still_resumes_open_batches(tmp_path, server):
    """A rerun with --no-batch never asks online what a live batch carries: it collects the batch."""
    write_study(tmp_path, server.base_url)
    kill_once_submitted(tmp_path, server)
    chat_before = server.requests.count(("POST", "/v1/chat/completions"))
    run_to_end(tmp_path, "--no-batch")
    online = server.requests.count(("POST", "/v1/chat/completions")) - chat_before
    failed = server.failed_custom_ids(next(iter(server.batches)))
    assert len(server.batches) == 1
    assert online == len(failed)  # only the lines that failed in the batch were asked online
    answers = db_rows(tmp_path, "SELECT status FROM answers")
    assert len(answers) == N_REQUESTS and {s for (s,) in answers} == {"valid"}


@pytest.mark.slow
def test_batches_command_lists_and_cancels(tmp_path, server):
    write_study(tmp_path, server.base_url)
    server.duration = 30.0
    kill_once_submitted(tmp_path, server)
    db = tmp_path / "out" / "whosevalues.sqlite"
    listing = subprocess.run([sys.executable, "-m", "whosevalues.cli", "batches", "--db", str(db)],
                             env=cli_env(), capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0, listing.stderr
    remote_id = next(iter(server.batches))
    for expected in ("openai-compatible", "stub-batch", str(N_REQUESTS), "submitted", remote_id[:8]):
        assert expected in listing.stdout
    time.sleep(1.0)  # let part of the batch be answered
    cancelled = subprocess.run([sys.executable, "-m", "whosevalues.cli", "batches", "--db", str(db),
                                "--cancel-all"], env=cli_env(), capture_output=True, text=True, timeout=60)
    assert cancelled.returncode == 0, cancelled.stderr
    assert "cancelling" in cancelled.stdout
    assert server.batches[remote_id].status in ("cancelling", "cancelled")
    server.duration = 1.0  # the resubmitted lines finish quickly
    run_to_end(tmp_path, "--batch")
    assert_nothing_lost_nothing_paid_twice(tmp_path, server)


@pytest.mark.slow
def test_endpoint_without_batch_api_is_asked_online(tmp_path):
    from whosevalues.testing.stub_openai import StubOpenAIServer

    with StubOpenAIServer() as stub:
        write_study(tmp_path, stub.base_url)
        output = run_to_end(tmp_path, "--batch")
    assert "no batch API" in output and "asking online" in output
    answers = db_rows(tmp_path, "SELECT status FROM answers")
    assert len(answers) == N_REQUESTS and {s for (s,) in answers} == {"valid"}


@pytest.mark.slow
def test_batches_command_errors_are_one_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "batches", "--db", str(tmp_path / "no.sqlite")],
                            env=cli_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "no store there" in result.stderr and "Traceback" not in result.stderr  # read-only: never created


@pytest.mark.slow
def test_distribution_mode_in_a_batch(tmp_path, server):
    """Lines ask for top_logprobs as online asking does; the distributions are read from the batch results."""
    write_study(tmp_path, server.base_url)
    study = (tmp_path / "study.toml").read_text().replace('mode = "sample"', 'mode = "distribution"')
    (tmp_path / "study.toml").write_text(study)
    run_to_end(tmp_path, "--batch")
    first = min(server.batches.values(), key=lambda b: b.created)
    assert len(first.lines) == N_REQUESTS // 2  # one request per prompt, not one per sample
    assert all(line["body"]["logprobs"] is True and line["body"]["top_logprobs"] == 20 for line in first.lines)
    rows = db_rows(tmp_path, "SELECT status, distribution, valid_mass FROM answers")
    assert len(rows) == N_REQUESTS // 2 and {status for status, _, _ in rows} == {"valid"}
    from whosevalues.testing.stub_openai import STUB_PROBS
    on_scale = sum(p for token, p in STUB_PROBS.items() if token.isdigit())
    for _, distribution, valid_mass in rows:
        probabilities = json.loads(distribution)
        assert abs(sum(probabilities.values()) - 1) < 1e-9
        assert abs(valid_mass - on_scale) < 1e-9


def test_split_by_the_providers_limits(monkeypatch):
    """More requests or bytes than one batch may carry: several batches, none over either limit."""
    from whosevalues.elicit.batch import split_by_limits
    from whosevalues.elicit.plan import plan_model
    from whosevalues.models.batch_openai import OpenAIBatchAdapter
    from whosevalues.models.openai_compatible import OpenAICompatibleBackend
    from whosevalues.models.spec import ModelSpec
    from whosevalues.study import Study

    spec = ModelSpec(id="m", provider="openai-compatible", base_url="http://127.0.0.1:9/v1", api_model="m")
    study = Study(surveys=["mfq2"], languages=["en", "zh"], personas=["none", "CHN", "USA"], samples=2,
                  variants=["original"])
    planned = list(plan_model(study, spec, "sample", study.instruments()))
    adapter = OpenAIBatchAdapter(OpenAICompatibleBackend(spec))
    sizes = [len(json.dumps(adapter.line(p.key, p.request), ensure_ascii=False).encode()) + 1 for p in planned]
    monkeypatch.setattr(OpenAIBatchAdapter, "max_requests", 100)
    chunks = split_by_limits(adapter, planned)
    assert [len(c) for c in chunks] == [100] * (len(planned) // 100) + [len(planned) % 100]
    monkeypatch.setattr(OpenAIBatchAdapter, "max_requests", 50_000)
    monkeypatch.setattr(OpenAIBatchAdapter, "max_bytes", sum(sizes) // 3)
    chunks = split_by_limits(adapter, planned)
    assert len(chunks) == 4 and [p for c in chunks for p in c] == planned
    position = 0
    for chunk in chunks:
        assert sum(sizes[position:position + len(chunk)]) <= OpenAIBatchAdapter.max_bytes
        position += len(chunk)


@pytest.mark.slow
def test_half_submitted_batch_is_dropped_when_the_rerun_asks_online(tmp_path, server):
    """Killed before the batch was created, then run with --no-batch: no batch is created, all asked online."""
    write_study(tmp_path, server.base_url)
    server.hold("create_before")
    process = start(tmp_path, "--batch")
    try:
        wait_for(server.held.is_set, what="the client to reach the creation")
    finally:
        kill(process)
        server.release()
    run_to_end(tmp_path, "--no-batch")
    assert not server.batches
    assert server.requests.count(("POST", "/v1/chat/completions")) == N_REQUESTS
    answers = db_rows(tmp_path, "SELECT status FROM answers")
    assert len(answers) == N_REQUESTS and {s for (s,) in answers} == {"valid"}
    assert db_rows(tmp_path, "SELECT state FROM batches") == [("abandoned",)]


@pytest.mark.slow
def test_ctrl_c_while_polling_stops_cleanly_and_the_rerun_collects(tmp_path, server):
    write_study(tmp_path, server.base_url)
    server.duration = 6.0  # still running seconds after its first poll, when the Ctrl-C comes
    process = start(tmp_path, "--batch")
    wait_for_batch(tmp_path, server, polled=True)
    process.send_signal(signal.SIGINT)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 130, output
    assert "Stopped polling" in output and "run the same command again" in output
    server.duration = 1.0
    run_to_end(tmp_path, "--batch")
    assert_nothing_lost_nothing_paid_twice(tmp_path, server)


@pytest.mark.slow
def test_batch_lines_carry_what_online_asking_learned(tmp_path, server):
    """An endpoint that taught online asking to drop the seed and to allow 64 tokens gets batch lines
    without a seed and with 64 tokens: a line never fails for what online asking already avoids."""
    from whosevalues.elicit.store import Store
    from whosevalues.study import Study

    study_file = write_study(tmp_path, server.base_url)
    spec = Study.from_toml(study_file).model_specs()[0]
    store = Store(tmp_path / "out" / "whosevalues.sqlite")
    store.set_endpoint_setting(spec.endpoint_key, "adapt:no_seed", "yes", "the endpoint rejected seed")
    store.set_endpoint_setting(spec.endpoint_key, "budget:sample", "64", "answers came within 64 tokens")
    store.close()
    run_to_end(tmp_path, "--batch")
    first = min(server.batches.values(), key=lambda b: b.created)
    assert all("seed" not in line["body"] for line in first.lines)
    assert {line["body"].get("max_tokens") or line["body"].get("max_completion_tokens")
            for line in first.lines} == {64}


def run_small_study_as(tmp_path: Path, api_model: str, extra: str = "") -> list:
    """mfq2 in English, persona none, one sample (36 lines) run with --batch against a batch server that
    answers as the stub_providers model ``api_model``; its batches in the order they were created."""
    from whosevalues.testing.stub_providers import respond

    def provider(body, count):
        reply = respond(body, count)
        return reply.status, reply.body

    with StubBatchServer(duration=1.0, fail_rate=0.0, responder=provider) as stub:
        study = write_study(tmp_path, stub.base_url)
        study.write_text(study.read_text().replace('api_model = "stub-model"', f'api_model = "{api_model}"')
                         .replace('languages = ["en", "zh"]', 'languages = ["en"]')
                         .replace('personas = ["none", "CHN", "USA"]', 'personas = ["none"]')
                         .replace("samples = 2", "samples = 1") + extra)
        run_to_end(tmp_path, "--batch")
        return sorted(stub.batches.values(), key=lambda b: b.created)


@pytest.mark.slow
def test_reasoning_model_out_of_budget_is_sent_again_with_its_cap(tmp_path):
    """A reasoner whose 10 tokens went on thinking: the line goes in the next batch with the model's cap,
    and the answer (not the reasoning, full of other numbers) is stored."""
    from whosevalues.testing.stub_providers import intended_value

    batches = run_small_study_as(tmp_path, "reasoner")
    assert len(batches) == 2
    assert {line["body"]["max_tokens"] for line in batches[0].lines} == {10}
    assert {line["body"]["max_tokens"] for line in batches[1].lines} == {8192}  # the catalog default cap
    rows = db_rows(tmp_path, "SELECT r.user, a.status, a.value, a.reasoning_text FROM answers a "
                             "JOIN requests r ON r.key = a.key")
    assert len(rows) == 36
    for user, status, value, reasoning in rows:
        assert status == "valid" and value == intended_value(user.split("\n\n")[-1]) and reasoning


@pytest.mark.slow
def test_parameter_refused_in_a_batch_is_learned_for_the_next(tmp_path):
    """o-series-like endpoint: every line of the first batch is refused for max_tokens; the adaptation is
    learned (max_completion_tokens), the next batch uses it, and the hidden reasoning then needs the cap."""
    from whosevalues.testing.stub_providers import intended_value

    batches = run_small_study_as(tmp_path, "o-series", extra="temperature = 1\n")
    assert all("max_tokens" in line["body"] for line in batches[0].lines)
    assert all("max_tokens" not in line["body"] and "max_completion_tokens" in line["body"]
               for batch in batches[1:] for line in batch.lines)
    rows = db_rows(tmp_path, "SELECT r.user, a.status, a.value FROM answers a JOIN requests r ON r.key = a.key")
    assert len(rows) == 36
    assert all(status == "valid" and value == intended_value(user.split("\n\n")[-1]) for user, status, value in rows)
    learned = db_rows(tmp_path, "SELECT setting FROM endpoint_settings")
    assert ("adapt:max_completion_tokens",) in learned
