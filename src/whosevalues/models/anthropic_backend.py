"""Claude models through the official ``anthropic`` SDK (Messages API).

The system prompt goes in ``system``, the survey item is the one user turn. The SDK's retries are off
(``elicit.limits`` retries); 429 and 529 (overloaded) are retryable and their ``retry-after`` honoured.
A ``stop_reason`` of ``refusal`` becomes a Completion with empty text and finish_reason
``content_filter``, stored and parsed as a refusal. The Messages API returns no token probabilities,
so distribution mode falls back to sampling for these models.
"""

from __future__ import annotations

import json
from typing import Any

from whosevalues.models.base import BackendError, ChatRequest, Completion
from whosevalues.models.remote import RemoteBackend, is_retryable_status, parse_retry_after, redact
from whosevalues.models.spec import ModelSpec


class AnthropicBackend(RemoteBackend):
    name = "anthropic"
    default_concurrency = 16
    sdk_module = "anthropic"
    extra_name = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    api_model_example = "claude-..."

    def _make_client(self, api_key: str) -> Any:
        return self.sdk().AsyncAnthropic(api_key=api_key, base_url=self.spec.base_url, max_retries=0,
                                         timeout=self.spec.timeout)

    async def supports_distribution(self) -> bool:
        return False  # the Messages API has no logprobs

    async def complete(self, request: ChatRequest) -> Completion:
        anthropic = self.sdk()
        key = self._key()
        params: dict[str, Any] = {"model": self.spec.api_model, "max_tokens": request.max_tokens,
                                  "system": request.system,
                                  "messages": [{"role": "user", "content": request.user}]}
        # temperature rides in extra_body: recent SDKs dropped the keyword while the API still takes it
        body = {"temperature": request.temperature} if request.temperature is not None else {}
        body.update(self.spec.extra_body)
        if body:
            params["extra_body"] = body
        try:
            response = await self.client().messages.with_raw_response.create(**params)
            raw = redact(response.http_response.text, key) or ""
        except anthropic.APIStatusError as exc:
            raise _status_error(exc, key, self.spec) from None
        except anthropic.APITimeoutError:
            raise self._timed_out() from None
        except anthropic.APIConnectionError as exc:
            raise self._connection_error(exc.__cause__ or exc, key) from None
        return _completion(raw)


def _completion(raw: str) -> Completion:
    try:
        body = json.loads(raw)
    except ValueError:
        raise BackendError(f"malformed JSON in the response ({len(raw)} bytes)", retryable=True, status=200,
                           raw=raw) from None
    if not isinstance(body, dict) or not isinstance(body.get("content"), list):
        raise BackendError("response has no content list", retryable=True, status=200, raw=raw)
    text = "".join(block.get("text", "") for block in body["content"]
                   if isinstance(block, dict) and block.get("type") == "text")
    stop = body.get("stop_reason")
    usage = body.get("usage") or {}
    completion = Completion(text=text, raw=raw, finish_reason=stop, input_tokens=usage.get("input_tokens"),
                            output_tokens=usage.get("output_tokens"))
    if stop == "refusal":
        completion.text, completion.finish_reason = "", "content_filter"
        completion.extra["refusal_text"] = text
    elif not body["content"] and stop is None:
        raise BackendError("response has empty content and no stop_reason", retryable=True, status=200, raw=raw)
    return completion


def _status_error(exc: Any, key: str, spec: ModelSpec) -> BackendError:
    status = exc.status_code
    try:
        raw = exc.response.text
    except Exception:
        raw = None
    raw = redact(raw, key)
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    message = redact(f"{error.get('type', 'error')}: {error.get('message') or exc.message}", key) or ""
    if status == 401:
        message = f"HTTP 401 unauthorized: check {spec.api_key_env or 'ANTHROPIC_API_KEY'}: {message}"
    elif status == 404:
        message = f"HTTP 404: Anthropic does not know model {spec.api_model!r}: {message}"
    else:
        message = f"HTTP {status}: {message}"
    return BackendError(message, retryable=is_retryable_status(status),
                        retry_after=parse_retry_after(exc.response.headers), status=status, raw=raw)
