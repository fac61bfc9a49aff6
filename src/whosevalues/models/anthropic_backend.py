"""Claude models through the official ``anthropic`` SDK (Messages API).

The system prompt goes in ``system``, the survey item is the one user turn. The SDK's retries are off
(``elicit.limits`` retries); errors are read by ``models.errors`` (429 and 529 retryable, their waits
honoured). The Messages API returns no token probabilities, so distribution mode samples instead.

What comes back, as recorded (``data/provider_exchanges``): ``content`` is a list of blocks, and the
answer is not ``content[0]``: a ``thinking`` block (text + signature) or a ``redacted_thinking`` block
(opaque ``data``) comes first when thinking is on, and Opus 4.6 with adaptive thinking even starts with a
whitespace-only text block. Thinking tokens are folded into ``usage.output_tokens`` (no separate count).
``stop_reason`` ``refusal`` is the model declining, ``max_tokens`` the budget running out.

Thinking (``ModelSpec.thinking``), per model generation (Anthropic's model pages; catalog.toml header):
- Claude 4.5 and earlier: no thinking by default. ``on`` sends ``{"type": "enabled", "budget_tokens": B}``
  with B at least 1,024 (the API's minimum) and ``max_tokens`` above B.
- Claude 4.6 to 4.8: no thinking by default; ``on`` sends ``{"type": "adaptive"}`` (budget_tokens is
  deprecated there, and Opus 4.7 accepts nothing else), with ``max_tokens`` at least 1,280.
- Claude 5 and later: adaptive thinking is on by default. ``off``: Sonnet turns upfront thinking off only
  with ``{"type": "between_tools"}``; Opus cannot turn it off, and Haiku documents no way to: thinking stays
  on and the reply says so.
Whenever thinking is on, Anthropic accepts only the default temperature (1), and Sonnet 5+ and Opus 5.5
reject any non-default sampling: a study temperature other than 1 is not sent, and the reply says so.
"""

from __future__ import annotations

import json
import re
from typing import Any

from whosevalues.models.base import BackendError, ChatRequest, FinishReason, ProviderReply
from whosevalues.models.errors import ProviderHTTPError, read_error, status_message
from whosevalues.models.remote import RemoteBackend, redact
from whosevalues.models.spec import ModelSpec

#: the smallest thinking budget the API accepts
MIN_THINKING_BUDGET = 1024
#: tokens left for the visible answer above the thinking budget
ANSWER_ROOM = 256
# Opus / Sonnet 4.6 to 4.8 can think adaptively (budget_tokens deprecated there, refused by Opus 4.7)
_ADAPTIVE = re.compile(r"claude-(opus|sonnet|haiku)-4-[6-9]|mythos")
# Claude 5 and later think adaptively by default
_THINKS_BY_DEFAULT = re.compile(r"claude-(opus|sonnet|haiku)-([5-9]|\d\d)")
_STOP: dict[str, FinishReason] = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length",
         "model_context_window_exceeded": "length", "refusal": "refusal", "tool_use": "other",
         "pause_turn": "other"}


def translate_message(body: Any, raw: str | None = None, http_status: int = 200) -> ProviderReply:
    """The normal form of one Messages API body (also an Anthropic batch result's ``message``)."""
    reply = ProviderReply(raw=raw, http_status=http_status)
    if not isinstance(body, dict):
        return _broken(reply, "the body is not a JSON object")
    reply.model_version = body.get("model") if isinstance(body.get("model"), str) else None
    usage = body.get("usage")
    usage = usage if isinstance(usage, dict) else {}
    reply.input_tokens, reply.output_tokens = usage.get("input_tokens"), usage.get("output_tokens")
    if body.get("type") == "error":  # an error event inside a 200 (streams end this way when overloaded)
        error = read_error(None, None, None, body=body)
        reply.extra["error"] = error.message
        return _broken(reply, f"the provider sent an error: {error.message}")
    blocks = body.get("content")
    if not isinstance(blocks, list):
        return _broken(reply, "the response has no content list")
    _read_blocks(reply, [block for block in blocks if isinstance(block, dict)])
    stop = body.get("stop_reason")
    reply.provider_finish_reason = stop if isinstance(stop, str) else None
    reply.finish_reason = _STOP.get(stop or "", "other")
    if stop == "refusal":
        reply.refusal_reason = (reply.answer_text or "").strip() or "refusal"
    if not blocks and stop is None:
        return _broken(reply, "the response has empty content and no stop_reason")
    return reply


def _read_blocks(reply: ProviderReply, blocks: list[dict]) -> None:
    texts = [block.get("text") for block in blocks if block.get("type") == "text"]
    # a whitespace-only text block (Opus 4.6 adaptive thinking puts one first) is not the answer
    answer = [text for text in texts if isinstance(text, str) and text.strip()]
    thoughts = [block["thinking"] for block in blocks
                if block.get("type") == "thinking" and isinstance(block.get("thinking"), str)]
    redacted = sum(1 for block in blocks if block.get("type") == "redacted_thinking")
    reply.answer_text = "".join(answer) if answer or texts else ("" if blocks else None)
    reply.reasoning_text = "\n".join(thoughts) if thoughts else None
    if redacted:
        reply.extra["redacted_thinking_blocks"] = redacted
    reply.reasoned = bool(redacted) or any(text.strip() for text in thoughts)


def _broken(reply: ProviderReply, problem: str) -> ProviderReply:
    reply.answer_text, reply.finish_reason = None, "error"
    reply.extra["problem"] = problem
    return reply


def uses_adaptive_thinking(api_model: str | None) -> bool:
    """Whether the model thinks adaptively (``{"type": "adaptive"}``) rather than with a fixed budget."""
    model = (api_model or "").lower()
    return bool(_ADAPTIVE.search(model) or _THINKS_BY_DEFAULT.search(model))


def thinking_plan(spec: ModelSpec) -> tuple[dict[str, Any] | None, bool, list[str]]:
    """(the ``thinking`` parameter to send or None, whether the model will think, notes on departures)."""
    model = (spec.api_model or "").lower()
    own = spec.extra_body.get("thinking")
    if own is not None:  # the model's extra_body sets it: that wins (it is sent as given)
        return None, not (isinstance(own, dict) and own.get("type") == "disabled"), []
    if _THINKS_BY_DEFAULT.search(model):
        if spec.thinking == "on":
            return {"type": "adaptive"}, True, []
        if spec.thinking == "off":
            if "sonnet" in model:
                return {"type": "between_tools"}, True, [
                    f"{spec.id}: Sonnet turns thinking off only before tool calls (thinking between_tools); "
                    f"it may still think"]
            return None, True, [f"{spec.id}: thinking cannot be turned off on this model; it stays on"]
        return None, True, []
    if spec.thinking != "on":
        return None, False, []
    if uses_adaptive_thinking(model):
        return {"type": "adaptive"}, True, []
    return {"type": "enabled"}, True, []  # budget_tokens is set with max_tokens (_make_room)


class AnthropicBackend(RemoteBackend):
    name = "anthropic"
    default_concurrency = 16
    sdk_module = "anthropic"
    extra_name = "anthropic"
    default_key_env = "ANTHROPIC_API_KEY"
    api_model_example = "claude-..."
    supported_adaptations = frozenset({"no_temperature"})
    batch_adapter = "whosevalues.models.batch_anthropic:AnthropicBatchAdapter"
    batch_price = 0.5  # Message Batches: 50% of the standard price (Anthropic's pricing page)

    def check(self, key: str | None, timeout: float) -> Any:
        from whosevalues.models.check import probe_anthropic

        return probe_anthropic(self.spec, key, timeout)

    def _make_client(self, api_key: str) -> Any:
        return self.sdk().AsyncAnthropic(api_key=api_key, base_url=self.spec.base_url, max_retries=0,
                                         timeout=self.spec.timeout)

    async def supports_distribution(self) -> bool:
        return False  # the Messages API has no logprobs

    # -- the request

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        """The exact Messages API body for ``request`` (the batch helper sends the same)."""
        params, _ = self._params_and_notes(request)
        return params

    def departures(self, request: ChatRequest) -> list[str]:
        """How the request departs from the study's settings, in words for the run's notes."""
        return self._params_and_notes(request)[1]

    def _params_and_notes(self, request: ChatRequest) -> tuple[dict[str, Any], list[str]]:
        params: dict[str, Any] = {"model": self.spec.api_model, "max_tokens": request.max_tokens,
                                  "system": request.system,
                                  "messages": [{"role": "user", "content": request.user}]}
        thinking, thinks, notes = thinking_plan(self.spec)
        if thinking is not None:
            params["thinking"] = thinking
            notes += _make_room(params, self.spec, request.max_tokens)
        if request.temperature is not None and "no_temperature" not in self.param_adaptations:
            if thinks and request.temperature != 1:
                notes.append(f"{self.spec.id}: while the model thinks Anthropic accepts only the default "
                             f"temperature (1); the study's {request.temperature:g} was not applied")
            elif not thinks:
                params["temperature"] = request.temperature
        params.update(self.spec.extra_body)
        return params, notes

    async def complete(self, request: ChatRequest) -> ProviderReply:
        anthropic = self.sdk()
        key = self._key()
        params, notes = self._params_and_notes(request)
        # model, max_tokens, messages and system as keywords; the rest in extra_body, so that a field this
        # SDK version does not name (temperature was dropped from some) still reaches the API
        named = {name: params[name] for name in ("model", "max_tokens", "messages", "system")}
        rest = {name: value for name, value in params.items() if name not in named}
        try:
            response = await self.client().messages.with_raw_response.create(
                **named, **({"extra_body": rest} if rest else {}))
            raw = redact(response.http_response.text, key) or ""
        except anthropic.APIStatusError as exc:
            raise _status_error(exc, key, self.spec) from None
        except anthropic.APITimeoutError:
            raise self._timed_out() from None
        except anthropic.APIConnectionError as exc:
            raise self._connection_error(exc.__cause__ or exc, key) from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise BackendError(f"malformed JSON in the response ({len(raw)} bytes)", retryable=True,
                               status=200, raw=raw) from None
        reply = translate_message(body, raw, response.http_response.status_code)
        if notes:
            reply.extra["adaptations"] = notes
        return reply


def _make_room(params: dict[str, Any], spec: ModelSpec, max_tokens: int) -> list[str]:
    """Set the thinking budget and room for it in ``max_tokens`` when thinking is asked for."""
    thinking = params["thinking"]
    if thinking["type"] == "enabled":
        budget = max(MIN_THINKING_BUDGET, min(max_tokens - ANSWER_ROOM, spec.reasoning_budget_cap))
        thinking["budget_tokens"] = budget
        floor = budget + ANSWER_ROOM
    elif thinking["type"] == "adaptive":
        floor = MIN_THINKING_BUDGET + ANSWER_ROOM
    else:
        return []
    if max_tokens >= floor:
        return []
    params["max_tokens"] = floor
    return [f"{spec.id}: thinking on needs room: max_tokens raised from {max_tokens} to {floor}"]


def _status_error(exc: Any, key: str, spec: ModelSpec) -> BackendError:
    status = exc.status_code
    try:
        raw = exc.response.text
    except Exception:
        raw = None
    raw = redact(raw, key)
    error = read_error(status, raw, exc.response.headers, body=None if raw else exc.body)
    message = redact(f"{error.code or 'error'}: {error.message}", key) or ""
    message = status_message(status, message, key_env=spec.api_key_env or "ANTHROPIC_API_KEY",
                             not_found=f"Anthropic does not know model {spec.api_model!r}")
    return ProviderHTTPError(message, error, raw=raw)
