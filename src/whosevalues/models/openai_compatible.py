"""Any OpenAI-compatible chat endpoint through the official ``openai`` SDK.

One backend covers OpenAI itself, DeepSeek, DashScope (Qwen), Moonshot (Kimi), Zhipu (GLM), Qianfan and
Novita (ERNIE), Fireworks, any Llama host, and self-hosted vLLM / SGLang / Ollama / llama.cpp servers.

The SDK's own retries are switched off (``max_retries=0``): ``elicit.limits`` retries, so that backoff,
``Retry-After`` and the attempt cap are the same for every provider. We read the raw HTTP body ourselves
(the SDK's raw-response mode) so that a malformed or surprising body is kept verbatim for the store. The body
goes out through the client's generic ``post`` (the SDK's documented way to send any request), not the typed
``chat.completions.create``: that one walks every parameter through its TypedDict transform first, a quarter of
the client's CPU per request here (5.7 against 7.3-8.4 ms with the loopback stub), and on a 2-core machine the
client's one event loop is what limits a fast provider's throughput (benchmarks/bench_throughput.py --hostile).
Auth, base URL, timeout and error types are the client's either way.

The backend only translates: it builds the request body (:meth:`OpenAICompatibleBackend.build_params`, with
the endpoint's learned adaptations and the model's thinking setting; batch lines use the same body) and turns
the response into a ``ProviderReply`` (``models.openai_format.translate_chat_completion``). What the reply
means (refusal, budget ran out, which position holds the answer, whether a distribution is trustworthy) is
decided in ``elicit.outcome``, the same for every provider.

Distribution mode asks for ``logprobs=True, top_logprobs=20`` and a few tokens (``DISTRIBUTION_TOKENS``), so
that formatting before the number (``**``, a quote, ``Answer:``) still leaves the answer position in reach.

Thinking (``ModelSpec.thinking``) is mapped per provider, recognised from the ``base_url`` host
(:func:`thinking_params`; README "Reasoning models" gives each provider's default and why).
"""

from __future__ import annotations

import ipaddress
import json
import os
from typing import Any, Iterable
from urllib.parse import urlparse

from whosevalues.models.base import ADAPTATIONS, BackendError, ChatRequest, ProviderReply, request_body
from whosevalues.models.errors import ProviderError, ProviderHTTPError, read_error, status_message
from whosevalues.models.openai_format import merge_stream_chunks, translate_chat_completion
from whosevalues.models.remote import RemoteBackend, redact
from whosevalues.models.spec import ModelSpec

TOP_LOGPROBS = 20
#: tokens asked for in distribution mode: room for formatting before the number and the 1/10 split after it
DISTRIBUTION_TOKENS = 6
# public hosts known to honour ``seed``; other hosted APIs may reject unknown fields
_SEED_HOSTS = ("api.openai.com", "dashscope", "fireworks.ai", "api.deepseek.com")


# ---------------------------------------------------------------- helpers

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
    supported_adaptations = frozenset(ADAPTATIONS)
    batch_adapter = "whosevalues.models.batch_openai:OpenAIBatchAdapter"  # any endpoint with /v1/files + /v1/batches

    def check(self, key: str | None, timeout: float) -> Any:
        from whosevalues.models.check import probe_openai

        return probe_openai(self.spec, key, timeout)

    def batch_price_factor(self) -> float | None:
        """The catalog's figure for the model, else its host's (``catalog.toml [batch_price_factors]``)."""
        from whosevalues.models.catalog import host_batch_price_factor

        return self.spec.batch_price_factor or host_batch_price_factor(self.spec.base_url)

    def departures(self, request: ChatRequest) -> list[str]:
        note = self.thinking_note()
        return [note] if note else []

    def thinking_note(self) -> str | None:
        return thinking_params(self.spec).note

    # -- configuration

    def key_env(self) -> str | None:
        # No base_url means OpenAI itself, which always needs a key; a keyless self-hosted server needs none.
        if self.spec.api_key_env or not self.spec.base_url:
            return super().key_env()
        return None

    def _make_client(self, api_key: str) -> Any:
        return self.sdk().AsyncOpenAI(api_key=api_key, base_url=self.spec.base_url, max_retries=0,
                                      timeout=self.spec.timeout)

    def streams(self) -> bool:
        """Whether requests are streamed: the catalog says the model needs it, or a 400 taught it (``stream``)."""
        return self.spec.stream or "stream" in self.param_adaptations

    def _sends_seed(self) -> bool:
        base = self.spec.base_url or "https://api.openai.com/v1"
        return is_local_url(base) or any(host in base for host in _SEED_HOSTS)

    # -- requests

    def build_params(self, request: ChatRequest) -> dict[str, Any]:
        """The exact request body for ``request``: adaptations in force and the thinking setting applied."""
        distribution = request.mode == "distribution" and "no_logprobs" not in self.param_adaptations
        max_tokens = max(request.max_tokens, DISTRIBUTION_TOKENS) if distribution else request.max_tokens
        return self._params(request.system, request.user, max_tokens=max_tokens,
                            logprobs=TOP_LOGPROBS if distribution else None,
                            temperature=request.temperature, seed=request.seed)

    def _params(self, system: str | None, user: str, *, max_tokens: int, logprobs: int | None,
                temperature: float | None = None, seed: int | None = None) -> dict[str, Any]:
        adapted = self.param_adaptations
        if system and "fold_system" in adapted:
            messages = [{"role": "user", "content": f"{system}\n\n{user}"}]
        else:
            messages = ([{"role": "system", "content": system}] if system else []) + \
                       [{"role": "user", "content": user}]
        params: dict[str, Any] = {"model": self.spec.api_model, "messages": messages}
        params["max_completion_tokens" if "max_completion_tokens" in adapted else "max_tokens"] = max_tokens
        if temperature is not None and "no_temperature" not in adapted:
            params["temperature"] = temperature
        if seed is not None and self._sends_seed() and "no_seed" not in adapted:
            params["seed"] = seed
        if logprobs is not None and "no_logprobs" not in adapted:
            params["logprobs"] = True
            params["top_logprobs"] = logprobs
        if self.streams():  # merged back into one body by reply(); usage comes in the last chunk
            params["stream"] = True
            params["stream_options"] = {"include_usage": True}
        thinking = thinking_params(self.spec)
        params.update(thinking.top_level)
        extra_body = {**thinking.extra_body, **self.spec.extra_body}
        if extra_body:
            params["extra_body"] = extra_body
        return params

    async def _post(self, params: dict[str, Any]) -> tuple[Any, str, int]:
        """Send one request; return (parsed body or None, raw body, HTTP status) or raise BackendError."""
        openai = self.sdk()
        key = self._key()
        try:
            # read whole, server-sent events too (a streamed answer is a few tokens)
            response = await self.client().post("/chat/completions", cast_to=dict, body=request_body(params),
                                                options={"headers": RAW_RESPONSE})
            raw = response.http_response.text
            status = response.http_response.status_code
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
        if params.get("stream"):
            return _stream_body(raw, status), raw, status
        try:
            body = json.loads(raw)
        except ValueError:
            raise BackendError(f"malformed JSON in the response ({len(raw)} bytes)", retryable=True,
                               status=200, raw=raw) from None
        return body, raw, status

    def _status_error(self, exc: Any, key: str) -> BackendError:
        """An HTTP error read by ``models.errors`` (every provider's error shape; see there)."""
        status = exc.status_code
        raw = redact(_response_text(exc.response), key)
        error = read_error(status, raw, exc.response.headers, body=None if raw else exc.body)
        error.message = redact(error.message, key) or ""
        message = _error_message(error) or str(exc)
        message = status_message(status, message, key_env=self.key_env() or "api_key_env",
                                 not_found=f"the server does not know model {self.spec.api_model!r} or the "
                                           f"path (base_url {self.spec.base_url})")
        return ProviderHTTPError(message, error, raw=raw)

    async def complete(self, request: ChatRequest) -> ProviderReply:
        return await self.reply(self.build_params(request))

    async def reply(self, params: dict[str, Any]) -> ProviderReply:
        """Send a request body and translate the answer. A 400 from the provider's content filter is a reply
        (``content_filter``); a body with no usable choice is a retryable error (the store keeps it)."""
        try:
            body, raw, status = await self._post(params)
        except ProviderHTTPError as exc:  # _status_error has read the body once: use what it read
            if exc.status == 400 and exc.raw and exc.error.is_content_filter:
                return ProviderReply(answer_text="", finish_reason="content_filter",
                                     provider_finish_reason="http_400",
                                     refusal_reason=_filter_reason(exc.error) or exc.raw, raw=exc.raw,
                                     http_status=400)
            raise
        reply = translate_chat_completion(body, raw, status)
        if reply.finish_reason == "error":
            problem = reply.extra.get("problem") or reply.refusal_reason or "no usable choice"
            raise BackendError(f"broken response: {problem}", retryable=True, status=status, raw=raw)
        return reply

    async def probe_replies(self, prompts: list[str]) -> list[ProviderReply]:
        """Small requests asking for token probabilities (``elicit.probe`` decides what they show).

        The endpoint's adaptations apply; a 400 naming a parameter is raised for the caller to adapt."""
        replies = []
        for prompt in prompts:
            params = self._params(None, prompt, max_tokens=PROBE_TOKENS, logprobs=5)
            replies.append(await self.reply(params))
        return replies

    async def _probe_distribution(self) -> bool:
        replies = await self.probe_replies([PROBE_PROMPTS[0]])
        return bool(replies and replies[0].positions)


#: the mode probe's prompts (answers on a 1-5 scale) and its token budget
PROBE_PROMPTS = (
    "On a scale from 1 to 5, how much do you like rainy days? Reply with one digit only.",
    "On a scale from 1 to 5, how important is punctuality? Reply with one digit only.",
    "On a scale from 1 to 5, how much do you enjoy crowded places? Reply with one digit only.",
)
PROBE_TOKENS = DISTRIBUTION_TOKENS


# ---------------------------------------------------------------- thinking, per provider

class ThinkingParams:
    """Body fields turning thinking on or off: ``top_level`` fields and ``extra_body`` fields."""

    def __init__(self, top_level: dict | None = None, extra_body: dict | None = None, note: str | None = None):
        self.top_level, self.extra_body, self.note = top_level or {}, extra_body or {}, note


def provider_family(spec: ModelSpec) -> str:
    """Which provider's conventions an endpoint follows, from the ``base_url`` host."""
    base = spec.base_url or "https://api.openai.com/v1"
    host = (urlparse(base).hostname or "").lower()
    for needle, family in _FAMILIES:
        if needle in host:
            return family
    return "self-hosted" if is_local_url(base) else "other"


_FAMILIES = (("api.openai.com", "openai"), ("openai.azure.com", "openai"), ("deepseek.com", "deepseek"),
             ("dashscope", "dashscope"), ("aliyuncs.com", "dashscope"), ("bigmodel.cn", "zhipu"),
             ("z.ai", "zhipu"), ("moonshot", "moonshot"))


#: thinking fields the openai SDK takes as its own parameters (the rest travel in ``extra_body``)
_SDK_PARAMS = frozenset({"reasoning_effort", "model"})


def thinking_params(spec: ModelSpec) -> ThinkingParams:
    """The provider's switch for ``spec.thinking`` (``default``: send nothing, the provider decides): the
    catalog's ``thinking_switch`` for this model where it has one, else the provider's conventions below."""
    if spec.thinking == "default":
        return ThinkingParams()
    switch = spec.thinking_switch.get(spec.thinking)
    if switch is not None:  # the SDK's own parameters go at the top, the provider's extensions in extra_body
        top = {k: v for k, v in switch.fields.items() if k in _SDK_PARAMS}
        extra = {k: v for k, v in switch.fields.items() if k not in _SDK_PARAMS}
        return ThinkingParams(top, extra, note=f"{spec.id}: {switch.note}" if switch.note else None)
    on = spec.thinking == "on"
    family = provider_family(spec)
    model = (spec.api_model or "").lower()
    if family == "openai":
        reasoner = model.startswith(("gpt-5", "gpt-6", "o1", "o3", "o4"))
        if on or not reasoner:
            return ThinkingParams()  # reasoning models reason anyway; the others cannot
        # lowest effort each family documents: GPT-6 Luna "none", GPT-5 "minimal", o-series and GPT-6 others "low"
        lowest = "none" if model.startswith("gpt-6-luna") else "minimal" if model.startswith("gpt-5") else "low"
        return ThinkingParams({"reasoning_effort": lowest},
                              note=f"{spec.id}: thinking off as far as OpenAI allows (reasoning_effort {lowest})")
    if family == "deepseek" and model not in ("deepseek-chat", "deepseek-reasoner"):
        # V4 and later (the two names above were retired 2026-07-24): one model, thinking {type} switches it
        return ThinkingParams(extra_body={"thinking": {"type": "enabled" if on else "disabled"}})
    if family == "deepseek":
        target = "deepseek-reasoner" if on else "deepseek-chat"
        if model == target or not model.startswith("deepseek-"):
            return ThinkingParams()
        return ThinkingParams({"model": target},
                              note=f"{spec.id}: thinking {'on' if on else 'off'}: DeepSeek's {target} was asked "
                                   f"instead of {spec.api_model} (DeepSeek switches thinking by model name)")
    if family == "dashscope":
        return ThinkingParams(extra_body={"enable_thinking": on})
    if family == "zhipu":
        return ThinkingParams(extra_body={"thinking": {"type": "enabled" if on else "disabled"}})
    if family == "self-hosted":
        return ThinkingParams(extra_body={"chat_template_kwargs": {"enable_thinking": on}})
    return ThinkingParams(note=f"{spec.id}: thinking {spec.thinking} was asked, but this provider "
                               f"({spec.base_url}) has no known switch; its default applies")


#: the header the SDK's ``with_raw_response`` sets: ``post`` then returns the HTTP response unparsed
RAW_RESPONSE = {"X-Stainless-Raw-Response": "true"}


def _stream_body(raw: str, status: int) -> dict:
    """One chat.completion body from a server-sent event stream (``data: {...}`` lines, ``data: [DONE]``)."""
    chunks = []
    for line in raw.splitlines():
        payload = line[len("data:"):].strip() if line.startswith("data:") else ""
        if not payload or payload == "[DONE]":
            continue
        try:
            chunk = json.loads(payload)
        except ValueError:
            raise BackendError(f"malformed event in the stream: {payload[:80]!r}", retryable=True, status=status,
                               raw=raw) from None
        if isinstance(chunk, dict):
            chunks.append(chunk)
    if not chunks:
        raise BackendError("the stream carried no events", retryable=True, status=status, raw=raw)
    return merge_stream_chunks(chunks)


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


def _filter_reason(error: ProviderError) -> str:
    """The provider's code and words for a filter block (kept with the refusal)."""
    return " ".join(part for part in (error.code, error.message) if part)


def _is_content_filter(raw: str | None) -> bool:
    """Whether an error body (a batch line's, which no SDK has read) is the provider's moderation refusing
    the item (DashScope data_inspection_failed, Zhipu 1301, Azure content_filter, Moonshot "high risk"...)."""
    return bool(raw) and read_error(400, raw, None).is_content_filter


def iter_keys(specs: Iterable[ModelSpec]) -> set[str]:
    """Values of every configured key variable (for redaction and for tests that grep for leaks)."""
    return {value for spec in specs if spec.api_key_env and (value := os.environ.get(spec.api_key_env, "").strip())}
