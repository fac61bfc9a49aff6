"""Any OpenAI-compatible chat endpoint through the official ``openai`` SDK.

One backend covers OpenAI itself, DeepSeek, DashScope (Qwen), Moonshot (Kimi), Zhipu (GLM), Qianfan and
Novita (ERNIE), Fireworks, any Llama host, and self-hosted vLLM / SGLang / Ollama / llama.cpp servers.

The SDK's own retries are switched off (``max_retries=0``): ``elicit.limits`` retries, so that backoff,
``Retry-After`` and the attempt cap are the same for every provider. We read the raw HTTP body ourselves
(``with_raw_response``) so that a malformed or surprising body is kept verbatim for the store.

Distribution mode (one request gives the answer distribution): ``logprobs=True, top_logprobs=20,
max_tokens=2``. The distribution is read from the first generated position: every top-20 token that is an
integer on the scale once whitespace is stripped (" 3", "3") adds its probability to that value;
``valid_mass`` is the total before renormalising. On 1-10 scales a tokenizer that spells "10" as "1"+"0"
makes "1" ambiguous. When the sampled first token is "1", the second position gives P("0" | "1") and the
"1" mass is split between 1 and 10 exactly. Otherwise the split cannot be read from this response; the
"1" mass goes to 1 and ``extra["unsplit_one_mass"]`` records how much that was (tokenizers with a
single "10" token, like OpenAI's and Llama 3's, never need the split).
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import re
from typing import Any, Iterable
from urllib.parse import urlparse

from whosevalues.models.base import BackendError, ChatRequest, Completion
from whosevalues.models.errors import ProviderError, ProviderHTTPError, read_error
# parse_retry_after, redact, require_key, import_sdk and PLACEHOLDER_KEY lived here first; still importable from here
from whosevalues.models.remote import (  # noqa: F401
    PLACEHOLDER_KEY, RemoteBackend, import_sdk, is_retryable_status, parse_retry_after, redact, require_key,
)
from whosevalues.models.spec import ModelSpec

TOP_LOGPROBS = 20
_INTEGER_TOKEN = re.compile(r"^\s*(\d+)\s*$")
# public hosts known to honour ``seed``; other hosted APIs may reject unknown fields
_SEED_HOSTS = ("api.openai.com", "dashscope", "fireworks.ai", "api.deepseek.com")


# ---------------------------------------------------------------- helpers (Gemini reads logprobs the same way)

def distribution_from_positions(positions: list[dict[str, float]], chosen: list[str],
                                scale_min: int, scale_max: int) -> tuple[dict[int, float], float, dict]:
    """Answer distribution from per-position top token probabilities (see the module docstring).

    ``positions[i]`` maps token text -> probability at generated position i; ``chosen[i]`` is the token
    actually generated there. Returns (renormalised distribution over the whole scale, valid mass, extra).
    """
    if not positions:
        raise BackendError("no token probabilities in the response", retryable=True)
    mass = {value: 0.0 for value in range(scale_min, scale_max + 1)}
    extra: dict[str, Any] = {}
    first = positions[0]
    has_ten_token = any(_as_int(token) == 10 for token in first)
    for token, prob in first.items():
        value = _as_int(token)
        if value is not None and value in mass:
            mass[value] += prob
    needs_split = scale_max >= 10 and 1 in mass and 10 in mass and not has_ten_token and mass[1] > 0
    if needs_split:
        if chosen and _as_int(chosen[0]) == 1 and len(positions) > 1:
            p_zero = sum(p for t, p in positions[1].items() if t.strip() == "0")
            one = mass[1]
            mass[1], mass[10] = one * (1 - p_zero), mass[10] + one * p_zero
            extra["one_split_p_zero"] = p_zero
        else:
            extra["unsplit_one_mass"] = mass[1]
    valid = sum(mass.values())
    if valid <= 0:
        return {value: 0.0 for value in mass}, 0.0, extra
    return {value: p / valid for value, p in mass.items()}, min(valid, 1.0), extra


def _as_int(token: str) -> int | None:
    match = _INTEGER_TOKEN.match(token)
    return int(match.group(1)) if match else None


def is_local_url(url: str | None) -> bool:
    """Loopback or private-network hosts: self-hosted servers that usually need no key."""
    if not url:
        return False
    host = urlparse(url).hostname or ""
    if host in ("localhost",) or host.endswith(".local"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private


# ---------------------------------------------------------------- the backend

class OpenAICompatibleBackend(RemoteBackend):
    name = "openai-compatible"
    default_concurrency = 32
    sdk_module = "openai"
    extra_name = "openai"
    default_key_env = "OPENAI_API_KEY"
    api_model_example = "<name the server knows>"

    # -- configuration

    def _key_env(self) -> str | None:
        # No base_url means OpenAI itself, which always needs a key; a keyless self-hosted server needs none.
        if self.spec.api_key_env or not self.spec.base_url:
            return super()._key_env()
        return None

    def _make_client(self, api_key: str) -> Any:
        return self.sdk().AsyncOpenAI(api_key=api_key, base_url=self.spec.base_url, max_retries=0,
                                      timeout=self.spec.timeout)

    def _sends_seed(self) -> bool:
        base = self.spec.base_url or "https://api.openai.com/v1"
        return is_local_url(base) or any(host in base for host in _SEED_HOSTS)

    # -- requests

    def _params(self, request: ChatRequest, *, max_tokens: int, logprobs: int | None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self.spec.api_model,
            "messages": [{"role": "system", "content": request.system},
                         {"role": "user", "content": request.user}],
            "max_tokens": max_tokens,
        }
        if request.temperature is not None:
            params["temperature"] = request.temperature
        if self._sends_seed():
            params["seed"] = request.seed
        if logprobs is not None:
            params["logprobs"] = True
            params["top_logprobs"] = logprobs
        if self.spec.extra_body:
            params["extra_body"] = dict(self.spec.extra_body)
        return params

    async def _post(self, params: dict[str, Any]) -> tuple[dict, str]:
        """Send one request; return (parsed body, raw body) or raise BackendError."""
        openai = self.sdk()
        key = self._key()
        try:
            response = await self.client().chat.completions.with_raw_response.create(**params)
            raw = response.http_response.text
        except openai.APIStatusError as exc:
            raise self._status_error(exc, key) from None
        except openai.APITimeoutError:
            raise self._timed_out() from None
        except openai.APIConnectionError as exc:
            raise self._connection_error(exc.__cause__ or exc, key) from None
        except openai.APIResponseValidationError as exc:  # pragma: no cover - we parse ourselves
            raise BackendError(f"invalid response: {exc}", retryable=True,
                               raw=redact(str(exc.body), key)) from None
        raw = redact(raw, key) or ""
        try:
            body = json.loads(raw)
        except ValueError:
            raise BackendError(f"malformed JSON in the response ({len(raw)} bytes)", retryable=True,
                               status=200, raw=raw) from None
        if not isinstance(body, dict):
            raise BackendError("response body is not a JSON object", retryable=True, status=200, raw=raw)
        return body, raw

    def _status_error(self, exc: Any, key: str) -> BackendError:
        """An HTTP error read by ``models.errors`` (every provider's error shape; see there)."""
        status = exc.status_code
        raw = redact(_response_text(exc.response), key)
        error = read_error(status, raw, exc.response.headers, body=None if raw else exc.body)
        error.message = redact(error.message, key) or ""
        message = _error_message(error) or str(exc)
        if status == 401:
            env = self._key_env() or "api_key_env"
            message = f"HTTP 401 unauthorized: check {env} (the key was rejected): {message}"
        elif status == 404:
            message = (f"HTTP 404: the server does not know model {self.spec.api_model!r} or the path "
                       f"(base_url {self.spec.base_url}): {message}")
        else:
            message = f"HTTP {status}: {message}"
        return ProviderHTTPError(message, error, raw=raw)

    async def complete(self, request: ChatRequest) -> Completion:
        distribution = request.mode == "distribution"
        params = self._params(request, max_tokens=2 if distribution else request.max_tokens,
                              logprobs=TOP_LOGPROBS if distribution else None)
        try:
            body, raw = await self._post(params)
        except BackendError as exc:
            if exc.status == 400 and _is_content_filter(exc.raw):
                return Completion(text="", raw=exc.raw, finish_reason="content_filter",
                                  extra={"status": 400})
            raise
        return self._completion(body, raw, request)

    def _completion(self, body: dict, raw: str, request: ChatRequest) -> Completion:
        choices = body.get("choices")
        if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
            raise BackendError("response has no choices", retryable=True, status=200, raw=raw)
        choice = choices[0]
        message = choice.get("message") or {}
        finish = choice.get("finish_reason")
        usage = body.get("usage") or {}
        completion = Completion(raw=raw, finish_reason=finish, input_tokens=usage.get("prompt_tokens"),
                                output_tokens=usage.get("completion_tokens"))
        text = message.get("content")
        if finish == "content_filter":
            completion.text = text or ""
            return completion
        if text is None and message.get("refusal"):
            completion.text, completion.finish_reason = "", "content_filter"
            completion.extra["refusal"] = message["refusal"]
            return completion
        completion.text = text if text is not None else ""
        if request.mode == "distribution":
            positions, chosen = _top_logprobs(choice, raw)
            dist, valid, extra = distribution_from_positions(positions, chosen, request.scale_min,
                                                             request.scale_max)
            completion.distribution, completion.valid_mass = dist, valid
            completion.extra.update(extra)
        return completion

    async def _probe_distribution(self) -> bool:
        """A one-token request asking for top_logprobs."""
        params = {"model": self.spec.api_model, "max_tokens": 1, "logprobs": True, "top_logprobs": 5,
                  "messages": [{"role": "user", "content": "Reply with one digit from 1 to 5."}]}
        if self.spec.extra_body:
            params["extra_body"] = dict(self.spec.extra_body)
        body, raw = await self._post(params)
        positions, _ = _top_logprobs((body.get("choices") or [{}])[0], raw)
        return bool(positions and positions[0])


def _top_logprobs(choice: dict, raw: str) -> tuple[list[dict[str, float]], list[str]]:
    content = ((choice or {}).get("logprobs") or {}).get("content") or []
    positions: list[dict[str, float]] = []
    chosen: list[str] = []
    for entry in content:
        tops: dict[str, float] = {}
        for top in entry.get("top_logprobs") or []:
            token, logprob = top.get("token"), top.get("logprob")
            if token is None or logprob is None or not math.isfinite(logprob):
                continue
            tops[token] = tops.get(token, 0.0) + math.exp(logprob)
        positions.append(tops)
        chosen.append(entry.get("token") or "")
    return positions, chosen


def _response_text(response: Any) -> str | None:
    try:
        return response.text
    except Exception:  # a streamed or already-closed body: keep what we can
        return None


def _error_message(error: ProviderError) -> str:
    """The provider's words, with the rejected parameter named when the provider gave one."""
    if error.param and error.param not in error.message:
        return f"{error.message} (parameter: {error.param})"
    return error.message


def _is_content_filter(raw: str | None) -> bool:
    """Whether an error body is the provider's moderation refusing the item (DashScope
    data_inspection_failed, Zhipu 1301, Azure content_filter, Moonshot "high risk"...)."""
    return bool(raw) and read_error(400, raw, None).is_content_filter


def iter_keys(specs: Iterable[ModelSpec]) -> set[str]:
    """Values of every configured key variable (for redaction and for tests that grep for leaks)."""
    return {value for spec in specs if spec.api_key_env and (value := os.environ.get(spec.api_key_env))}
