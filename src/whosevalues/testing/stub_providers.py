"""An OpenAI-compatible loopback server whose models behave as today's providers really do.

One server, several models, chosen by the request's ``model`` (the study's ``api_model``); the bodies follow
the recorded exchanges in ``../shared/data/provider_exchanges`` (OpenAI's 400s word for word):

``reasoner``      DeepSeek-reasoner-like: ~300 tokens of ``reasoning_content`` (full of other numbers) before
                  the answer; with a smaller ``max_tokens`` an empty ``content`` and ``finish_reason`` length;
                  a 400 for ``logprobs`` that names it only in the message.
``o-series``      o3-like: 400 for ``max_tokens`` ("Use 'max_completion_tokens' instead"), for a temperature
                  other than 1 and for ``logprobs``, each naming the ``param``; 64 hidden reasoning tokens count
                  against ``max_completion_tokens``.
``o1-mini``       like ``o-series``, and also a 400 for the system role (``messages[0].role``).
``think-inline``  vLLM without a reasoning parser: ``<think>…</think>`` (40 tokens) inline in ``content``.
``one-hot``       DeepSeek-chat-like post-sampling logprobs: chosen token 0.0, every alternative about -21.
``markdown``      answers ``**4**``; the first position's mass is on ``**``, the number comes second.
``filtered``      good logprobs, but some prompts are filtered: ``finish_reason`` content_filter, or an HTTP 400
                  with DashScope's ``data_inspection_failed`` body.
``plain``         good logprobs, spread around the answer.
``miscalibrated`` (not in ``MODELS``) logprobs with 40% on the far end of the scale, while the sampled text
                  is always the intended value: the sample check must flag it.
``weak``          logprobs with only 30% of the mass on the scale (the rest on "I" and "The"): below the
                  default minimum valid mass, so each item must be sampled instead.

Every model means one value per prompt, :func:`intended_value` (1-5, from a hash of the user message, so it is
valid on every survey's scale), and :func:`is_filtered` says which prompts the ``filtered`` model blocks. The
server counts requests per model (``requests_by_model``) so tests can prove there are no runaway retries.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
from collections import Counter
from typing import Any

from whosevalues.testing._server import LoopbackServer, QuietHandler

#: served too, not in ``MODELS``: models whose account answers every request with an account-level error
#: (bodies as the providers document them; see ``ACCOUNT_ERRORS``), and the second wave's behaviours
ACCOUNT_MODELS = ("empty-quota", "no-balance", "revoked-key")
STREAM_ONLY = "stream-only"      # DashScope QwQ-like: a 400 unless ``stream`` is set, then an SSE stream
EMPTY_FIRST = "empty-first"      # an HTTP 200 with ``choices: []`` the first time each prompt is asked
MODELS = ("reasoner", "o-series", "o1-mini", "think-inline", "one-hot", "markdown", "filtered", "plain", "weak")
#: served too, but not part of the standard set: logprobs that disagree with what the model samples
MISCALIBRATED = "miscalibrated"
REASONING_TOKENS = {"reasoner": 300, "o-series": 64, "o1-mini": 64, "think-inline": 40}


def _user_text(body: dict) -> str:
    messages = body.get("messages") or []
    users = [str(m.get("content", "")) for m in messages if m.get("role") == "user"]
    return users[-1] if users else ""


def _survey_prompt(body: dict) -> str:
    """The prompt without a folded system prompt, so a model that folds it means the same value."""
    return _user_text(body).split("\n\n")[-1]


def _hash(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def intended_value(prompt: str) -> int:
    return 1 + _hash(prompt) % 5


def is_filtered(prompt: str) -> str | None:
    """'finish' (200, finish_reason content_filter), 'http' (400 filter body) or None, for the filtered model."""
    bucket = _hash("filter:" + prompt) % 6
    return "finish" if bucket == 0 else "http" if bucket == 1 else None


# -- the error bodies (as providers send them) ---------------------------------------------------

def openai_error(message: str, param: str | None, code: str) -> dict:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


MAX_TOKENS_ERROR = openai_error("Unsupported parameter: 'max_tokens' is not supported with this model. Use "
                                "'max_completion_tokens' instead.", "max_tokens", "unsupported_parameter")
LOGPROBS_ERROR = openai_error("Unsupported parameter: 'logprobs' is not supported with this model.", "logprobs",
                              "unsupported_parameter")
SYSTEM_ERROR = openai_error("Unsupported value: 'messages[0].role' does not support 'system' with this model.",
                            "messages[0].role", "unsupported_value")
REASONER_LOGPROBS_ERROR = {"error": {"message": "deepseek-reasoner does not support the parameter `logprobs`",
                                     "type": "invalid_request_error", "param": None,
                                     "code": "invalid_request_error"}}
FILTER_ERROR = {"error": {"code": "data_inspection_failed", "type": "data_inspection_failed",
                          "message": "Input data may contain inappropriate content."}, "request_id": "stub"}


# OpenAI's exhausted quota (platform.openai.com/docs/guides/error-codes: 429 "You exceeded your current quota,
# please check your plan and billing details", code insufficient_quota); DeepSeek's empty balance
# (api-docs.deepseek.com/quick_start/error_codes: 402 Insufficient Balance; body as quoted in
# Aider-AI/aider#4851); OpenAI's revoked key (401 invalid_api_key)
ACCOUNT_ERRORS = {
    "empty-quota": (429, {"error": {"message": "You exceeded your current quota, please check your plan and billing "
                                               "details. For more information on this error, read the docs: "
                                               "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                                    "type": "insufficient_quota", "param": None, "code": "insufficient_quota"}}),
    "no-balance": (402, {"error": {"message": "Insufficient Balance", "type": "unknown_error", "param": None,
                                   "code": "invalid_request_error"}}),
    "revoked-key": (401, {"error": {"message": "Incorrect API key provided: sk-proj-****. You can find your API key "
                                               "at https://platform.openai.com/account/api-keys.",
                                    "type": "invalid_request_error", "param": None, "code": "invalid_api_key"}}),
}
# DashScope's answer to a non-streaming call of QwQ / Qwen3 thinking models (as quoted in
# FoundationAgents/OpenManus#330 and infiniflow/ragflow#5912)
STREAM_ONLY_ERROR = {"error": {"code": "invalid_parameter_error", "param": None,
                               "message": "This model only support stream mode, please enable the stream parameter "
                                          "to access the model. ", "type": "invalid_request_error"},
                     "request_id": "stub"}


def temperature_error(value: Any) -> dict:
    return openai_error(f"Unsupported value: 'temperature' does not support {value} with this model. Only the "
                        "default (1) value is supported.", "temperature", "unsupported_value")


# -- building answers ----------------------------------------------------------------------------

def _reasoning(tokens: int, value: int) -> list[str]:
    """Reasoning words full of other numbers (so a parser that read them would be wrong)."""
    words = f"Option {1 + value % 5} is tempting, but 2 or 5 might fit; weighing 3 against {value}.".split()
    return [words[i % len(words)] for i in range(tokens)]


def _position(token: str, top: dict[str, float]) -> dict:
    logprob = top.get(token, 0.0)
    return {"token": token, "logprob": logprob, "bytes": list(token.encode()),
            "top_logprobs": [{"token": t, "logprob": lp, "bytes": list(t.encode())}
                             for t, lp in sorted(top.items(), key=lambda kv: -kv[1])]}


def _spread(value: int) -> dict[str, float]:
    """Log probabilities centred on ``value`` whose expectation is exactly ``value``."""
    if 2 <= value <= 4:
        probs = {str(value): 0.8, str(value - 1): 0.1, str(value + 1): 0.1}
    else:
        probs = {str(value): 0.9, "I": 0.1}
    return {t: math.log(p) for t, p in probs.items()}


def _answer_positions(model: str, value: int) -> list[dict]:
    v = str(value)
    if model == "one-hot":
        return [_position(v, {v: 0.0, str(1 + value % 5): -21.0, "I": -40.25})]
    if model == MISCALIBRATED:
        return [_position(v, {v: math.log(0.6), str(6 - value if value != 3 else 5): math.log(0.4)})]
    if model == "weak":
        return [_position(v, {"I": math.log(0.6), v: math.log(0.3), "The": math.log(0.1)})]
    if model == "markdown":
        return [_position("**", {"**": math.log(0.97), v: math.log(0.03)}),
                _position(v, {v: math.log(0.96), "I": math.log(0.03), "The": math.log(0.01)}),
                _position("**", {"**": 0.0})]
    return [_position(v, _spread(value))]


class Reply:
    def __init__(self, status: int, body: dict):
        self.status, self.body = status, body


def respond(body: dict, count: int, asked_before: int = 0) -> Reply:
    """The server's answer to one chat-completions body (``asked_before``: times this model was sent this prompt)."""
    model = str(body.get("model"))
    if model in ACCOUNT_ERRORS:
        return Reply(*ACCOUNT_ERRORS[model])
    if model == STREAM_ONLY and not body.get("stream"):
        return Reply(400, STREAM_ONLY_ERROR)
    if model == EMPTY_FIRST and not asked_before:
        return Reply(200, {"id": f"chatcmpl-{count}", "object": "chat.completion", "model": model, "choices": [],
                           "usage": {"prompt_tokens": 5, "completion_tokens": 0, "total_tokens": 5}})
    if model in (STREAM_ONLY, EMPTY_FIRST):
        model = "reasoner" if model == STREAM_ONLY else "plain"  # the same answers as these
        body = {**body, "model": model}
    if model not in MODELS and model != MISCALIBRATED:
        return Reply(404, {"error": {"message": f"The model `{model}` does not exist", "type": "invalid_request_error",
                                     "param": None, "code": "model_not_found"}})
    rejection = _rejection(model, body)
    if rejection is not None:
        return Reply(400, rejection)
    prompt = _survey_prompt(body)
    value = intended_value(prompt)
    if model == "filtered" and is_filtered(prompt) == "http":
        return Reply(400, FILTER_ERROR)
    budget = body.get("max_completion_tokens", body.get("max_tokens")) or 10**6
    message, finish, positions, reasoning_tokens = _message(model, value, int(budget))
    if model == "filtered" and is_filtered(prompt) == "finish":
        message, finish, positions = {"role": "assistant", "content": ""}, "content_filter", None
    choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": finish,
                              "logprobs": {"content": positions} if body.get("logprobs") and positions else None}
    visible = len(positions or []) or 1
    usage = {"prompt_tokens": max(len(prompt) // 4, 1), "completion_tokens": visible + reasoning_tokens,
             "total_tokens": max(len(prompt) // 4, 1) + visible + reasoning_tokens,
             # vLLM reports no reasoning tokens (completion_tokens_details null), as recorded
             "completion_tokens_details": None if model == "think-inline" else {"reasoning_tokens": reasoning_tokens}}
    version = {"o-series": "o3-mini-2025-01-31", "o1-mini": "o1-mini-2024-09-12"}.get(model, model)
    return Reply(200, {"id": f"chatcmpl-{count}", "object": "chat.completion", "created": int(time.time()),
                       "model": version, "system_fingerprint": f"fp_{model}", "choices": [choice], "usage": usage})


def _rejection(model: str, body: dict) -> dict | None:
    if model in ("o-series", "o1-mini"):
        if "max_tokens" in body:
            return MAX_TOKENS_ERROR
        if body.get("temperature") not in (None, 1, 1.0):
            return temperature_error(body["temperature"])
        if body.get("logprobs") or body.get("top_logprobs") is not None:
            return LOGPROBS_ERROR
        if model == "o1-mini" and any(m.get("role") == "system" for m in body.get("messages") or []):
            return SYSTEM_ERROR
    if model == "reasoner" and (body.get("logprobs") or body.get("top_logprobs") is not None):
        return REASONER_LOGPROBS_ERROR
    return None


def _message(model: str, value: int, budget: int) -> tuple[dict, str, list[dict] | None, int]:
    """(message, finish_reason, logprob positions, reasoning tokens) within ``budget`` output tokens."""
    thinking = REASONING_TOKENS.get(model, 0)
    words = _reasoning(thinking, value)
    if model == "reasoner":
        if budget <= thinking:
            return ({"role": "assistant", "content": "", "reasoning_content": " ".join(words[:budget])},
                    "length", None, budget)
        message = {"role": "assistant", "content": str(value), "reasoning_content": " ".join(words)}
        return message, "stop", None, thinking
    if model in ("o-series", "o1-mini"):
        if budget <= thinking:
            return {"role": "assistant", "content": "", "refusal": None}, "length", None, budget
        return {"role": "assistant", "content": str(value), "refusal": None}, "stop", None, thinking
    if model == "think-inline":
        think = ["<think>", *words, "</think>"]
        positions = [_position("<think>", {"<think>": 0.0, "Okay": -20.0})] + \
                    [_position(w, {w: -0.1, "so": -2.4}) for w in words] + [_position("</think>", {"</think>": 0.0})]
        if budget < len(think) + 1:
            return ({"role": "assistant", "content": "<think>\n" + " ".join(words[:budget - 1])}, "length",
                    positions[:budget], 0)
        content = "<think>\n" + " ".join(words) + "\n</think>\n\n" + str(value)
        return {"role": "assistant", "content": content}, "stop", positions + _answer_positions(model, value), 0
    positions = _answer_positions(model, value)
    content = f"**{value}**" if model == "markdown" else str(value)
    if budget < len(positions):
        positions = positions[:budget]
        return {"role": "assistant", "content": "".join(p["token"] for p in positions)}, "length", positions, 0
    return {"role": "assistant", "content": content}, "stop", positions, 0


def stream_chunks(body: dict) -> list[dict]:
    """A chat.completion body as the chunks a stream sends (DashScope's shape: reasoning deltas, then content
    deltas, then a usage chunk with ``choices: []``)."""
    choice = body["choices"][0]
    message = choice["message"]
    envelope = {"id": body["id"], "object": "chat.completion.chunk", "model": body["model"]}
    chunks = [{**envelope, "choices": [{"index": 0, "delta": {"role": "assistant", "content": None,
                                                             "reasoning_content": ""}, "finish_reason": None}]}]
    for word in (message.get("reasoning_content") or "").split(" "):
        if word:
            chunks.append({**envelope, "choices": [{"index": 0, "delta": {"reasoning_content": word + " "},
                                                    "finish_reason": None}]})
    chunks.append({**envelope, "choices": [{"index": 0, "delta": {"content": message.get("content") or ""},
                                            "finish_reason": None}]})
    chunks.append({**envelope, "choices": [{"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}]})
    chunks.append({**envelope, "choices": [], "usage": body["usage"]})
    return chunks


# -- the server ----------------------------------------------------------------------------------

class _Handler(QuietHandler):
    def do_GET(self) -> None:
        self.send_json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in MODELS]})

    def do_POST(self) -> None:
        raw = self.read_body()
        owner: ProviderStubServer = self.owner
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}})
            return
        count, asked_before = owner.record(body)
        reply = respond(body, count, asked_before)
        if reply.status == 200 and body.get("stream"):
            self.send_stream(stream_chunks(reply.body))
            return
        self.send_json(reply.status, reply.body)

    def send_stream(self, chunks: list[dict]) -> None:
        """Server-sent events as OpenAI-compatible servers send them: one ``data:`` line per chunk, then [DONE]."""
        payload = "".join(f"data: {json.dumps(chunk)}\n\n" for chunk in chunks) + "data: [DONE]\n\n"
        self.send_bytes(200, payload.encode(), content_type="text/event-stream")


class ProviderStubServer(LoopbackServer):
    """``with ProviderStubServer() as server: server.base_url``; ``server.requests_by_model`` counts requests."""

    handler = _Handler

    def __init__(self, port: int = 0):
        super().__init__(port)
        self.requests_by_model: Counter = Counter()
        self.bodies: list[dict] = []
        self._asked: Counter = Counter()
        self._lock = threading.Lock()

    def record(self, body: dict) -> tuple[int, int]:
        """(this request's number, how many times this model was sent this prompt before)."""
        with self._lock:
            self.requests_by_model[str(body.get("model"))] += 1
            self.bodies.append(body)
            asked = (str(body.get("model")), _user_text(body))
            before = self._asked[asked]
            self._asked[asked] += 1
            return len(self.bodies), before

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"
