"""A loopback server implementing OpenAI's Files and Batch APIs (and chat completions), for tests.

What the real service does, in small: ``POST /v1/files`` (multipart, ``purpose=batch``) stores a JSONL
file; ``POST /v1/batches`` creates a batch over it (``validating``); the batch then moves to
``in_progress``, its ``request_counts.completed`` grows with time, then ``finalizing`` and ``completed``
after ``duration`` seconds, with an ``output_file_id`` (status 200 lines) and an ``error_file_id`` (lines
that failed: ``fail_rate`` of them, drawn per batch and line, so a line that failed once usually succeeds
when submitted again). ``GET /v1/batches`` lists batches newest first with ``after``/``limit`` paging,
``GET /v1/files`` lists files; ``POST /v1/batches/{id}/cancel`` cancels. Answers are the stub's
(``stub_openai.chat_completion``), with ``top_logprobs`` when a line asks for them, or a ``responder``'s
(e.g. ``stub_providers.respond``: models that reason, reject parameters or filter).

Tests can hold a request to kill the client at an exact step: ``hold("upload_after")`` stores the
uploaded file, then holds the reply; ``hold("create_before")`` holds ``POST /v1/batches`` and then drops
it without creating anything; ``hold("create_after")`` creates the batch, then holds the reply (the batch
exists but the client never hears of it). ``held`` is set while a request waits; ``release()`` lets go.
Everything the clients sent is kept (``uploads``, ``batches``, ``submitted_custom_ids``).
"""

from __future__ import annotations

import email.parser
import email.policy
import hashlib
import json
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

from whosevalues.testing._server import LoopbackServer, QuietHandler
from whosevalues.testing.stub_openai import chat_completion

LIVE = ("validating", "in_progress", "finalizing", "cancelling")


class _Dropped(Exception):
    """A held request the server drops without answering (the client was killed meanwhile)."""


@dataclass
class StubFile:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def object(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.content), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose, "status": "processed",
                "status_details": None}


@dataclass
class StubBatch:
    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict | None
    lines: list[dict]
    created: float
    duration: float
    status: str = "validating"
    cancelled: float | None = None
    output_file_id: str | None = None
    error_file_id: str | None = None
    stamps: dict[str, int] = field(default_factory=dict)


class _BatchHandler(QuietHandler):
    def do_GET(self) -> None:
        self.owner.dispatch(self, "GET")

    def do_POST(self) -> None:
        self.owner.dispatch(self, "POST")

    def do_DELETE(self) -> None:
        self.owner.dispatch(self, "DELETE")


class StubBatchServer(LoopbackServer):
    """``with StubBatchServer(duration=3, fail_rate=0.03) as server: server.base_url``."""

    handler = _BatchHandler

    def __init__(self, port: int = 0, *, duration: float = 3.0, fail_rate: float = 0.03, seed: int = 0,
                 validating: float = 0.3, responder: Callable[[dict, int], tuple[int, dict]] | None = None):
        super().__init__(port)
        #: (body, count) -> (status, response body); default: the stub's digit (``stub_openai``)
        self.responder = responder or (lambda body, count: (200, chat_completion(body, count)))
        self.duration = duration
        self.fail_rate = fail_rate
        self.seed = seed
        self.validating = validating
        self.files: dict[str, StubFile] = {}
        self.batches: dict[str, StubBatch] = {}
        self.uploads: list[str] = []  # file ids, in upload order
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self._lock = threading.RLock()
        self._holds: dict[str, threading.Event] = {}
        self.held = threading.Event()  # set while a request is being held
        self._counter = 0

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # -- test controls

    def hold(self, step: str) -> None:
        """Hold ``POST /v1/batches`` at ``create_before`` or ``create_after`` until ``release()``."""
        self._holds[step] = threading.Event()

    def release(self) -> None:
        for event in self._holds.values():
            event.set()
        self._holds.clear()

    def _wait_if_held(self, step: str) -> bool:
        event = self._holds.get(step)
        if event is None:
            return False
        self.held.set()
        event.wait(timeout=120)
        return True

    def submitted_custom_ids(self) -> list[list[str]]:
        """The custom_ids of every batch created, in creation order."""
        with self._lock:
            ordered = sorted(self.batches.values(), key=lambda b: b.created)
            return [[line["custom_id"] for line in batch.lines] for batch in ordered]

    def failed_custom_ids(self, batch_id: str) -> set[str]:
        """Lines of a batch that got no answer (failed, cancelled); for a batch not ended, those that will fail."""
        with self._lock:
            batch = self.batches[batch_id]
            if batch.status in ("completed", "cancelled"):
                answered = set()
                if batch.output_file_id:
                    answered = {json.loads(line)["custom_id"]
                                for line in self.files[batch.output_file_id].content.decode().splitlines()}
                return {line["custom_id"] for line in batch.lines} - answered
            return {line["custom_id"] for line in batch.lines if self._fails(batch, line)}

    # -- routing

    def dispatch(self, handler: QuietHandler, method: str) -> None:
        url = urlparse(handler.path)
        path = url.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        body = handler.read_body()
        with self._lock:
            self.requests.append((method, path))
        parts = path.split("/")[2:] if path.startswith("/v1/") else []
        try:
            if method == "POST" and parts == ["files"]:
                return handler.send_json(200, self._upload(handler.headers.get("Content-Type", ""), body))
            if method == "GET" and parts == ["files"]:
                return handler.send_json(200, self._list_files(query))
            if method == "GET" and len(parts) == 2 and parts[0] == "files":
                return handler.send_json(200, self._file(parts[1]).object())
            if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
                return handler.send_bytes(200, self._file(parts[1]).content, content_type="application/octet-stream")
            if method == "POST" and parts == ["batches"]:
                return handler.send_json(200, self._create(json.loads(body or b"{}")))
            if method == "GET" and parts == ["batches"]:
                return handler.send_json(200, self._list_batches(query))
            if method == "GET" and len(parts) == 2 and parts[0] == "batches":
                return handler.send_json(200, self._batch_object(self._batch(parts[1])))
            if method == "POST" and len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
                return handler.send_json(200, self._cancel(parts[1]))
            if method == "POST" and parts == ["chat", "completions"]:
                self._counter += 1
                return handler.send_json(*self.responder(json.loads(body or b"{}"), self._counter))
        except KeyError as exc:
            return handler.send_json(404, {"error": {"message": f"No such object: {exc.args[0]}",
                                                     "type": "invalid_request_error", "code": None}})
        except ValueError as exc:
            return handler.send_json(400, {"error": {"message": str(exc), "type": "invalid_request_error"}})
        except (BrokenPipeError, ConnectionResetError):
            return None
        except _Dropped:
            handler.close_connection = True
            return None
        handler.send_json(404, {"error": {"message": f"no route {method} {path}"}})

    # -- files

    def _new_file(self, filename: str, purpose: str, content: bytes) -> StubFile:
        stub = StubFile(f"file-{uuid.uuid4().hex[:24]}", filename, purpose, content, int(time.time()))
        self.files[stub.id] = stub
        return stub

    def _upload(self, content_type: str, body: bytes) -> dict[str, Any]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or "purpose" not in fields:
            raise ValueError("multipart body needs 'file' and 'purpose'")
        filename, content = fields["file"]
        purpose = fields["purpose"][1].decode()
        with self._lock:
            stub = self._new_file(filename or "upload.jsonl", purpose, content)
            self.uploads.append(stub.id)
        self._wait_if_held("upload_after")
        return stub.object()

    def _file(self, file_id: str) -> StubFile:
        with self._lock:
            return self.files[file_id]

    def _list_files(self, query: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            files = [f for f in self.files.values() if query.get("purpose") in (None, f.purpose)]
        files.sort(key=lambda f: f.created_at, reverse=True)
        return {"object": "list", "data": [f.object() for f in files], "has_more": False}

    # -- batches

    def _create(self, request: dict[str, Any]) -> dict[str, Any]:
        if self._wait_if_held("create_before"):
            raise _Dropped()
        source = self._file(request.get("input_file_id", ""))
        lines = [json.loads(line) for line in source.content.decode().splitlines() if line.strip()]
        custom_ids = [line.get("custom_id") for line in lines]
        if len(set(custom_ids)) != len(custom_ids) or None in custom_ids:
            raise ValueError("custom_id must be present and unique within a batch")
        if request.get("completion_window") != "24h":
            raise ValueError("completion_window must be 24h")
        with self._lock:
            batch = StubBatch(f"batch_{uuid.uuid4().hex[:24]}", source.id, request.get("endpoint", ""),
                              "24h", request.get("metadata"), lines, time.time(), self.duration)
            self.batches[batch.id] = batch
            payload = self._batch_object(batch)
        self._wait_if_held("create_after")
        return payload

    def _batch(self, batch_id: str) -> StubBatch:
        with self._lock:
            return self.batches[batch_id]

    def _cancel(self, batch_id: str) -> dict[str, Any]:
        with self._lock:
            batch = self._batch(batch_id)
            self._advance(batch)
            if batch.status in LIVE:
                batch.cancelled = time.time()
                batch.status = "cancelling"
                batch.stamps["cancelling_at"] = int(batch.cancelled)
            return self._batch_object(batch)

    def _list_batches(self, query: dict[str, str]) -> dict[str, Any]:
        with self._lock:
            ordered = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
            ids = [b.id for b in ordered]
            if "after" in query and query["after"] in ids:
                ordered = ordered[ids.index(query["after"]) + 1:]
            limit = int(query.get("limit") or 20)
            page = ordered[:limit]
            return {"object": "list", "data": [self._batch_object(b) for b in page],
                    "first_id": page[0].id if page else None, "last_id": page[-1].id if page else None,
                    "has_more": len(ordered) > limit}

    def _fails(self, batch: StubBatch, line: dict) -> bool:
        digest = hashlib.sha256(f"{self.seed}|{batch.id}|{line['custom_id']}".encode()).digest()
        return random.Random(digest).random() < self.fail_rate

    def _done_fraction(self, batch: StubBatch) -> float:
        start = batch.created + self.validating
        return min(max((time.time() - start) / max(batch.duration, 1e-9), 0.0), 1.0)

    def _advance(self, batch: StubBatch) -> None:
        """Move a batch along its lifecycle according to the clock."""
        now = time.time()
        if batch.status == "cancelling" and now - (batch.cancelled or now) > 0.5:
            self._finish(batch, "cancelled")
        if batch.status not in ("validating", "in_progress", "finalizing"):
            return
        if now - batch.created >= self.validating and batch.status == "validating":
            batch.status = "in_progress"
            batch.stamps["in_progress_at"] = int(now)
        if batch.status == "in_progress" and self._done_fraction(batch) >= 1.0:
            batch.status = "finalizing"
            batch.stamps["finalizing_at"] = int(now)
        if batch.status == "finalizing" and now - batch.created >= self.validating + batch.duration + 0.2:
            self._finish(batch, "completed")

    def _finish(self, batch: StubBatch, status: str) -> None:
        """Write the output and error files. A cancelled batch answers only the lines done before."""
        done = len(batch.lines) if status == "completed" else int(len(batch.lines) * self._done_fraction(batch))
        outputs: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        for index, line in enumerate(batch.lines):
            request_id = f"req_{uuid.uuid4().hex[:16]}"
            record: dict[str, Any] = {"id": f"batch_req_{uuid.uuid4().hex[:16]}", "custom_id": line["custom_id"]}
            if index >= done:
                record.update(response=None, error={"code": "batch_cancelled",
                                                   "message": "This request was cancelled."})
                errors.append(record)
            elif self._fails(batch, line):
                record.update(response={"status_code": 500, "request_id": request_id,
                                        "body": {"error": {"message": "The server had an error processing "
                                                           "your request.", "type": "server_error"}}},
                              error=None)
                errors.append(record)
            else:
                code, answer = self.responder(line.get("body") or {}, index)
                record.update(response={"status_code": code, "request_id": request_id, "body": answer},
                              error=None)
                (outputs if code == 200 else errors).append(record)
        if outputs:
            batch.output_file_id = self._new_file(f"{batch.id}_output.jsonl", "batch_output",
                                                  _jsonl(outputs)).id
        if errors:
            batch.error_file_id = self._new_file(f"{batch.id}_error.jsonl", "batch_output", _jsonl(errors)).id
        batch.status = status
        batch.stamps[f"{status}_at"] = int(time.time())

    def _batch_object(self, batch: StubBatch) -> dict[str, Any]:
        self._advance(batch)
        total = len(batch.lines)
        if batch.status in ("completed", "cancelled"):
            failed = sum(1 for line in batch.lines if self._fails(batch, line))
            completed = total - failed
        elif batch.status == "validating":
            completed = failed = 0
        else:
            completed = int(total * self._done_fraction(batch))
            failed = 0
        if batch.status == "cancelled":
            completed = min(completed, int(total * self._done_fraction(batch)))
            failed = total - completed
        stamps = {name: batch.stamps.get(name) for name in (
            "in_progress_at", "finalizing_at", "completed_at", "cancelling_at", "cancelled_at", "failed_at",
            "expired_at")}
        return {"id": batch.id, "object": "batch", "endpoint": batch.endpoint, "errors": None,
                "input_file_id": batch.input_file_id, "completion_window": batch.completion_window,
                "status": batch.status, "output_file_id": batch.output_file_id,
                "error_file_id": batch.error_file_id, "created_at": int(batch.created),
                "expires_at": int(batch.created) + 86400, **stamps, "metadata": batch.metadata,
                "request_counts": {"total": total, "completed": completed, "failed": failed}}


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(record) + "\n" for record in records).encode()


def main(argv: list[str] | None = None) -> None:  # pragma: no cover - a manual tool
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--fail-rate", type=float, default=0.03)
    args = parser.parse_args(argv)
    StubBatchServer(args.port, duration=args.duration, fail_rate=args.fail_rate).serve_until_interrupted()


if __name__ == "__main__":  # pragma: no cover
    main()
