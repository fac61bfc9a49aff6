"""Translate the OpenAI chat-completions wire format, as providers really send it, into a ProviderReply.

One translator for OpenAI, Azure, DeepSeek, DashScope (Qwen), Zhipu (GLM), Moonshot (Kimi), vLLM,
llama.cpp, Ollama, Groq, Together, OpenRouter and DeepInfra, and for OpenAI batch result lines
(``response.body``). It reads a parsed JSON body; it decides nothing (``elicit/`` does).

Where providers differ (each seen in ``data/provider_exchanges``, see SOURCE.md there):

- reasoning text: ``message.reasoning_content`` (DeepSeek, DashScope, Zhipu, llama.cpp, vLLM with a
  reasoning parser), ``message.reasoning`` (Ollama, OpenRouter), or inline ``<think>...</think>`` in
  ``content`` (vLLM without a parser, Groq ``reasoning_format=raw``, DeepInfra R1). An unclosed ``<think>``
  means the budget ran out while thinking: all of it is reasoning and the answer is empty. A bare
  ``</think>`` (the chat template opened the tag in the prompt) makes everything before it reasoning.
- reasoning tokens: ``usage.completion_tokens_details.reasoning_tokens`` (absent on Ollama and vLLM).
- "no answer": an HTTP 200 with no ``choices`` (or ``choices: []``, as stream usage chunks and Azure's
  prompt-filter chunk have), ``message.refusal``, ``finish_reason`` ``content_filter`` (Zhipu:
  ``sensitive``), Azure's ``prompt_filter_results`` / ``content_filter_results``, an ``error`` object
  inside a 200.
- token log probabilities: ``logprobs.content[]`` with ``top_logprobs`` (llama.cpp adds an ``id`` per
  token; DeepSeek's are post-sampling, chosen 0.0 and the rest near -21: kept as given, judged in
  ``elicit/``); a character split over several byte tokens (an emoji as ``'\\xf0\\x9f\\x92'`` + ``'\\x99'``)
  is joined into one position when ``bytes`` are given. The legacy ``/v1/completions`` shape
  (``text``, ``logprobs.tokens`` / ``top_logprobs`` maps) is read too.

``body`` may also be a list: the chunks of a stream (merged first), or Gemini's OpenAI-compatible
endpoint's array-wrapped error.
"""

from __future__ import annotations

import math
import re
from typing import Any

from whosevalues.models.base import FinishReason, ProviderReply, TokenPosition
from whosevalues.models.errors import read_error

# provider finish reasons -> the normal form (stop|length|content_filter|refusal|error|other)
_FINISH: dict[str, FinishReason] = {
    "stop": "stop", "eos": "stop", "end_turn": "stop", "stop_sequence": "stop",
    "length": "length", "max_tokens": "length", "model_length": "length",
    "content_filter": "content_filter", "sensitive": "content_filter",  # Zhipu says "sensitive"
    "refusal": "refusal",
    "network_error": "error", "insufficient_system_resource": "error", "error": "error",  # Zhipu, DeepSeek
    "tool_calls": "other", "function_call": "other",
}
_THINK_BLOCK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_OPEN, _CLOSE = "<think>", "</think>"


def translate_chat_completion(body: dict | list | None, raw: str | None = None,
                              http_status: int = 200) -> ProviderReply:
    """The normal form of one chat-completions response body (or a list of its stream chunks)."""
    reply = ProviderReply(raw=raw, http_status=http_status)
    body = _unwrap(body)
    if not isinstance(body, dict):
        return _broken(reply, "the body is not a JSON object")
    reply.model_version = _text_or_none(body.get("model"))
    reply.system_fingerprint = _text_or_none(body.get("system_fingerprint"))
    _read_usage(reply, body.get("usage"))
    if body.get("error"):
        return _error_in_body(reply, body)
    choice = _first_choice(body.get("choices"))
    if choice is None:
        return _no_choices(reply, body)
    if isinstance(body.get("choices"), list) and len(body["choices"]) > 1:
        reply.extra["choices"] = len(body["choices"])
    _read_choice(reply, choice)
    return reply


# ---------------------------------------------------------------- envelope

def _unwrap(body: Any) -> Any:
    """A dict body as is; stream chunks merged; a one-element array (Gemini-compat errors) opened."""
    if isinstance(body, list):
        if body and all(isinstance(item, dict) and "choices" in item for item in body):
            return merge_stream_chunks(body)
        if len(body) == 1 and isinstance(body[0], dict):
            return body[0]
    return body


def _first_choice(choices: Any) -> dict | None:
    """The choice with index 0, else the first one that is an object; None when there is none."""
    if not isinstance(choices, list):
        return None
    usable = [c for c in choices if isinstance(c, dict)]
    for choice in usable:
        if choice.get("index", 0) == 0:
            return choice
    return usable[0] if usable else None


def _read_usage(reply: ProviderReply, usage: Any) -> None:
    if not isinstance(usage, dict):
        return
    reply.input_tokens = _int_or_none(usage.get("prompt_tokens"))
    reply.output_tokens = _int_or_none(usage.get("completion_tokens"))
    details = usage.get("completion_tokens_details")
    tokens = details.get("reasoning_tokens") if isinstance(details, dict) else None
    if tokens is None:
        tokens = usage.get("reasoning_tokens")  # a few hosts put it at the top of usage
    reply.reasoning_tokens = _int_or_none(tokens)


def _error_in_body(reply: ProviderReply, body: dict) -> ProviderReply:
    """An ``error`` object inside a body (OpenRouter mid-stream, Gemini-compat array): filter or error."""
    error = read_error(None, None, None, body=body)  # status None: judge the body alone
    reply.extra["error"] = error.message
    if error.is_content_filter:
        reply.finish_reason, reply.provider_finish_reason = "content_filter", error.code
        reply.refusal_reason = error.message
        return reply
    return _broken(reply, f"the provider sent an error: {error.message}")


def _no_choices(reply: ProviderReply, body: dict) -> ProviderReply:
    """HTTP 200 without a choice: Azure's prompt filter (a refusal) or a broken body (an error)."""
    blocked = _filtered_categories(body.get("prompt_filter_results") or body.get("prompt_annotations"))
    if blocked:
        reply.finish_reason, reply.provider_finish_reason = "content_filter", "prompt_filter"
        reply.refusal_reason = "prompt filtered: " + ", ".join(blocked)
        return reply
    return _broken(reply, "the response has no choices")


def _broken(reply: ProviderReply, problem: str) -> ProviderReply:
    reply.answer_text = None
    reply.finish_reason = "error"
    reply.extra["problem"] = problem
    return reply


# ---------------------------------------------------------------- one choice

def _read_choice(reply: ProviderReply, choice: dict) -> None:
    message = choice.get("message") or choice.get("delta") or {}
    if not isinstance(message, dict):
        message = {}
    content = message.get("content")
    if content is None and isinstance(choice.get("text"), str):
        content = choice["text"]  # legacy /v1/completions
    answer, inline = _split_content(content)
    # vLLM and OpenRouter may send the same text under both names: keep it once
    fields = [message[key] for key in ("reasoning_content", "reasoning") if isinstance(message.get(key), str)]
    reasoning_parts = list(dict.fromkeys(fields)) + inline
    reply.answer_text = answer
    reply.reasoning_text = "\n".join(reasoning_parts) if reasoning_parts else None
    reply.reasoned = bool(reply.reasoning_text and reply.reasoning_text.strip()) or bool(reply.reasoning_tokens)

    provider_finish = _text_or_none(choice.get("finish_reason"))
    reply.provider_finish_reason = provider_finish
    reply.finish_reason = _FINISH.get(provider_finish or "", "other")
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal.strip():
        reply.finish_reason, reply.refusal_reason = "refusal", refusal
    elif reply.finish_reason == "content_filter":
        blocked = _filtered_categories([choice.get("content_filter_results")])
        reply.refusal_reason = ("output filtered: " + ", ".join(blocked)) if blocked else provider_finish
    reply.positions = read_positions(choice.get("logprobs"))


def _split_content(content: Any) -> tuple[str | None, list[str]]:
    """(answer without reasoning, reasoning texts) from ``content``: a string or a list of parts."""
    if content is None:
        return None, []
    if isinstance(content, list):  # content parts: text parts are the answer, thinking parts reasoning
        texts, thoughts = [], []
        for part in content:
            if not isinstance(part, dict):
                continue
            if part.get("type") in ("thinking", "reasoning"):
                thoughts.append(part.get("thinking") or part.get("text") or "")
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
        answer, inline = split_think_tags("".join(texts))
        return answer, thoughts + inline
    if not isinstance(content, str):
        return str(content), []
    return split_think_tags(content)


def split_think_tags(text: str) -> tuple[str, list[str]]:
    """Remove ``<think>`` blocks from ``text``: (answer, reasoning texts).

    An unclosed ``<think>`` makes the rest reasoning (the budget ran out while thinking: answer "").
    A ``</think>`` with no opening tag (the chat template put ``<think>`` in the prompt) makes what
    precedes it reasoning.
    """
    if _OPEN not in text and _CLOSE not in text:
        return text, []
    reasoning: list[str] = []
    if _CLOSE in text and (_OPEN not in text or text.index(_CLOSE) < text.index(_OPEN)):
        before, text = text.split(_CLOSE, 1)
        reasoning.append(before.strip("\n"))
    reasoning.extend(match.strip("\n") for match in _THINK_BLOCK.findall(text))
    text = _THINK_BLOCK.sub("", text)
    if _OPEN in text:  # still open at the end: everything after it is thinking cut off by the budget
        text, unfinished = text.split(_OPEN, 1)
        reasoning.append(unfinished.strip("\n"))
    return text.lstrip(), reasoning


def _filtered_categories(results: Any) -> list[str]:
    """Names of the Azure content-filter categories marked ``filtered`` (with severity where given)."""
    names: list[str] = []
    for entry in results if isinstance(results, list) else []:
        if not isinstance(entry, dict):
            continue
        categories = entry.get("content_filter_results", entry)
        for name, verdict in (categories.items() if isinstance(categories, dict) else []):
            if isinstance(verdict, dict) and verdict.get("filtered"):
                severity = verdict.get("severity")
                names.append(f"{name} ({severity})" if severity else name)
    return names


# ---------------------------------------------------------------- token log probabilities

def read_positions(logprobs: Any) -> list[TokenPosition] | None:
    """Per generated position, the chosen token and its alternatives; None when none were returned."""
    if not isinstance(logprobs, dict):
        return None
    if isinstance(logprobs.get("content"), list):
        entries = [e for e in logprobs["content"] if isinstance(e, dict)]
        return _join_split_characters(entries)
    if isinstance(logprobs.get("tokens"), list):
        return _legacy_positions(logprobs)
    return None


def _join_split_characters(entries: list[dict]) -> list[TokenPosition]:
    """One position per entry, except that entries whose ``bytes`` only together make a UTF-8
    character are joined (their log probabilities add up: the joint probability of the character)."""
    positions: list[TokenPosition] = []
    pending: list[dict] = []
    for entry in entries:
        data = entry.get("bytes")
        if pending or (isinstance(data, list) and not _decodes(data)):
            pending.append(entry)
            joined = [b for e in pending for b in (e.get("bytes") or [])]
            if _decodes(joined) or not isinstance(entry.get("bytes"), list):
                positions.append(_joined_position(pending, joined))
                pending = []
            continue
        positions.append(TokenPosition(token=_token_text(entry), logprob=_logprob(entry),
                                       top=_top_map(entry.get("top_logprobs"))))
    if pending:  # the response ended inside a character: keep the pieces as given
        positions.extend(TokenPosition(token=_token_text(e), logprob=_logprob(e),
                                       top=_top_map(e.get("top_logprobs"))) for e in pending)
    return positions


def _joined_position(entries: list[dict], joined: list[int]) -> TokenPosition:
    logprobs = [_logprob(e) for e in entries]
    total = None if any(lp is None for lp in logprobs) else sum(logprobs)  # type: ignore[arg-type]
    token = bytes(joined).decode("utf-8", errors="replace")
    return TokenPosition(token=token, logprob=total, top=_top_map(entries[0].get("top_logprobs")))


def _decodes(data: list) -> bool:
    try:
        bytes(data).decode("utf-8")
    except (ValueError, TypeError):
        return False
    return True


def _token_text(entry: dict) -> str:
    token = entry.get("token")
    if isinstance(token, str):
        return token
    data = entry.get("bytes")
    if isinstance(data, list) and _decodes(data):
        return bytes(data).decode("utf-8")
    return "" if token is None else str(token)


def _top_map(tops: Any) -> dict[str, float]:
    """token -> logprob; two alternatives with the same text (different token ids) add up."""
    result: dict[str, float] = {}
    if isinstance(tops, dict):  # the legacy completions shape is already a map
        tops = [{"token": k, "logprob": v} for k, v in tops.items()]
    for top in tops if isinstance(tops, list) else []:
        if not isinstance(top, dict):
            continue
        logprob = _logprob(top)
        if logprob is None:
            continue
        token = _token_text(top)
        result[token] = _log_add(result[token], logprob) if token in result else logprob
    return result


def _legacy_positions(logprobs: dict) -> list[TokenPosition]:
    tokens = logprobs.get("tokens") or []
    chosen = logprobs.get("token_logprobs") or []
    tops = logprobs.get("top_logprobs") or []
    positions = []
    for i, token in enumerate(tokens):
        value = chosen[i] if i < len(chosen) else None
        logprob = float(value) if isinstance(value, (int, float)) and not math.isnan(value) else None
        positions.append(TokenPosition(token=str(token), logprob=logprob,
                                       top=_top_map(tops[i] if i < len(tops) else None)))
    return positions


def _logprob(entry: dict) -> float | None:
    value = entry.get("logprob")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        return None
    return float(value)


def _log_add(a: float, b: float) -> float:
    high, low = max(a, b), min(a, b)
    if math.isinf(high):
        return high
    return high + math.log1p(math.exp(low - high))


# ---------------------------------------------------------------- streams

def merge_stream_chunks(chunks: list[dict]) -> dict:
    """One chat.completion body from the chunks of a stream (first choice only).

    Deltas are concatenated (``content``, ``reasoning_content``, ``reasoning``, ``refusal``); logprob
    entries appended; the last non-null ``finish_reason``, ``usage``, ``model`` and
    ``system_fingerprint`` win. Chunks with ``choices: []`` (usage, Azure's prompt filter) contribute
    their envelope only.
    """
    body: dict[str, Any] = {"object": "chat.completion"}
    message: dict[str, Any] = {}
    choice: dict[str, Any] = {"index": 0}
    logprob_entries: list = []
    seen_choice = False
    for chunk in chunks:
        for key in ("id", "model", "system_fingerprint", "usage", "error"):
            if chunk.get(key):
                body[key] = chunk[key]
        if chunk.get("prompt_filter_results"):
            body["prompt_filter_results"] = chunk["prompt_filter_results"]
        current = _first_choice(chunk.get("choices"))
        if current is None:
            continue
        seen_choice = True
        delta = current.get("delta") or current.get("message") or {}
        for key in ("content", "reasoning_content", "reasoning", "refusal"):
            if isinstance(delta.get(key), str):
                message[key] = message.get(key, "") + delta[key]
        if current.get("finish_reason"):
            choice["finish_reason"] = current["finish_reason"]
        if current.get("content_filter_results"):
            choice["content_filter_results"] = current["content_filter_results"]
        logprobs = current.get("logprobs")
        if isinstance(logprobs, dict) and isinstance(logprobs.get("content"), list):
            logprob_entries.extend(logprobs["content"])
    if seen_choice:
        choice["message"] = message
        choice["logprobs"] = {"content": logprob_entries} if logprob_entries else None
        body["choices"] = [choice]
    else:
        body["choices"] = []
    return body


# ---------------------------------------------------------------- small readers

def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _int_or_none(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)
