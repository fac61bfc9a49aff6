"""OpenAI's Batch API (``/v1/files`` + ``/v1/batches``) through the official ``openai`` SDK.

Works for OpenAI and for any OpenAI-compatible endpoint that offers the same two resources. Each line is
``{"custom_id", "method": "POST", "url": "/v1/chat/completions", "body"}`` where ``body`` is exactly the
chat-completions body the online backend would send. The batch carries ``metadata.whosevalues_label``
and its file is named ``<label>.jsonl``, so a run killed before it recorded either finds them again.
Results: the output file (lines with ``response.status_code`` 200, whose ``response.body`` is read by
the online backend's translation) and the error file (expired, cancelled and failed lines).
Limits (OpenAI's documentation): 50,000 requests and 200 MB per input file; completion window 24h.
"""

from __future__ import annotations

import json
from typing import Any

from whosevalues.models.base import BackendError, ChatRequest, ProviderReply
from whosevalues.models.batch_base import BatchAdapter, LineResult, RemoteBatch, online_params
from whosevalues.models.openai_compatible import _is_content_filter
from whosevalues.models.openai_format import translate_chat_completion

ENDPOINT = "/v1/chat/completions"
ENDED = ("completed", "failed", "expired", "cancelled")
LABEL_KEY = "whosevalues_label"
#: batches looked at when searching for one whose creation reply was lost
FIND_SCAN_LIMIT = 2000


class OpenAIBatchAdapter(BatchAdapter):
    max_requests = 50_000
    max_bytes = 200 * 1024 * 1024

    # -- lines

    def body(self, request: ChatRequest) -> dict[str, Any]:
        """The online request body, with ``extra_body`` (an SDK keyword) merged in as the SDK would send it."""
        return online_params(self.backend, request)

    def line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": self.body(request)}

    async def upload(self, label: str, lines: list[dict[str, Any]]) -> str:
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        file = await self._call("uploading the batch file",
                                lambda c: c.files.create(file=(f"{label}.jsonl", data), purpose="batch"))
        return file.id

    async def find_upload(self, label: str) -> str | None:
        async def search(client):
            async for file in client.files.list(purpose="batch"):
                if file.filename == f"{label}.jsonl":
                    return file.id
            return None
        try:
            return await self._call("listing files", search)
        except BackendError as exc:
            if exc.status in (404, 405, 501):  # cannot list files: upload again (an unused file costs nothing)
                return None
            raise

    async def find(self, label: str, input_file_id: str | None, n_requests: int, not_after: float,
                   claimed: set[str]) -> RemoteBatch | None:
        async def search(client):
            scanned = 0
            async for batch in client.batches.list(limit=100):
                scanned += 1
                if scanned > FIND_SCAN_LIMIT:
                    return None
                if batch.created_at is not None and batch.created_at < not_after - 3600:
                    continue  # older than our record (whatever order the server lists in): not ours
                mine = (batch.metadata or {}).get(LABEL_KEY) == label
                if mine or (input_file_id is not None and batch.input_file_id == input_file_id):
                    return _remote(batch)
            return None
        try:
            return await self._call("listing batches", search)
        except BackendError as exc:
            if exc.status in (404, 405, 501):  # cannot list: nothing to find (the batch is created)
                return None
            raise

    async def create(self, label: str, input_file_id: str | None, lines: list[dict[str, Any]]) -> RemoteBatch:
        batch = await self._call("creating the batch", lambda c: c.batches.create(
            input_file_id=input_file_id, endpoint=ENDPOINT, completion_window="24h",
            metadata={LABEL_KEY: label}))
        return _remote(batch)

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        return _remote(await self._call("polling the batch", lambda c: c.batches.retrieve(remote_id)))

    async def cancel(self, remote_id: str) -> RemoteBatch:
        return _remote(await self._call("cancelling the batch", lambda c: c.batches.cancel(remote_id)))

    async def results(self, remote: RemoteBatch) -> list[LineResult]:
        results: list[LineResult] = []
        for file_id in (remote.results_ref.get("output_file_id"), remote.results_ref.get("error_file_id")):
            if not file_id:
                continue
            content = await self._call("downloading batch results", lambda c, f=file_id: c.files.content(f))
            text = content.text
            for line in text.splitlines():
                if line.strip():
                    results.append(_line_result(json.loads(line)))
        return results

    def reply(self, result: LineResult, request: ChatRequest) -> ProviderReply:
        raw = result.raw or json.dumps(result.body)
        if result.http_status == 400:  # the provider's moderation: an answer (a refusal), as online
            return ProviderReply(answer_text="", finish_reason="content_filter", raw=raw,
                                 refusal_reason=_filter_message(result.body), http_status=400)
        if not isinstance(result.body, dict):
            raise BackendError("batch line has no response body", retryable=True, raw=result.raw)
        return translate_chat_completion(result.body, raw, 200)


def _filter_message(body: Any) -> str | None:
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("message")) if isinstance(error, dict) and error.get("message") else None


def _remote(batch: Any) -> RemoteBatch:
    counts = batch.request_counts
    return RemoteBatch(
        id=batch.id, status=batch.status, ended=batch.status in ENDED,
        total=counts.total if counts else None, completed=counts.completed if counts else 0,
        failed=counts.failed if counts else 0, input_file_id=batch.input_file_id,
        label=(batch.metadata or {}).get(LABEL_KEY), created_at=batch.created_at,
        results_ref={"output_file_id": batch.output_file_id, "error_file_id": batch.error_file_id,
                     "errors": _errors_text(batch)})


def _errors_text(batch: Any) -> str | None:
    errors = getattr(batch, "errors", None)
    data = getattr(errors, "data", None) or []
    return "; ".join(f"{e.code}: {e.message}" for e in data if e) or None


def _line_result(record: dict[str, Any]) -> LineResult:
    custom_id = str(record.get("custom_id"))
    response = record.get("response") or {}
    error = record.get("error")
    status = response.get("status_code")
    body = response.get("body")
    raw = json.dumps(body) if body is not None else json.dumps(record)
    if status == 200 and not error:
        return LineResult(custom_id, body=body, raw=raw, http_status=200)
    if status == 400 and _is_content_filter(raw):
        return LineResult(custom_id, body=body, raw=raw, http_status=400)
    if error:
        message = f"{error.get('code') or 'error'}: {error.get('message') or ''}".strip()
    else:
        inner = (body or {}).get("error") if isinstance(body, dict) else None
        said = inner.get("message") if isinstance(inner, dict) else None  # an error object may lack one
        message = f"HTTP {status}: " + (str(said) if said is not None else str(body))
    return LineResult(custom_id, body=body, raw=raw, error=f"batch line failed: {message}", http_status=status)
