"""Gemini models through the official ``google-genai`` SDK (Gemini API, key from ``GEMINI_API_KEY``).

The system prompt goes in ``system_instruction``; ``max_output_tokens``, ``temperature`` and ``seed`` as
asked; distribution mode adds ``response_logprobs`` and ``logprobs`` (top candidates per position). The
SDK's retries are off (``elicit.limits`` retries); errors are read by ``models.errors`` (a 429's wait comes
from its ``google.rpc.RetryInfo`` detail). ``extra_body`` keys are ``GenerateContentConfig`` fields.

The response is translated from the REST JSON (camelCase), the same JSON a Gemini batch result line holds
(:func:`translate_generate_content`). What comes back, as recorded (``data/provider_exchanges``): an HTTP
200 with no ``candidates`` and only ``promptFeedback.blockReason`` (the prompt was blocked); a candidate
whose ``content`` is ``{}``, missing, or ``{"role": "model"}`` with no ``parts`` (SAFETY / MODEL_ARMOR, or
MAX_TOKENS spent on hidden thinking); thought parts (``"thought": true``) beside the answer; thinking
tokens in ``usageMetadata.thoughtsTokenCount``, outside ``candidatesTokenCount``.

Thinking (``ModelSpec.thinking``); Gemini 2.5 and later think by default, and thinking tokens count against
``max_output_tokens`` (catalog.toml's header and notes give each model's documented levels):
- ``default``: nothing sent; the model thinks as Google configured it (dynamic thinking, or level medium).
- ``off``: 2.5 Flash / Flash-Lite ``thinking_budget=0``. 2.5 Pro cannot turn thinking off: its smallest
  budget, 128, is sent and the reply says so. Gemini 3 and later use ``thinking_level`` (``thinking_budget``
  is not accepted by 4) and no level turns thinking off: the lowest one (``minimal`` on Gemini 3 Flash,
  ``low`` elsewhere; 3.8 Flash dropped ``minimal``) is sent, and the reply says so.
- ``on``: 2.5 a ``thinking_budget`` (at least 1,024) with room above it for the answer; 3 and later
  ``thinking_level high``; both with ``include_thoughts`` so the thought summary is stored as reasoning.
"""

from __future__ import annotations

import json
import re
from typing import Any

from whosevalues.models.base import (
    BackendError,
    ChatRequest,
    ConfigurationError,
    FinishReason,
    ProviderReply,
    TokenPosition,
)
from whosevalues.models.errors import ProviderHTTPError, read_error, status_message
from whosevalues.models.remote import RemoteBackend, redact
from whosevalues.models.spec import ModelSpec

TOP_LOGPROBS = 20  # the Gemini API's largest ``logprobs``
MIN_THINKING_BUDGET = 1024
ANSWER_ROOM = 256
PRO_25_MIN_BUDGET = 128  # gemini-2.5-pro cannot turn thinking off; this is its smallest budget

_FINISH: dict[str, FinishReason] = {"STOP": "stop", "MAX_TOKENS": "length", "MALFORMED_FUNCTION_CALL": "error",
           "UNEXPECTED_TOOL_CALL": "error"}
_FILTER_REASONS = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "SPII", "RECITATION", "IMAGE_SAFETY",
                   "MODEL_ARMOR", "JAILBREAK", "OTHER_BLOCKED"}
_THINKS = re.compile(r"gemini-(2\.5|[3-9])")
# only Gemini 3 Flash had a "minimal" level (3.8 Flash dropped it; Pro and 4 start at "low")
_HAS_MINIMAL = re.compile(r"gemini-3-flash(?![.\d])")


# ---------------------------------------------------------------- translation (REST JSON, camelCase)

def translate_generate_content(body: Any, raw: str | None = None, http_status: int = 200) -> ProviderReply:
    """The normal form of one ``generateContent`` response body (or a batch line's ``response``)."""
    reply = ProviderReply(raw=raw, http_status=http_status)
    if not isinstance(body, dict):
        return _broken(reply, "the body is not a JSON object")
    reply.model_version = body.get("modelVersion") if isinstance(body.get("modelVersion"), str) else None
    if body.get("responseId"):
        reply.extra["response_id"] = body["responseId"]
    _read_usage(reply, body.get("usageMetadata"))
    if body.get("error"):
        error = read_error(None, None, None, body=body)
        reply.extra["error"] = error.message
        return _broken(reply, f"the provider sent an error: {error.message}")
    candidates = [c for c in body.get("candidates") or [] if isinstance(c, dict)]
    if not candidates:
        return _no_candidates(reply, body.get("promptFeedback"))
    candidate = next((c for c in candidates if c.get("index", 0) == 0), candidates[0])
    _read_candidate(reply, candidate)
    return reply


def _read_usage(reply: ProviderReply, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    reply.input_tokens = usage.get("promptTokenCount")
    reply.output_tokens = usage.get("candidatesTokenCount")
    reply.reasoning_tokens = usage.get("thoughtsTokenCount")
    reply.reasoned = bool(reply.reasoning_tokens)


def _no_candidates(reply: ProviderReply, feedback: Any) -> ProviderReply:
    """No candidate: a blocked prompt (a refusal with Google's reason) or a broken body (an error)."""
    reason = feedback.get("blockReason") if isinstance(feedback, dict) else None
    if not reason:
        return _broken(reply, "the response has no candidates")
    reply.finish_reason, reply.provider_finish_reason = "content_filter", reason
    detail = feedback.get("blockReasonMessage") or ", ".join(_blocked_categories(feedback.get("safetyRatings")))
    reply.refusal_reason = f"prompt blocked: {reason}" + (f" ({detail})" if detail else "")
    return reply


def _read_candidate(reply: ProviderReply, candidate: dict) -> None:
    content = candidate.get("content")
    content = content if isinstance(content, dict) else {}
    parts = [p for p in content.get("parts") or [] if isinstance(p, dict)]
    answer = [p["text"] for p in parts if isinstance(p.get("text"), str) and not p.get("thought")]
    thoughts = [p["text"] for p in parts if isinstance(p.get("text"), str) and p.get("thought")]
    reply.answer_text = "".join(answer) if parts else None  # no parts at all: no answer text was sent
    reply.reasoning_text = "\n".join(thoughts) if thoughts else None
    reply.reasoned = reply.reasoned or any(t.strip() for t in thoughts)
    finish = candidate.get("finishReason")
    reply.provider_finish_reason = finish if isinstance(finish, str) else None
    if finish in _FILTER_REASONS:
        reply.finish_reason = "content_filter"
        detail = candidate.get("finishMessage") or ", ".join(_blocked_categories(candidate.get("safetyRatings")))
        reply.refusal_reason = finish + (f" ({detail})" if detail else "")
    else:
        reply.finish_reason = _FINISH.get(finish or "", "other")
    reply.positions = read_positions(candidate.get("logprobsResult"))


def _blocked_categories(ratings: Any) -> list[str]:
    """The safety categories marked ``blocked``; else those rated above NEGLIGIBLE (a prompt block
    names none: the recorded one was blocked at a MEDIUM harassment rating)."""
    ratings = [r for r in ratings or [] if isinstance(r, dict)]
    chosen = [r for r in ratings if r.get("blocked")] or \
        [r for r in ratings if r.get("probability") not in (None, "NEGLIGIBLE", "HARM_PROBABILITY_UNSPECIFIED")]
    return [f"{r.get('category')} {r.get('probability')}".strip() for r in chosen]


def read_positions(result: Any) -> list[TokenPosition] | None:
    """Chosen token and top candidates per position; topCandidates is absent unless ``logprobs`` was set."""
    if not isinstance(result, dict) or not isinstance(result.get("chosenCandidates"), list):
        return None
    tops = result.get("topCandidates")
    tops = tops if isinstance(tops, list) else []
    positions = []
    for i, chosen in enumerate(result["chosenCandidates"]):
        chosen = chosen if isinstance(chosen, dict) else {}
        step = tops[i].get("candidates") if i < len(tops) and isinstance(tops[i], dict) else None
        top: dict[str, float] = {}
        for candidate in step or []:
            token, logprob = candidate.get("token"), candidate.get("logProbability")
            if isinstance(token, str) and isinstance(logprob, (int, float)):
                top.setdefault(token, float(logprob))
        logprob = chosen.get("logProbability")
        positions.append(TokenPosition(token=chosen.get("token") or "",
                                       logprob=float(logprob) if isinstance(logprob, (int, float)) else None,
                                       top=top))
    return positions


def _broken(reply: ProviderReply, problem: str) -> ProviderReply:
    reply.answer_text, reply.finish_reason = None, "error"
    reply.extra["problem"] = problem
    return reply


# ---------------------------------------------------------------- thinking control

def thinking_config(spec: ModelSpec, max_tokens: int) -> tuple[dict[str, Any] | None, int, list[str]]:
    """(thinking_config fields or None, max_output_tokens, notes on departures) for ``spec.thinking``: the
    catalog's ``thinking_switch`` where the model has one, else the generation rules below (the fallback)."""
    model = (spec.api_model or "").lower()
    switch = spec.thinking_switch.get(spec.thinking) if spec.thinking != "default" else None
    if switch is not None and "thinking_config" in switch.fields and "thinking_config" not in spec.extra_body:
        return dict(switch.fields["thinking_config"]), max_tokens, [f"{spec.id}: {switch.note}"] if switch.note else []
    if spec.thinking == "default" or not _THINKS.search(model) or "thinking_config" in spec.extra_body:
        return None, max_tokens, []
    generation_3 = not model.startswith("gemini-2.5")
    if spec.thinking == "off":
        if generation_3:
            level = "MINIMAL" if _HAS_MINIMAL.search(model) else "LOW"
            return ({"thinking_level": level}, max_tokens,
                    [f"{spec.id}: thinking cannot be turned off on this model; the lowest level, "
                     f"{level.lower()}, was used"])
        if "pro" in model:
            room = max(max_tokens, PRO_25_MIN_BUDGET + ANSWER_ROOM)
            return ({"thinking_budget": PRO_25_MIN_BUDGET}, room,
                    [f"{spec.id}: Gemini 2.5 Pro cannot turn thinking off; its smallest budget, "
                     f"{PRO_25_MIN_BUDGET} tokens, was used" +
                     (f" (max_output_tokens raised from {max_tokens} to {room})" if room > max_tokens else "")])
        return {"thinking_budget": 0}, max_tokens, []
    if generation_3:
        return {"thinking_level": "HIGH", "include_thoughts": True}, max_tokens, []
    budget = max(MIN_THINKING_BUDGET, min(max_tokens - ANSWER_ROOM, spec.reasoning_budget_cap))
    floor = budget + ANSWER_ROOM
    notes = [] if max_tokens >= floor else \
        [f"{spec.id}: thinking on needs room: max_output_tokens raised from {max_tokens} to {floor}"]
    return {"thinking_budget": budget, "include_thoughts": True}, max(max_tokens, floor), notes


# ---------------------------------------------------------------- the backend

class GeminiBackend(RemoteBackend):
    name = "gemini"
    default_concurrency = 32
    sdk_module = "google.genai"
    extra_name = "gemini"
    default_key_env = "GEMINI_API_KEY"
    api_model_example = "gemini-..."
    supported_adaptations = frozenset({"no_temperature", "no_logprobs", "no_seed", "fold_system"})
    batch_adapter = "whosevalues.models.batch_gemini:GeminiBatchAdapter"
    batch_price = 0.5  # Gemini API batch mode: 50% of the interactive price (Google's pricing page)

    def check(self, key: str | None, timeout: float) -> Any:
        from whosevalues.models.check import probe_gemini

        return probe_gemini(self.spec, key, timeout)

    def _make_client(self, api_key: str) -> Any:
        types = self.sdk("google.genai.types")
        options = types.HttpOptions(base_url=self.spec.base_url, timeout=int(self.spec.timeout * 1000),
                                    retry_options=types.HttpRetryOptions(attempts=1))
        return self.sdk().Client(api_key=api_key, http_options=options)

    # -- the request

    def _fields(self, request: ChatRequest | None, *, max_tokens: int,
                logprobs: int | None) -> tuple[dict[str, Any], list[str]]:
        """GenerateContentConfig fields (snake_case) and the notes on departures from the study.

        Parameter adaptations learned from 400s (``Backend.param_adaptations``) apply here."""
        adapted = self.param_adaptations
        thinking, max_tokens, notes = thinking_config(self.spec, max_tokens)
        fields: dict[str, Any] = {"max_output_tokens": max_tokens}
        if request is not None:
            if "fold_system" not in adapted:
                fields["system_instruction"] = request.system
            if "no_seed" not in adapted:
                fields["seed"] = request.seed
            if request.temperature is not None and "no_temperature" not in adapted:
                fields["temperature"] = request.temperature
        if logprobs is not None and "no_logprobs" not in adapted:
            fields["response_logprobs"] = True
            fields["logprobs"] = logprobs
        if thinking is not None:
            fields["thinking_config"] = thinking
        fields.update(self.spec.extra_body)
        return fields, notes

    def _request_fields(self, request: ChatRequest) -> tuple[dict[str, Any], list[str]]:
        logprobs = TOP_LOGPROBS if request.mode == "distribution" else None
        return self._fields(request, max_tokens=request.max_tokens, logprobs=logprobs)

    def _user_text(self, request: ChatRequest) -> str:
        """The user turn; with the system prompt at its start where the model takes no system instruction
        (Gemma on the Gemini API answers 400 "Developer instruction is not enabled")."""
        if "fold_system" in self.param_adaptations and request.system:
            return f"{request.system}\n\n{request.user}"
        return request.user

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        """The REST ``generateContent`` body for ``request`` (camelCase; a batch line's ``request``)."""
        fields, _ = self._request_fields(request)
        body: dict[str, Any] = {"contents": [{"role": "user", "parts": [{"text": self._user_text(request)}]}]}
        generation: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "system_instruction":
                body["systemInstruction"] = {"parts": [{"text": value}]}
            elif name in ("safety_settings", "tools", "tool_config", "cached_content"):
                body[_camel(name)] = _camel_keys(value)
            else:
                generation[_camel(name)] = _camel_keys(value)
        body["generationConfig"] = generation
        return body

    def departures(self, request: ChatRequest) -> list[str]:
        return self._request_fields(request)[1]

    def _config(self, fields: dict[str, Any]) -> Any:
        types = self.sdk("google.genai.types")
        fields = dict(fields)
        if isinstance(fields.get("thinking_config"), dict):  # as an SDK object, sent under the API's names
            fields["thinking_config"] = types.ThinkingConfig(**fields["thinking_config"])
        try:
            return types.GenerateContentConfig(**fields)
        except Exception as exc:  # pydantic: an extra_body key the SDK does not know
            raise ConfigurationError(f"model {self.spec.id!r}: extra_body is not a valid Gemini "
                                     f"GenerateContentConfig ({str(exc).splitlines()[0]})") from None

    async def _generate(self, contents: str, config: Any) -> tuple[Any, str, int]:
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
        return response, redact(_raw_body(response), key) or "", 200

    async def complete(self, request: ChatRequest) -> ProviderReply:
        fields, notes = self._request_fields(request)
        response, raw, status = await self._generate(self._user_text(request), self._config(fields))
        try:
            body = json.loads(raw)
        except ValueError:
            body = json.loads(_sdk_json(response))  # the SDK's own parse, under the API's field names
        reply = translate_generate_content(body, raw, status)
        if notes:
            reply.extra["adaptations"] = notes
        return reply

    async def _probe_distribution(self) -> bool:
        """A one-token request asking for 5 top candidates."""
        fields, _ = self._fields(None, max_tokens=1, logprobs=5)
        response, raw, _ = await self._generate("Reply with one digit from 1 to 5.", self._config(fields))
        try:
            body = json.loads(raw)
        except ValueError:
            return False
        positions = translate_generate_content(body, raw).positions
        return bool(positions and positions[0].top)

    async def _close_client(self, client: Any) -> None:
        try:
            await client.aio.aclose()
        except Exception:  # older SDKs have no aclose; nothing to release then
            pass


def _raw_body(response: Any) -> str:
    http = getattr(response, "sdk_http_response", None)
    if http is not None and getattr(http, "body", None):
        return http.body
    return _sdk_json(response)


def _sdk_json(response: Any) -> str:
    # the SDK keeps no body: re-serialise its parse under the API's field names (camelCase)
    return response.model_dump_json(exclude_none=True, by_alias=True, exclude={"sdk_http_response"})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _camel_keys(value: Any) -> Any:
    if isinstance(value, dict):
        return {_camel(k): _camel_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_camel_keys(v) for v in value]
    if hasattr(value, "model_dump"):  # an SDK object given in extra_body
        return _camel_keys(value.model_dump(exclude_none=True))
    return value


def _api_error(exc: Any, key: str, spec: ModelSpec) -> BackendError:
    status = exc.code
    details = exc.details if isinstance(exc.details, (dict, list)) else None
    raw = redact(json.dumps(details) if details else None, key)
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) if response is not None else None
    error = read_error(status, None, headers, body=details)
    if not details:
        error.message = exc.message or error.message
    message = redact(f"{exc.status or error.code or 'error'}: {error.message}", key) or ""
    # Gemini answers a bad key with 400 or 403 as well as 401; its message names the API key
    message = status_message(status, message, key_env=spec.api_key_env or "GEMINI_API_KEY",
                             not_found=f"Gemini does not know model {spec.api_model!r}",
                             key_rejected=status == 403 or "api key" in message.lower())
    return ProviderHTTPError(message, error, raw=raw)
