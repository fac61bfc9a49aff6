"""What a run will cost before it is run: requests, tokens and dollars per model.

Token counts are estimates: ``tiktoken``'s o200k encoding when it is installed, otherwise about four
characters per token for Latin text and one token per CJK character (close for the GPT, Qwen and
DeepSeek tokenizers on survey prompts). Prices are the catalog's USD per million tokens, as of the
catalog's ``price_as_of`` date; a model without a price gets NaN cost, never zero.

Output tokens: a sample answer is a number, often with a few words (``TYPICAL_ANSWER_TOKENS``); the
column ``output_tokens_max`` assumes every answer uses all of ``max_tokens`` (the worst case).
Distribution requests generate at most two tokens.
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache
from typing import Iterable

import pandas as pd

from whosevalues.models.base import ChatRequest
from whosevalues.models.spec import ModelSpec

TYPICAL_ANSWER_TOKENS = 8
DISTRIBUTION_TOKENS = 2
COLUMNS = ["model", "provider", "requests", "already_done", "to_run", "input_tokens", "output_tokens",
           "output_tokens_max", "cost_usd", "cost_usd_max", "price_as_of"]


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (0x3000 <= code <= 0x9FFF or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF
            or 0xFF00 <= code <= 0xFFEF or 0x20000 <= code <= 0x2FA1F)


@lru_cache(maxsize=1)
def _tiktoken_encoder():  # pragma: no cover - depends on an optional package
    try:
        import tiktoken
        return tiktoken.get_encoding("o200k_base")
    except Exception:  # not installed, or its data cannot be downloaded: fall back to the heuristic
        return None


def estimate_tokens(text: str) -> int:
    """Approximate token count of ``text`` (see the module docstring)."""
    if not text:
        return 0
    encoder = _tiktoken_encoder()
    if encoder is not None:  # pragma: no cover
        return len(encoder.encode(text))
    cjk = sum(1 for char in text if _is_cjk(char))
    return cjk + math.ceil((len(text) - cjk) / 4)


def _output_tokens(request: ChatRequest) -> tuple[int, int]:
    """(typical, worst case) output tokens of one request."""
    if request.mode == "distribution":
        return DISTRIBUTION_TOKENS, DISTRIBUTION_TOKENS
    return min(TYPICAL_ANSWER_TOKENS, request.max_tokens), request.max_tokens


def _dollars(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    if spec.price_input_per_mtok is None or spec.price_output_per_mtok is None:
        return float("nan")
    return (input_tokens * spec.price_input_per_mtok + output_tokens * spec.price_output_per_mtok) / 1e6


def estimate_cost(requests: Iterable[tuple[ModelSpec, ChatRequest]],
                  already_done: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """One row per model (in first-seen order) with the columns in ``COLUMNS``.

    Requests whose ``key`` is in ``already_done`` are counted in ``already_done`` and cost nothing.
    """
    specs: dict[str, ModelSpec] = {}
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec, request in requests:
        specs.setdefault(spec.id, spec)
        row = totals[spec.id]
        row["requests"] += 1
        if request.key in already_done:
            row["already_done"] += 1
            continue
        typical, worst = _output_tokens(request)
        row["to_run"] += 1
        row["input_tokens"] += estimate_tokens(request.system) + estimate_tokens(request.user)
        row["output_tokens"] += typical
        row["output_tokens_max"] += worst
    rows = []
    for model_id, spec in specs.items():
        row = totals[model_id]
        rows.append({
            "model": model_id, "provider": spec.provider, "requests": row["requests"],
            "already_done": row["already_done"], "to_run": row["to_run"], "input_tokens": row["input_tokens"],
            "output_tokens": row["output_tokens"], "output_tokens_max": row["output_tokens_max"],
            "cost_usd": _dollars(spec, row["input_tokens"], row["output_tokens"]),
            "cost_usd_max": _dollars(spec, row["input_tokens"], row["output_tokens_max"]),
            "price_as_of": spec.price_as_of or "",
        })
    return pd.DataFrame(rows, columns=COLUMNS)
