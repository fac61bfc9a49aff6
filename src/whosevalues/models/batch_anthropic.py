"""Anthropic's Message Batches API through the official ``anthropic`` SDK (``client.messages.batches``).

Each request is ``{"custom_id", "params"}`` with ``params`` the Messages body online asking sends. The
requests travel with the create call (no file). A batch's ``processing_status`` goes ``in_progress`` ->
``canceling`` -> ``ended`` (there is no "completed"); ``request_counts`` has five buckets (processing,
succeeded, errored, canceled, expired). Results (``batches.results``, JSONL) are ``{"custom_id",
"result": {"type": "succeeded", "message"} | {"type": "errored", "error"} | {"type": "canceled"} |
{"type": "expired"}}``; a succeeded ``message`` is read by the online backend's translation.

Message Batches carry no metadata, so a batch whose creation reply was lost (the run killed right then)
is recognised by what can be seen: created after the batch was recorded, with the same number of
requests, and not already known to the store. Limits (Anthropic's documentation): 100,000 requests or
256 MB per batch; results within 24 hours; 50% of the standard price.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from whosevalues.models.anthropic_backend import translate_message
from whosevalues.models.base import BackendError, ChatRequest, ProviderReply
from whosevalues.models.batch_base import BatchAdapter, LineResult, RemoteBatch, online_params

#: clock skew allowed between this machine and the provider when matching a lost batch
SKEW_SECONDS = 300


class AnthropicBatchAdapter(BatchAdapter):
    max_requests = 100_000
    max_bytes = 256 * 1000 * 1000
    uploads_file = False

    def params(self, request: ChatRequest) -> dict[str, Any]:
        """The Messages body online asking sends (``build_params``: thinking and temperature rules applied)."""
        return online_params(self.backend, request)

    def line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        return {"custom_id": custom_id, "params": self.params(request)}

    async def find(self, label: str, input_file_id: str | None, n_requests: int, not_after: float,
                   claimed: set[str]) -> RemoteBatch | None:
        async def search(client):
            candidates = []
            async for batch in client.messages.batches.list(limit=100):
                created = batch.created_at.timestamp()
                if created < not_after - SKEW_SECONDS:
                    break  # newest first: the rest are older than our record
                remote = _remote(batch)
                if remote.total == n_requests and remote.id not in claimed:
                    candidates.append(remote)
            return candidates[-1] if len(candidates) == 1 else None
        return await self._call("listing message batches", search)

    async def create(self, label: str, input_file_id: str | None, lines: list[dict[str, Any]]) -> RemoteBatch:
        return _remote(await self._call("creating the message batch",
                                        lambda c: c.messages.batches.create(requests=lines)))

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        return _remote(await self._call("polling the message batch",
                                        lambda c: c.messages.batches.retrieve(remote_id)))

    async def cancel(self, remote_id: str) -> RemoteBatch:
        return _remote(await self._call("cancelling the message batch",
                                        lambda c: c.messages.batches.cancel(remote_id)))

    async def results(self, remote: RemoteBatch) -> list[LineResult]:
        async def read(client):
            decoder = await client.messages.batches.results(remote.id)
            return [_line_result(item.model_dump(mode="json", exclude_unset=True)) async for item in decoder]
        return await self._call("downloading message batch results", read)

    def reply(self, result: LineResult, request: ChatRequest) -> ProviderReply:
        if not isinstance(result.body, dict):
            raise BackendError("batch result has no message", retryable=True, raw=result.raw)
        return translate_message(result.body, result.raw or json.dumps(result.body))


def _remote(batch: Any) -> RemoteBatch:
    counts = batch.request_counts
    buckets = {name: getattr(counts, name, 0) or 0
               for name in ("processing", "succeeded", "errored", "canceled", "expired")}
    created = batch.created_at.timestamp() if isinstance(batch.created_at, datetime) else None
    return RemoteBatch(id=batch.id, status=batch.processing_status, ended=batch.processing_status == "ended",
                       total=sum(buckets.values()), completed=buckets["succeeded"],
                       failed=buckets["errored"] + buckets["canceled"] + buckets["expired"], created_at=created,
                       results_ref={"results_url": batch.results_url})


def _line_result(record: dict[str, Any]) -> LineResult:
    custom_id = str(record.get("custom_id"))
    result = record.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        message = result.get("message")
        return LineResult(custom_id, body=message, raw=json.dumps(message), http_status=200)
    error = (result.get("error") or {}).get("error") or result.get("error") or {}
    detail = f"{error.get('type')}: {error.get('message')}" if isinstance(error, dict) and error else ""
    error_text = f"batch line {kind}" + (f" ({detail})" if detail else "")
    return LineResult(custom_id, raw=json.dumps(record), error=error_text)
