"""Read an HTTP error from any provider: what went wrong, which parameter, retry or not, and when.

Every error shape in ``data/provider_exchanges`` (see SOURCE.md there) is read here once, for all
backends:

- OpenAI ``{"error": {message, type, param, code}}`` (``code`` may be null; Together adds a top-level
  ``id``); Moonshot the same without ``code`` (and a 500 for a bad input); Zhipu ``{"error": {code:
  "1305", message: "<Chinese>"}}`` (a numeric string, no type, no rate-limit headers);
- OpenRouter: ``code`` is the integer status and the real cause is in ``error.metadata.raw``;
- Google ``{"error": {code: 400, message, status: "INVALID_ARGUMENT", details: [google.rpc...]}}``,
  array-wrapped (``[{"error": ...}]``) on Gemini's OpenAI-compatible endpoint, a ``RetryInfo`` detail
  giving the wait (``"retryDelay": "37s"``);
- Anthropic ``{"type": "error", "error": {type, message}, "request_id"}``;
- DashScope ``data_inspection_failed`` (compatible mode) / ``DataInspectionFailed`` (native, top-level
  ``code``), Zhipu ``1301``, Azure ``content_filter`` with ``innererror``: the provider's moderation,
  which is a refusal of the item rather than a broken request;
- FastAPI-style ``{"detail": ...}`` (DeepSeek once, many self-hosted servers) and plain-text bodies.

Headers: ``retry-after-ms``; ``Retry-After`` as seconds or an HTTP date; ``x-ratelimit-reset-*`` as Go
durations (OpenAI ``60ms``, ``1m30s``, ``6s``), plain seconds (Together) or epoch seconds;
``anthropic-ratelimit-*-reset`` as RFC 3339 timestamps. A wait is only reported on an error worth
retrying: Together sends ``Retry-After: 2`` with a permanent 422, and a client that obeyed it would loop.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from whosevalues.models.base import BackendError

#: statuses worth another attempt (409: lock contention, 529: Anthropic overloaded, every 5xx)
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})

# codes / types that mean "the provider's moderation refused this item"
_FILTER_CODES = {"content_filter", "data_inspection_failed", "datainspectionfailed", "1301",
                 "contentfilter", "content_policy_violation", "responsibleaipolicyviolation",
                 "content_policy", "safety"}
_FILTER_PHRASES = ("high risk", "inappropriate content", "content filter", "content management policy",
                   "content_filter", "safety system", "敏感", "不安全")
# an answer that waiting will not cure: the account is out of credit (OpenAI 429 insufficient_quota /
# billing_hard_limit_reached, Zhipu 1113, DashScope Arrearage; DeepSeek and OpenRouter answer 402)
_NO_CREDIT_CODES = {"insufficient_quota", "billing_hard_limit_reached", "1113", "arrearage",
                    "insufficient_balance", "insufficient_credits", "payment_required", "billing_not_active"}
_NO_CREDIT_PHRASES = re.compile(r"insufficient (account )?balance|credit balance is too low|insufficient credits|"
                                r"billing hard limit|account is not in good standing|overdue-payment",
                                re.IGNORECASE)
# Gemini's words for a quota of 0 (the model is not in the account's tier): "Quota exceeded for metric: ..., limit: 0"
_NO_QUOTA_AT_ALL = re.compile(r"quota exceeded for metric[^\n]*limit: 0\b", re.IGNORECASE)
# a key the provider does not accept, however it answers it (Gemini: HTTP 400 API_KEY_INVALID)
_BAD_KEY_CODES = {"invalid_api_key", "api_key_invalid", "invalid_authentication", "authentication_error",
                  "incorrect_api_key"}
_BAD_KEY_PHRASES = re.compile(r"api key not valid|invalid api[ _-]?key|incorrect api key|api key (was )?revoked",
                              re.IGNORECASE)
# a model the server does not have or the account may not use, however it answers it (some say 400)
_NO_MODEL_CODES = {"model_not_found", "model_not_available", "modelnotfound"}
#: reasons that concern the account or the model name, not the request: every further request to that model
#: would fail the same way (``elicit.account`` stops the model at the first one)
ACCOUNT_REASONS = frozenset({"no_credit", "unauthorized", "forbidden", "not_found"})
# a 5xx whose message says the input was bad (Moonshot: "unsupported image url", HTTP 500)
_BAD_INPUT_5XX = re.compile(r"\bunsupported\b|\binvalid (request|parameter|argument|input|value)|"
                            r"\bnot supported\b|\bmust not be\b|\bmust be\b", re.IGNORECASE)

# parameters a provider may reject, most specific first (max_completion_tokens before max_tokens)
KNOWN_PARAMS = ("max_completion_tokens", "max_output_tokens", "max_tokens", "top_logprobs", "logprobs",
                "temperature", "top_p", "seed", "reasoning_effort", "stop", "n")
_PARAM_WORD = {name: re.compile(rf"(?<![\w.]){re.escape(name)}(?![\w])", re.IGNORECASE) for name in KNOWN_PARAMS}
_ROLE_REJECTED = re.compile(r"'(system|developer)'|\b(system|developer)\b[^.]*\b(role|message|prompt|instruction)s?\b|"
                            r"\brole\b[^.]*\b(system|developer)\b", re.IGNORECASE)
# a model that answers only when streamed (DashScope QwQ: "This model only support stream mode"; Qwen3 thinking:
# "parameter.enable_thinking must be set to false for non-streaming calls")
_NEEDS_STREAM = re.compile(r"only supports? stream|for non-stream(ing)? calls|requires? stream(ing)?\b|"
                           r"must be streamed|stream must be (set to )?true", re.IGNORECASE)
_TRY_AGAIN = re.compile(r"try again in ([\d.]+\s*(?:ms|s|m|h)(?:[\d.]+\s*(?:ms|s))?)", re.IGNORECASE)
_DURATION_PART = re.compile(r"([\d.]+)(ms|us|µs|ns|h|m|s)")


@dataclass
class ProviderError:
    """One provider error, read.

    - ``message``: the provider's own words (OpenRouter's upstream cause appended);
    - ``code``: the provider's code as text (``unsupported_parameter``, ``1305``, ``INVALID_ARGUMENT``,
      ``not_found_error``...), or None;
    - ``param``: the parameter the request was rejected for, normalised where recognised: one of
      ``KNOWN_PARAMS``, ``system_role``, ``developer_role`` or ``stream`` (the model answers only when
      streamed); else the provider's ``param`` as given;
    - ``retryable``: worth another attempt (rate limit, overload, server fault), never for a final 4xx,
      a content filter, an empty account or a 5xx that names a bad input;
    - ``retry_after``: seconds to wait from the headers or the body; None when unknown or not retryable;
    - ``is_content_filter``: the provider's moderation refused the item (a refusal, not an error);
    - ``reason``: one word for the kind of error: ``rate_limit``, ``no_credit``, ``overloaded``,
      ``server_error``, ``bad_input``, ``content_filter``, ``unsupported_parameter``, ``invalid_request``,
      ``unauthorized``, ``forbidden``, ``not_found``, ``timeout`` or ``other``. A 429 is ``rate_limit``
      only when nothing in it says the account is empty (``insufficient_quota``, a daily quota used up).
    """

    message: str
    status: int | None = None
    code: str | None = None
    param: str | None = None
    retryable: bool = False
    retry_after: float | None = None
    is_content_filter: bool = False
    reason: str = "other"

    @property
    def account_level(self) -> bool:
        """No credit, a rejected key, a model that does not exist or may not be used: not this request's fault."""
        return self.reason in ACCOUNT_REASONS


class ProviderHTTPError(BackendError):
    """A BackendError from an HTTP error response, carrying what :func:`read_error` read (``.error``)."""

    def __init__(self, message: str, error: ProviderError, *, raw: str | None = None):
        super().__init__(message, retryable=error.retryable, retry_after=error.retry_after,
                         status=error.status, raw=raw)
        self.error = error


def status_message(status: int | None, message: str, *, key_env: str, not_found: str,
                   key_rejected: bool = False) -> str:
    """The line a user reads for an HTTP error: the key to check when it was rejected (401, or
    ``key_rejected`` for providers that answer a bad key otherwise), what the server does not know on a 404
    (``not_found``), else the status and the provider's own message."""
    if status == 401 or key_rejected:
        head = "HTTP 401 unauthorized" if status == 401 else f"HTTP {status}"
        return f"{head}: check {key_env} (the key was rejected): {message}"
    if status == 404:
        return f"HTTP 404: {not_found}: {message}"
    return f"HTTP {status}: {message}"


def read_error(status: int | None, body_text: str | dict | list | None, headers: Any = None, *,
               body: Any = None) -> ProviderError:
    """Read an error response. ``body`` may be passed already parsed instead of ``body_text`` (a parsed
    body given as ``body_text`` is taken as such)."""
    text = json.dumps(body_text, ensure_ascii=False) if isinstance(body_text, (dict, list)) else body_text
    if body is None and isinstance(body_text, (dict, list)):
        body = body_text
    elif body is None and text:
        try:
            body = json.loads(text)
        except ValueError:
            body = None
    fields = _error_fields(body, text)
    message = fields["message"] or (f"HTTP {status}" if status else "unknown error")
    code = fields["code"]
    filtered = _is_content_filter(status, code, fields["type"], message, fields["inner_code"])
    reason = _reason(status, code, fields["type"], message, filtered)
    if reason == "rate_limit" and (_quota_gone_for_the_day(body) or _NO_QUOTA_AT_ALL.search(message)):
        reason = "no_credit"
    elif reason in ("invalid_request", "rate_limit", "other") and _names_a_bad_key(code, fields["type"], body, message):
        reason = "unauthorized"
    retryable = reason in ("rate_limit", "overloaded", "server_error", "timeout")
    error = ProviderError(message=message, status=status, code=code, param=None, retryable=retryable,
                          is_content_filter=filtered, reason=reason)
    if status in (400, 422) and not filtered:
        error.param = _rejected_param(fields["param"], message, fields["field"])
        if error.param and reason == "invalid_request":
            error.reason = "unsupported_parameter"
    if retryable:
        error.retry_after = retry_after_from_headers(headers, status)
        if error.retry_after is None:
            error.retry_after = _retry_delay_in_body(body, message)
    return error


# ---------------------------------------------------------------- the body

def _error_fields(body: Any, body_text: str | None) -> dict[str, Any]:
    """message, code, type, param, field, inner_code from any known envelope."""
    fields: dict[str, Any] = dict.fromkeys(("message", "code", "type", "param", "field", "inner_code"))
    if isinstance(body, list):  # Gemini's OpenAI-compatible endpoint: [{"error": {...}}]
        body = next((item for item in body if isinstance(item, dict)), None)
    if not isinstance(body, dict):
        fields["message"] = _plain_text(body_text if body is None else str(body))
        return fields
    error = body.get("error", body)
    if isinstance(error, str):  # {"error": "text"}
        error = {"message": error}
    if not isinstance(error, dict):
        error = {}
    if "detail" in body and "message" not in error:  # FastAPI
        fields["message"], fields["field"] = _fastapi_detail(body["detail"])
    else:
        fields["message"] = _text(error.get("message") or error.get("msg"))
    fields["message"] = _with_upstream_cause(fields["message"], error.get("metadata"))
    code = error.get("code")
    status_name = error.get("status") if isinstance(error.get("status"), str) else None
    if isinstance(code, int) and not isinstance(code, bool):
        code = status_name or str(code)  # Google / OpenRouter: the HTTP status as a number
    fields["code"] = _text(code) or status_name or _text(error.get("type"))
    fields["type"] = _text(error.get("type"))
    fields["param"] = _text(error.get("param"))
    inner = error.get("innererror")
    if isinstance(inner, dict):  # Azure: {"innererror": {"code": "ResponsibleAIPolicyViolation", ...}}
        fields["inner_code"] = _text(inner.get("code"))
    fields["field"] = fields["field"] or _violated_field(error.get("details"))
    return fields


def _with_upstream_cause(message: str | None, metadata: Any) -> str | None:
    """OpenRouter says "Provider returned error" and puts the upstream provider's words in metadata.raw."""
    upstream = metadata.get("raw") if isinstance(metadata, dict) else None
    if not upstream:
        return message
    provider = metadata.get("provider_name")
    return f"{message or 'provider error'} ({provider + ': ' if provider else ''}{_text(upstream)})"


def _violated_field(details: Any) -> str | None:
    """The first field of a google.rpc.BadRequest detail (``fieldViolations``)."""
    for detail in details if isinstance(details, list) else []:
        for violation in (detail.get("fieldViolations") or []) if isinstance(detail, dict) else []:
            if isinstance(violation, dict) and violation.get("field"):
                return _text(violation["field"])
    return None


def _fastapi_detail(detail: Any) -> tuple[str, str | None]:
    """FastAPI: ``{"detail": "text"}`` or ``{"detail": [{"loc": [...], "msg": ...}]}``."""
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        first = detail[0]
        location = [str(part) for part in first.get("loc") or [] if part != "body"]
        return "; ".join(str(item.get("msg")) for item in detail if isinstance(item, dict)), \
            (location[-1] if location else None)
    return _text(detail) or "error", None


def _plain_text(text: str | None) -> str:
    """A non-JSON body (an HTML error page, a proxy's text) shortened to one line."""
    collapsed = " ".join(re.sub(r"<[^>]+>", " ", text or "").split())
    return collapsed[:300]


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False) \
        if isinstance(value, (dict, list)) else str(value)


# ---------------------------------------------------------------- classification

def _is_content_filter(status: int | None, code: str | None, kind: str | None, message: str,
                       inner_code: str | None) -> bool:
    if status not in (None, 400, 403, 422, 451):  # moderation answers a request, never a rate limit
        return False
    codes = {str(value).lower() for value in (code, kind, inner_code) if value}
    lowered = message.lower()
    return bool(codes & _FILTER_CODES) or any(phrase in lowered for phrase in _FILTER_PHRASES)


def _reason(status: int | None, code: str | None, kind: str | None, message: str, filtered: bool) -> str:
    codes = {str(value).lower() for value in (code, kind) if value}
    if filtered:
        return "content_filter"
    if codes & _NO_CREDIT_CODES or status == 402 or _NO_CREDIT_PHRASES.search(message):
        return "no_credit"
    if codes & _NO_MODEL_CODES and status in (400, 403, 404):
        return "not_found"
    if status is None:
        return "other"
    if status == 429:
        return "rate_limit"
    if status in (529, 503) or "overloaded" in codes or "overloaded_error" in codes:
        return "overloaded"
    if status >= 500:
        bad_input = _BAD_INPUT_5XX.search(message) and "model_error" not in codes
        return "bad_input" if bad_input else "server_error"
    if status in RETRYABLE_STATUSES:
        return "timeout" if status == 408 else "server_error"
    return {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "invalid_request")


def _quota_gone_for_the_day(body: Any) -> bool:
    """Gemini's RESOURCE_EXHAUSTED carries a google.rpc.QuotaFailure: a per-day quota (``quotaId``
    ``...PerDay...``) or a quota of 0 (the model is not in the account's tier) will not refill within a run;
    a per-minute one will (a rate limit)."""
    for detail in _details(body):
        if "QuotaFailure" not in str(detail.get("@type", "")):
            continue
        for violation in detail.get("violations") or []:
            if not isinstance(violation, dict):
                continue
            quota_id = str(violation.get("quotaId", "")) + str(violation.get("quotaMetric", ""))
            if "perday" in quota_id.lower() or str(violation.get("quotaValue", "")).strip() == "0":
                return True
    return False


def _names_a_bad_key(code: str | None, kind: str | None, body: Any, message: str) -> bool:
    """A rejected key answered with another status than 401 (Gemini: 400 INVALID_ARGUMENT with an
    ErrorInfo ``reason`` API_KEY_INVALID)."""
    codes = {str(value).lower() for value in (code, kind) if value}
    reasons = {str(detail.get("reason", "")).lower() for detail in _details(body)}
    return bool((codes | reasons) & _BAD_KEY_CODES) or bool(_BAD_KEY_PHRASES.search(message))


def _details(body: Any) -> list[dict]:
    """The google.rpc details of an error body (empty for other shapes)."""
    if isinstance(body, list):
        body = next((item for item in body if isinstance(item, dict)), None)
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def _rejected_param(param: str | None, message: str, field: str | None) -> str | None:
    """The parameter the provider rejected, normalised to KNOWN_PARAMS / system_role / developer_role, or
    ``stream`` for a model that must be streamed."""
    if _NEEDS_STREAM.search(message):
        return "stream"
    if (param and re.search(r"\brole\b", param)) or _ROLE_REJECTED.search(message):
        return "developer_role" if "developer" in message.lower() else "system_role"
    for text in (param, message):
        found = [(m.start(), name) for name, pattern in _PARAM_WORD.items() if text and (m := pattern.search(text))]
        if found:
            return min(found)[1]
    return param or field


# ---------------------------------------------------------------- when to try again

def retry_after_from_headers(headers: Any, status: int | None = 429) -> float | None:
    """Seconds to wait from the headers, or None.

    ``retry-after-ms`` and ``Retry-After`` first; on a 429 without them, the rate-limit reset headers
    (the bucket with nothing remaining, else the longest).
    """
    lowered = _lowered(headers)
    if not lowered:
        return None
    if "retry-after-ms" in lowered:
        seconds = _number(lowered["retry-after-ms"])
        if seconds is not None:
            return max(seconds / 1000.0, 0.0)
    if "retry-after" in lowered:
        seconds = _seconds_until(lowered["retry-after"])
        if seconds is not None:
            return seconds
    if status != 429:
        return None
    return _reset_wait(lowered)


def _reset_wait(lowered: dict[str, str]) -> float | None:
    resets: dict[str, float] = {}
    for name, value in lowered.items():
        if "ratelimit" in name and "reset" in name:
            seconds = _seconds_until(value)
            if seconds is not None:
                resets[name] = seconds
    if not resets:
        return None
    exhausted = [seconds for name, seconds in resets.items()
                 if _number(lowered.get(name.replace("reset", "remaining"), "")) == 0]
    return max(exhausted or resets.values())


def _seconds_until(value: str) -> float | None:
    """Seconds from a number (seconds, or epoch seconds when huge), a Go duration, an RFC 3339
    timestamp or an HTTP date; never negative."""
    value = str(value).strip()
    number = _number(value)
    if number is not None:
        return max(number - time.time(), 0.0) if number > 1e9 else max(number, 0.0)
    duration = parse_duration(value)
    if duration is not None:
        return duration
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
    if when.tzinfo is None:  # "-0000" in an HTTP date: UTC
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - time.time(), 0.0)


def parse_duration(value: str) -> float | None:
    """A Go-style duration (``60ms``, ``1m30s``, ``6s``, ``2m59.56s``, ``1h``) in seconds, else None."""
    text = value.strip().replace(" ", "")
    if not text or _DURATION_PART.sub("", text):
        return None
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    try:
        return sum(float(amount) * units[unit] for amount, unit in _DURATION_PART.findall(text))
    except ValueError:
        return None


def _retry_delay_in_body(body: Any, message: str) -> float | None:
    """Google's RetryInfo (``"retryDelay": "37s"``) or OpenAI's "Please try again in 1.2s"."""
    if isinstance(body, list):
        body = next((item for item in body if isinstance(item, dict)), None)
    error = body.get("error", body) if isinstance(body, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("retryDelay"):
            seconds = parse_duration(str(detail["retryDelay"]))
            if seconds is not None:
                return seconds
    match = _TRY_AGAIN.search(message)
    return parse_duration(match.group(1)) if match else None


def _lowered(headers: Any) -> dict[str, str]:
    """Headers as {lower-case name: first value} from a dict, httpx.Headers or a cassette's lists."""
    if not headers:
        return {}
    items = headers.items() if isinstance(headers, Mapping) or hasattr(headers, "items") else headers
    lowered: dict[str, str] = {}
    for name, value in items:
        if isinstance(value, (list, tuple)):
            value = value[0] if value else ""
        lowered[str(name).lower()] = str(value)
    return lowered


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds from ``retry-after-ms`` / ``retry-after`` alone (the old helper; kept for its callers)."""
    lowered = _lowered(headers)
    return retry_after_from_headers({k: v for k, v in lowered.items() if k.startswith("retry-after")}, None)
