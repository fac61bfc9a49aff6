"""Gemini API batch mode through the official ``google-genai`` SDK (``client.batches``, ``client.files``).

The requests go up as a JSONL file (``{"key", "request"}`` per line, the request being the REST body of
``generateContent`` that online asking sends: the backend's ``build_params``). The file's display name and
the batch's ``display_name`` are the
batch label, so a run killed before recording either finds them again. States: ``JOB_STATE_PENDING`` ->
``RUNNING`` -> ``SUCCEEDED`` | ``FAILED`` | ``CANCELLED`` | ``EXPIRED``. Results: a JSONL file
(``dest.file_name``) of ``{"key", "response"}`` lines (REST JSON, camelCase, any key order) or
``{"key", "error"}``; a response is read by the online backend's translation. The Gemini API reports no
per-line progress while a batch runs: the bar shows the state until it ends.
Limits (Gemini's documentation): input files up to 2 GB; 50% of the standard price.
"""

from __future__ import annotations

import io
import json
from typing import Any

from whosevalues.models.base import BackendError, ChatRequest, ProviderReply
from whosevalues.models.batch_base import BatchAdapter, LineResult, RemoteBatch, online_params
from whosevalues.models.gemini_backend import translate_generate_content
from whosevalues.models.remote import is_retryable_status, redact

ENDED = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED", "JOB_STATE_EXPIRED")


class GeminiBatchAdapter(BatchAdapter):
    max_requests = 1_000_000  # no documented count limit; the file size is what binds
    max_bytes = 2 * 1000 * 1000 * 1000

    # -- lines

    def request_body(self, request: ChatRequest) -> dict[str, Any]:
        """The REST ``generateContent`` body online asking sends (``build_params``, camelCase)."""
        return online_params(self.backend, request)

    def line(self, custom_id: str, request: ChatRequest) -> dict[str, Any]:
        return {"key": custom_id, "request": self.request_body(request)}

    # -- calls

    async def _call(self, what: str, factory):
        errors = self.backend.sdk("google.genai.errors")
        key = self.backend._key()
        try:
            return await factory(self.backend.client().aio)
        except errors.APIError as exc:
            raise BackendError(redact(f"{what}: HTTP {exc.code}: {exc.message}", key) or what,
                               retryable=is_retryable_status(exc.code), status=exc.code) from None
        except (ValueError, TypeError):
            raise
        except Exception as exc:  # the HTTP library's own timeouts and dropped connections
            raise BackendError(redact(f"{what}: {type(exc).__name__}: {exc}", key) or what, retryable=True) from None

    async def upload(self, label: str, lines: list[dict[str, Any]]) -> str:
        types = self.backend.sdk("google.genai.types")
        data = "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines).encode()
        config = types.UploadFileConfig(display_name=label, mime_type="jsonl")
        file = await self._call("uploading the batch file",
                                lambda aio: aio.files.upload(file=io.BytesIO(data), config=config))
        return file.name

    async def find_upload(self, label: str) -> str | None:
        async def search(aio):
            async for file in await aio.files.list(config={"page_size": 100}):
                if file.display_name == label:
                    return file.name
            return None
        return await self._call("listing files", search)

    async def find(self, label: str, input_file_id: str | None, n_requests: int, not_after: float,
                   claimed: set[str]) -> RemoteBatch | None:
        async def search(aio):
            async for job in await aio.batches.list(config={"page_size": 100}):
                if job.display_name == label:
                    return _remote(job, n_requests)
            return None
        return await self._call("listing batches", search)

    async def create(self, label: str, input_file_id: str | None, lines: list[dict[str, Any]]) -> RemoteBatch:
        job = await self._call("creating the batch", lambda aio: aio.batches.create(
            model=self.spec.api_model, src=input_file_id, config={"display_name": label}))
        return _remote(job, len(lines))

    async def retrieve(self, remote_id: str) -> RemoteBatch:
        return _remote(await self._call("polling the batch", lambda aio: aio.batches.get(name=remote_id)))

    async def cancel(self, remote_id: str) -> RemoteBatch:
        await self._call("cancelling the batch", lambda aio: aio.batches.cancel(name=remote_id))
        return await self.retrieve(remote_id)

    async def results(self, remote: RemoteBatch) -> list[LineResult]:
        name = remote.results_ref.get("file_name")
        if not name:
            return [LineResult(str(item.get("key")), body=item.get("response"),
                               raw=json.dumps(item.get("response")), http_status=200)
                    for item in remote.results_ref.get("inlined") or []]
        data = await self._call("downloading batch results", lambda aio: aio.files.download(file=name))
        text = data.decode() if isinstance(data, bytes) else str(data)
        return [_line_result(json.loads(line)) for line in text.splitlines() if line.strip()]

    def reply(self, result: LineResult, request: ChatRequest) -> ProviderReply:
        if not isinstance(result.body, dict):
            raise BackendError("batch line has no response", retryable=True, raw=result.raw)
        return translate_generate_content(result.body, result.raw or json.dumps(result.body))


def _remote(job: Any, total: int | None = None) -> RemoteBatch:
    state = getattr(job.state, "name", None) or str(job.state)
    dest = job.dest
    inlined = []
    for item in (getattr(dest, "inlined_responses", None) or []):
        metadata = item.metadata or {}
        inlined.append({"key": metadata.get("key"),
                        "response": item.response.model_dump(mode="json", exclude_none=True, by_alias=True)
                        if item.response else None})
    created = job.create_time.timestamp() if job.create_time else None
    return RemoteBatch(id=job.name, status=state, ended=state in ENDED, total=total,
                       label=job.display_name, created_at=created,
                       results_ref={"file_name": getattr(dest, "file_name", None), "inlined": inlined,
                                    "errors": getattr(job.error, "message", None) if job.error else None})


def _line_result(record: dict[str, Any]) -> LineResult:
    custom_id = str(record.get("key"))
    if record.get("response") is not None:
        body = record["response"]
        return LineResult(custom_id, body=body, raw=json.dumps(body), http_status=200)
    error = record.get("error") or record.get("status") or {}
    message = error.get("message") if isinstance(error, dict) else str(error)
    return LineResult(custom_id, raw=json.dumps(record), error=f"batch line failed: {message or 'no response'}",
                      http_status=error.get("code") if isinstance(error, dict) else None)
