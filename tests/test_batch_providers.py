"""Anthropic Message Batches and Gemini batch mode through their official SDKs, replayed over loopback.

The batch session submits, polls and collects exactly as in a run; the replies are recorded exchanges
(``recordings/batch/README.md`` says where each comes from). Checked: each line carries the very request
body online asking sends, lines come back to the right request key, answers are stored through the
online translation and parser, and the batch record ends ``collected``.
"""

from __future__ import annotations

import asyncio
import io
import json
from functools import partial

import pytest
from rich.console import Console

from replay_helpers import RECORDINGS_ROOT, complete, load_recorded
from whosevalues.elicit.batch import BatchSession
from whosevalues.elicit.plan import plan_model
from whosevalues.elicit.runner import RunStats, decide_planned
from whosevalues.elicit.store import Store
from whosevalues.models.anthropic_backend import AnthropicBackend
from whosevalues.models.base import ProviderReply
from whosevalues.models.batch_anthropic import _line_result as anthropic_line
from whosevalues.models.catalog import resolve_model
from whosevalues.models.gemini_backend import GeminiBackend
from whosevalues.study import Study
from whosevalues.testing import ReplayServer

pytestmark = pytest.mark.needs("anthropic", "google.genai")  # the providers' official SDKs

recorded = partial(load_recorded, RECORDINGS_ROOT / "batch")


def planned_requests(spec, n: int):
    study = Study(surveys=["mfq2"], languages=["en"], personas=["none", "CHN"], samples=1)
    return plan_model(study, spec, "sample", study.instruments())[:n]


def run_session(store: Store, backend, planned, *, label: str = "test",
                add: bool = True) -> tuple[dict, dict, RunStats]:
    """One batch session: submit ``planned`` (added to the store first unless ``add`` is False), collect."""
    run_id = store.start_run(label, "{}", "test")
    if add:
        store.add_requests(planned, run_id)
    stats = RunStats()

    async def go():
        session = BatchSession(store, {backend.spec.id: backend}, run_id, stats, Console(file=io.StringIO()),
                               show_progress=False)
        try:
            online = await session.submit({backend.spec.id: planned}, {backend.spec.id})
            leftover = await session.collect()
        finally:
            await backend.aclose()
        return online, leftover
    online, leftover = asyncio.run(go())
    return online, leftover, stats


def stored(store: Store) -> dict[str, tuple]:
    return {row[0]: row[1:] for row in store.db.execute(
        "SELECT key, raw_text, status, value, output_tokens FROM answers")}


def camel_keys(value):
    if isinstance(value, dict):
        return {"".join(w.capitalize() if i else w for i, w in enumerate(k.split("_"))): camel_keys(v)
                for k, v in value.items()}
    return [camel_keys(v) for v in value] if isinstance(value, list) else value


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    monkeypatch.setenv("WHOSEVALUES_BATCH_POLL_SECONDS", "0.01")


# ---------------------------------------------------------------- Anthropic

def batch_backend_maker(monkeypatch, key_env: str, fake_key: str, model: str, backend_class):
    """A function making a batch-enabled ``backend_class`` for catalog ``model`` that talks to a replay
    server, with a fake key in ``key_env`` (the recorded exchanges need none)."""
    monkeypatch.setenv(key_env, fake_key)

    def make(server):
        spec = resolve_model(model).model_copy(update={"base_url": server.url, "timeout": 5, "batch": True})
        return backend_class(spec)
    return make


@pytest.fixture
def anthropic_backend(monkeypatch):
    return batch_backend_maker(monkeypatch, "ANTHROPIC_API_KEY", "sk-ant-FAKE", "claude-3.5-sonnet",
                               AnthropicBackend)


def anthropic_exchanges(server: ReplayServer, keys: list[str]) -> list[dict]:
    create, running, ended, results = recorded("anthropic_create_in_progress", "anthropic_retrieve_in_progress",
                                               "anthropic_retrieve_ended", "anthropic_results")
    ended["body"]["results_url"] = ended["body"]["results_url"].replace("https://api.anthropic.com", server.url)
    lines = results["body"].splitlines()
    results["body"] = "".join(line.replace(f'"question-{i}"', json.dumps(key)) + "\n"
                              for i, (line, key) in enumerate(zip(lines, keys)))
    # results() retrieves the batch once more to learn its results_url
    return [create, running, ended, ended, results]


@pytest.mark.slow
def test_anthropic_message_batch_lifecycle(tmp_path, anthropic_backend):
    with ReplayServer() as server:
        backend = anthropic_backend(server)
        planned = planned_requests(backend.spec, 4)
        keys = [p.key for p in planned]
        server.queue(*anthropic_exchanges(server, keys))
        store = Store(tmp_path / "s.sqlite")
        online, leftover, stats = run_session(store, backend, planned)
        sent = server.received[0]
    assert online == {} and leftover == {}
    assert sent["method"] == "POST" and sent["path"] == "/v1/messages/batches"
    assert [r["custom_id"] for r in sent["body"]["requests"]] == keys

    # each line's params are the body online asking sends for the same request
    with ReplayServer(recorded("anthropic_retrieve_ended")[:0] or load_recorded(RECORDINGS_ROOT / "anthropic",
                                                                                "answer")) as online_server:
        online_backend = AnthropicBackend(backend.spec.model_copy(update={"base_url": online_server.url}))
        complete(online_backend, planned[0].request)
        online_body = online_server.received[0]["body"]
    assert sent["body"]["requests"][0]["params"] == online_body

    answers = stored(store)
    results = [json.loads(line) for line in recorded("anthropic_results")[0]["body"].splitlines()]
    for planned_request, result in zip(planned, results):
        text = result["result"]["message"]["content"][0]["text"]
        expected = decide_planned(planned_request, ProviderReply(answer_text=text, finish_reason="stop"))
        raw_text, status, value, _ = answers[planned_request.key]
        assert raw_text == text
        assert (value, status) == (expected.value, expected.status)
    batch = store.db.execute("SELECT remote_id, state, remote_status, n_requests FROM batches").fetchone()
    assert batch == ("msgbatch_01GgqTz9XzriGNHzTSGZsJJ8", "collected", "ended", 4)
    assert stats.asked == 4
    store.close()


def test_anthropic_failed_lines_go_back_to_the_plan():
    """errored / canceled / expired results (the documented shapes) are failures, not answers."""
    errored = anthropic_line({"custom_id": "k1", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "invalid_request_error", "message": "max_tokens: too large"}}}})
    expired = anthropic_line({"custom_id": "k2", "result": {"type": "expired"}})
    succeeded = anthropic_line({"custom_id": "k3", "result": {"type": "succeeded", "message": {
        "type": "message", "content": [{"type": "text", "text": "4"}], "stop_reason": "end_turn"}}})
    assert errored.error and "invalid_request_error" in errored.error and "too large" in errored.error
    assert expired.error == "batch line expired"
    assert succeeded.error is None and succeeded.body["content"][0]["text"] == "4"


# ---------------------------------------------------------------- Gemini

@pytest.fixture
def gemini_backend(monkeypatch):
    return batch_backend_maker(monkeypatch, "GEMINI_API_KEY", "AIza-FAKE", "gemini-2.5-flash", GeminiBackend)


@pytest.mark.slow
def test_gemini_batch_file_lifecycle_reads_real_result_lines(tmp_path, gemini_backend, shared_data):
    real_lines = (shared_data / "provider_exchanges" / "gemini_batch_file_results.jsonl").read_text().splitlines()
    with ReplayServer() as server:
        backend = gemini_backend(server)
        planned = planned_requests(backend.spec, len(real_lines))
        keys = [p.key for p in planned]
        start, finalize, create, running, succeeded = recorded(
            "gemini_upload_start", "gemini_upload_finalize", "gemini_create_pending", "gemini_get_running",
            "gemini_get_succeeded")
        start["headers"]["x-goog-upload-url"] = start["headers"]["x-goog-upload-url"].replace("{REPLAY_URL}",
                                                                                              server.url)
        records = [json.loads(line) for line in real_lines]
        body = "".join(line.replace(json.dumps(record["key"]), json.dumps(key)) + "\n"
                       for line, record, key in zip(real_lines, records, keys))
        download = {"status": 200, "headers": {"content-type": "application/octet-stream"}, "body": body}
        server.queue(start, finalize, create, running, succeeded, download)
        store = Store(tmp_path / "s.sqlite")
        online, leftover, stats = run_session(store, backend, planned)
        received = list(server.received)
    assert online == {} and leftover == {}
    uploaded = [json.loads(line) for line in received[1]["body"].splitlines()] if isinstance(
        received[1]["body"], str) else [received[1]["body"]]
    assert [line["key"] for line in uploaded] == keys
    assert ":batchGenerateContent" in received[2]["path"]
    assert received[2]["body"]["batch"]["inputConfig"] == {"fileName": "files/whosevalues-batch-input"}

    # each line's request is the body online asking sends (generateContent) for the same request
    with ReplayServer(load_recorded(RECORDINGS_ROOT / "gemini", "answer")) as online_server:
        online_backend = GeminiBackend(backend.spec.model_copy(update={"base_url": online_server.url}))
        complete(online_backend, planned[0].request)
        online_body = online_server.received[0]["body"]
    line, sent_online = camel_keys(uploaded[0]["request"]), camel_keys(online_body)  # the API reads either spelling
    assert line["contents"] == sent_online["contents"]
    assert line["generationConfig"] == sent_online["generationConfig"]
    # the SDK adds role "user" to the system instruction online, which the API ignores there
    assert line["systemInstruction"]["parts"] == sent_online["systemInstruction"]["parts"]
    assert set(line) == set(sent_online)

    answers = stored(store)
    for planned_request, record in zip(planned, records):
        response = record["response"]
        text = "".join(part["text"] for part in response["candidates"][0]["content"]["parts"])
        raw_text, status, value, output_tokens = answers[planned_request.key]
        assert raw_text == text  # the thoughts (thoughtsTokenCount) are not the answer
        assert output_tokens == response["usageMetadata"]["candidatesTokenCount"]
        expected = decide_planned(planned_request, ProviderReply(answer_text=text, finish_reason="stop"))
        assert (value, status) == (expected.value, expected.status)
    batch = store.db.execute("SELECT remote_id, state, remote_status FROM batches").fetchone()
    assert batch == ("batches/o08hk", "collected", "JOB_STATE_SUCCEEDED")
    store.close()


# ---------------------------------------------------------------- a batch created by a run killed before it knew

def record_lost_batch(store: Store, backend, planned, input_file_id: str | None = None):
    """What a run killed right after the provider created its batch leaves: the intent (and the upload)."""
    from whosevalues.elicit.batch import custom_id, records

    run_id = store.start_run("killed", "{}", "test")
    store.add_requests(planned, run_id)
    spec = backend.spec
    record = records.record_intent(store, provider=spec.provider, endpoint=spec.endpoint_key, model=spec.id,
                                   api_model=spec.api_model, keys=[p.key for p in planned],
                                   custom_ids=[custom_id(p.key) for p in planned], run_id=run_id, cost_usd=None,
                                   online_cost_usd=None)
    if input_file_id:
        records.record_upload(store, record.id, input_file_id)
    return record


@pytest.mark.slow
def test_anthropic_batch_whose_creation_reply_was_lost_is_found_not_sent_again(tmp_path, anthropic_backend):
    from datetime import datetime, timezone

    with ReplayServer() as server:
        backend = anthropic_backend(server)
        planned = planned_requests(backend.spec, 4)
        store = Store(tmp_path / "s.sqlite")
        record_lost_batch(store, backend, planned)
        _, running, ended, ended_again, results = anthropic_exchanges(server, [p.key for p in planned])
        listed = json.loads(json.dumps(running["body"]))
        # the recorded batch, as created just now (after the intent was recorded)
        listed["created_at"] = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
        listing = {"status": 200, "headers": {"content-type": "application/json"},
                   "body": {"data": [listed], "has_more": False, "first_id": listed["id"], "last_id": listed["id"]}}
        server.queue(listing, running, ended, ended_again, results)
        _, _, stats = run_session_resuming(store, backend, planned)
        sent = [(r["method"], r["path"].split("?")[0]) for r in server.received]
    assert ("POST", "/v1/messages/batches") not in sent  # found, not created again
    assert sent[0] == ("GET", "/v1/messages/batches")
    assert stats.asked == 4
    assert store.db.execute("SELECT remote_id, state FROM batches").fetchall() == [
        ("msgbatch_01GgqTz9XzriGNHzTSGZsJJ8", "collected")]
    store.close()


@pytest.mark.slow
def test_gemini_batch_whose_creation_reply_was_lost_is_found_by_its_display_name(tmp_path, gemini_backend,
                                                                                   shared_data):
    real_lines = (shared_data / "provider_exchanges" / "gemini_batch_file_results.jsonl").read_text().splitlines()
    with ReplayServer() as server:
        backend = gemini_backend(server)
        planned = planned_requests(backend.spec, len(real_lines))
        store = Store(tmp_path / "s.sqlite")
        record = record_lost_batch(store, backend, planned, input_file_id="files/whosevalues-batch-input")
        create, running, succeeded = recorded("gemini_create_pending", "gemini_get_running", "gemini_get_succeeded")
        create["body"]["metadata"]["displayName"] = record.label  # the batch carries the label it was given
        listing = {"status": 200, "headers": {"content-type": "application/json"},
                   "body": {"operations": [create["body"]]}}
        records_ = [json.loads(line) for line in real_lines]
        body = "".join(line.replace(json.dumps(r["key"]), json.dumps(p.key)) + "\n"
                       for line, r, p in zip(real_lines, records_, planned))
        download = {"status": 200, "headers": {"content-type": "application/octet-stream"}, "body": body}
        server.queue(listing, running, succeeded, download)
        _, _, stats = run_session_resuming(store, backend, planned)
        sent = [(r["method"], r["path"].split("?")[0]) for r in server.received]
    assert not any(path.endswith(":batchGenerateContent") for _, path in sent)  # found, not created again
    assert not any("upload" in path for _, path in sent)  # the recorded upload was not repeated
    assert stats.asked == len(real_lines)
    assert store.db.execute("SELECT remote_id, state FROM batches").fetchall() == [("batches/o08hk", "collected")]
    store.close()


def run_session_resuming(store: Store, backend, planned) -> tuple[dict, dict, RunStats]:
    """The rerun: same plan, nothing new to submit, the open batch brought to an end."""
    online, leftover, stats = run_session(store, backend, planned, label="rerun", add=False)
    assert online == {} and leftover == {}
    return online, leftover, stats


def test_a_batch_line_carries_extra_body_merged_as_online_asking_sends_it():
    """extra_body is an SDK keyword, not an API field: a line must carry its fields at the top level, as the SDK
    sends them online, and no "extra_body" key (a Qwen thinking switch once travelled as one, refused)."""
    from whosevalues.models.batch_anthropic import AnthropicBatchAdapter
    from whosevalues.models.batch_openai import OpenAIBatchAdapter
    from whosevalues.models.registry import create_backend
    from whosevalues.models.spec import ModelSpec

    spec = ModelSpec(id="qwen", provider="openai-compatible", api_model="qwen3-8b",
                     base_url="https://dashscope.aliyuncs.com/compatible-mode/v1", api_key_env="WV_TEST_KEY",
                     extra_body={"enable_thinking": False, "top_k": 5})
    study = Study(models=["gpt-4o"], surveys=["mfq2"], languages=["en"], personas=["none"], samples=1)
    request = plan_model(study, spec, "sample", study.instruments())[0].request
    openai_body = OpenAIBatchAdapter(create_backend(spec)).line("id-1", request)["body"]
    assert "extra_body" not in openai_body
    assert openai_body["enable_thinking"] is False and openai_body["top_k"] == 5
    assert openai_body["messages"][-1]["content"] == request.user

    claude = resolve_model("claude-3.5-sonnet").model_copy(update={"extra_body": {"top_k": 5},
                                                                   "api_key_env": "WV_TEST_KEY"})
    params = AnthropicBatchAdapter(create_backend(claude)).line("id-2", request)["params"]
    assert "extra_body" not in params and params["top_k"] == 5
