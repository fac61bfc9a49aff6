"""Gemini models through the official ``google-genai`` SDK (Gemini API, key from ``GEMINI_API_KEY``).

The system prompt goes in ``system_instruction``; ``max_output_tokens`` and ``temperature`` as asked.
The SDK's retries are off (one attempt; ``elicit.limits`` retries). A 429 RESOURCE_EXHAUSTED carries its
wait in a ``google.rpc.RetryInfo`` detail (``"retryDelay": "37s"``), which we honour like Retry-After.

Gemini 2.5 models think by default, and thinking tokens count against ``max_output_tokens``: with the
paper's ``max_tokens`` of 10 they would return no text at all. So thinking is off
(``thinking_budget = 0``) unless the model's ``extra_body`` sets ``thinking_config`` itself. ``extra_body``
keys are ``GenerateContentConfig`` fields.

Distribution mode: ``response_logprobs=True, logprobs=20``; the top candidates per generated position
are read exactly like OpenAI's ``top_logprobs`` (see ``openai_compatible``).
Blocked prompts (``prompt_feedback.block_reason``) and SAFETY-like finish reasons become Completions with
empty text and finish_reason ``content_filter``.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from whosevalues.models.base import BackendError, ChatRequest, Completion, ConfigurationError
from whosevalues.models.openai_compatible import TOP_LOGPROBS, distribution_from_positions
from whosevalues.models.remote import RemoteBackend, is_retryable_status, parse_retry_after, redact
from whosevalues.models.spec import ModelSpec

_FILTER_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY",
                   "MODEL_ARMOR", "JAILBREAK", "OTHER_BLOCKED"}
_DURATION = re.compile(r"^\s*([\d.]+)s\s*$")


class GeminiBackend(RemoteBackend):
    name = "gemini"
    default_concurrency = 32
    sdk_module = "google.genai"
    extra_name = "gemini"
    default_key_env = "GEMINI_API_KEY"
    api_model_example = "gemini-..."

    def _make_client(self, api_key: str) -> Any:
        types = self.sdk("google.genai.types")
        options = types.HttpOptions(base_url=self.spec.base_url, timeout=int(self.spec.timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        return self.sdk().Client(api_key=api_key, http_options=options)

    def _config(self, request: ChatRequest | None, *, max_tokens: int, logprobs: int | None) -> Any:
        types = self.sdk("google.genai.types")
        fields: dict[str, Any] = {"max_output_tokens": max_tokens}
        if request is not None:
            fields["system_instruction"] = request.system
            fields["seed"] = request.seed
            if request.temperature is not None:
                fields["temperature"] = request.temperature
        if logprobs is not None:
            fields["response_logprobs"] = True
            fields["logprobs"] = logprobs
        if (self.spec.api_model or "").startswith("gemini-2.5") and "thinking_config" not in self.spec.extra_body:
            fields["thinking_config"] = types.ThinkingConfig(thinking_budget=0)
        fields.update(self.spec.extra_body)
        try:
            return types.GenerateContentConfig(**fields)
        except Exception as exc:  # pydantic: an extra_body key the SDK does not know
            raise ConfigurationError(f"model {self.spec.id!r}: extra_body is not a valid Gemini "
                                     f"GenerateContentConfig ({str(exc).splitlines()[0]})") from None

    async def _generate(self, contents: str, config: Any) -> tuple[Any, str]:
        errors = self.sdk("google.genai.errors")
        key = self._key()
        client = self.client()
        try:
            response = await client.aio.models.generate_content(model=self.spec.api_model,
                                                                      contents=contents, config=config)
        except errors.APIError as exc:
            raise _api_error(exc, key, self.spec) from None
        except ValueError as exc:  # the SDK could not decode the body
            raise BackendError(redact(f"malformed response: {exc}", key) or "", retryable=True,
                               status=200) from None
        except Exception as exc:
            # the SDK raises its HTTP library's own errors for timeouts and dropped connections
            raise (self._timed_out() if "Timeout" in type(exc).__name__
                   else self._connection_error(exc, key)) from None
        return response, redact(_raw_body(response), key) or ""

    async def complete(self, request: ChatRequest) -> Completion:
        distribution = request.mode == "distribution"
        config = self._config(request, max_tokens=2 if distribution else request.max_tokens,
                              logprobs=TOP_LOGPROBS if distribution else None)
        response, raw = await self._generate(request.user, config)
        return _completion(response, raw, request)

    async def _probe_distribution(self) -> bool:
        """A one-token request asking for 5 top candidates."""
        response, _ = await self._generate("Reply with one digit from 1 to 5.",
                                           self._config(None, max_tokens=1, logprobs=5))
        positions, _ = _positions(response)
        return bool(positions and positions[0])

    async def _close_client(self, client: Any) -> None:
        try:
            await client.aio.aclose()
        except Exception:  # older SDKs have no aclose; nothing to release then
            pass


def _raw_body(response: Any) -> str:
    http = getattr(response, "sdk_http_response", None)
    if http is not None and getattr(http, "body", None):
        return http.body
    # the SDK keeps no body: re-serialise its parse under the API's field names
    return response.model_dump_json(exclude_none=True, by_alias=True, exclude={"sdk_http_response"})


def _completion(response: Any, raw: str, request: ChatRequest) -> Completion:
    usage = response.usage_metadata
    completion = Completion(raw=raw, input_tokens=getattr(usage, "prompt_token_count", None),
                            output_tokens=getattr(usage, "candidates_token_count", None))
    candidates = response.candidates or []
    feedback = response.prompt_feedback
    if not candidates:
        if feedback is not None and feedback.block_reason:
            completion.text, completion.finish_reason = "", "content_filter"
            completion.extra["block_reason"] = str(_enum_name(feedback.block_reason))
            return completion
        raise BackendError("response has no candidates", retryable=True, status=200, raw=raw)
    candidate = candidates[0]
    reason = _enum_name(candidate.finish_reason)
    parts = (candidate.content.parts if candidate.content and candidate.content.parts else [])
    text = "".join(part.text for part in parts if getattr(part, "text", None) and not getattr(part, "thought", False))
    if reason in _FILTER_REASONS:
        completion.text, completion.finish_reason = "", "content_filter"
        completion.extra["gemini_finish_reason"] = reason
        return completion
    completion.text = text
    completion.finish_reason = {"STOP": "stop", "MAX_TOKENS": "length"}.get(reason or "", (reason or "").lower())
    if request.mode == "distribution":
        positions, chosen = _positions(response)
        dist, valid, extra = distribution_from_positions(positions, chosen, request.scale_min, request.scale_max)
        completion.distribution, completion.valid_mass = dist, valid
        completion.extra.update(extra)
    return completion


def _positions(response: Any) -> tuple[list[dict[str, float]], list[str]]:
    candidates = response.candidates or []
    result = candidates[0].logprobs_result if candidates else None
    if result is None or not result.top_candidates:
        return [], []
    positions: list[dict[str, float]] = []
    for step in result.top_candidates:
        tops: dict[str, float] = {}
        for candidate in step.candidates or []:
            if candidate.token is None or candidate.log_probability is None:
                continue
            tops[candidate.token] = tops.get(candidate.token, 0.0) + math.exp(candidate.log_probability)
        positions.append(tops)
    chosen = [c.token or "" for c in (result.chosen_candidates or [])]
    return positions, chosen


def _enum_name(value: Any) -> str | None:
    if value is None:
        return None
    return getattr(value, "name", None) or str(value)


def _api_error(exc: Any, key: str, spec: ModelSpec) -> BackendError:
    status = exc.code
    details = exc.details if isinstance(exc.details, dict) else {}
    raw = redact(json.dumps(details) if details else None, key)
    response = getattr(exc, "response", None)
    retry_after = parse_retry_after(dict(response.headers)) if response is not None and hasattr(response, "headers") else None
    if retry_after is None:
        retry_after = _retry_delay(details)
    message = redact(f"{exc.status or 'error'}: {exc.message}", key) or ""
    if status in (401, 403) or "api key" in message.lower():
        message = f"HTTP {status}: check {spec.api_key_env or 'GEMINI_API_KEY'} (the key was rejected): {message}"
    elif status == 404:
        message = f"HTTP 404: Gemini does not know model {spec.api_model!r}: {message}"
    else:
        message = f"HTTP {status}: {message}"
    return BackendError(message, retryable=is_retryable_status(status), retry_after=retry_after, status=status,
                        raw=raw)


def _retry_delay(details: dict) -> float | None:
    """The wait in a google.rpc.RetryInfo detail, e.g. ``{"retryDelay": "37s"}``."""
    error = details.get("error", details)
    for detail in (error.get("details") or []) if isinstance(error, dict) else []:
        if isinstance(detail, dict) and "retryDelay" in detail:
            match = _DURATION.match(str(detail["retryDelay"]))
            if match:
                return float(match.group(1))
    return None
