"""What a run will cost before it is run: requests, tokens and dollars per model.

Token counts are estimates: ``tiktoken``'s o200k encoding when it is installed, otherwise about four
characters per token for Latin text and one token per CJK character (close for the GPT, Qwen and
DeepSeek tokenizers on survey prompts). Prices are the catalog's USD per million tokens, as of the
catalog's ``price_as_of`` date; a model without a price gets NaN cost, never zero.

Output tokens: a sample answer is a number, often with a few words (``TYPICAL_ANSWER_TOKENS``); the
column ``output_tokens_max`` assumes every answer uses all of ``max_tokens``. Distribution requests generate
at most two tokens.

Reasoning: a model that thinks before it answers is billed for its thinking as output. Its catalog entry gives
``typical_reasoning_tokens`` per answer (a figure per provider, with its source, in catalog.toml's header);
``reasoning_tokens`` adds it for every request to run, and both costs include it. The typical cost leaves it
out for a model whose study turns thinking off; the maximum keeps it, because several providers cannot turn
thinking off (then the run says so). A reasoner whose budget runs out is asked again with a larger one, up to
its ``reasoning_budget_cap``; answers that need that are not in the maximum.

Prices here are online list prices. Batch prices are a separate column added on top of this table
(``elicit/batch/costs.py``: ``batch_cost_usd`` from ``cost_usd``, so reasoning is included there too).
"""

from __future__ import annotations

import math
from collections import defaultdict
from functools import lru_cache
from typing import TYPE_CHECKING, Iterable

from whosevalues.models.base import ChatRequest
from whosevalues.models.spec import ModelSpec

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd

TYPICAL_ANSWER_TOKENS = 8
DISTRIBUTION_TOKENS = 2
COLUMNS = ["model", "provider", "mode", "requests", "already_done", "to_run", "input_tokens", "output_tokens",
           "reasoning_tokens", "output_tokens_max", "cost_usd", "cost_usd_max", "price_as_of"]


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


@lru_cache(maxsize=65536)  # a plan repeats the same few hundred prompts once per sample and condition
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
    """(typical, worst case) visible answer tokens of one request, reasoning not included."""
    if request.mode == "distribution":
        return DISTRIBUTION_TOKENS, DISTRIBUTION_TOKENS
    return min(TYPICAL_ANSWER_TOKENS, request.max_tokens), request.max_tokens


def reasoning_per_answer(spec: ModelSpec) -> tuple[int, int]:
    """(typical, for the maximum) reasoning tokens per answer (see the module docstring)."""
    documented = spec.typical_reasoning_tokens or 0
    return (0 if spec.thinking == "off" else documented), documented


def _dollars(spec: ModelSpec, input_tokens: int, output_tokens: int) -> float:
    if spec.price_input_per_mtok is None or spec.price_output_per_mtok is None:
        return float("nan")
    return (input_tokens * spec.price_input_per_mtok + output_tokens * spec.price_output_per_mtok) / 1e6


def estimate_cost(requests: Iterable[tuple[ModelSpec, ChatRequest]],
                  already_done: set[str] | frozenset[str] = frozenset()) -> pd.DataFrame:
    """One row per model (in first-seen order) with the columns in ``COLUMNS``.

    Requests whose ``key`` is in ``already_done`` are counted in ``already_done`` and cost nothing. ``mode``
    is the answer mode the plan gives the model's requests (``mixed`` if they differ).
    """
    import pandas as pd
    specs: dict[str, ModelSpec] = {}
    modes: dict[str, set[str]] = defaultdict(set)
    totals: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for spec, request in requests:
        specs.setdefault(spec.id, spec)
        modes[spec.id].add(request.mode)
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
    return pd.DataFrame([_row(spec, totals[model_id], modes[model_id]) for model_id, spec in specs.items()],
                        columns=COLUMNS)


def _row(spec: ModelSpec, counts: dict[str, int], modes: set[str]) -> dict:
    reasoning, reasoning_max = (per_answer * counts["to_run"] for per_answer in reasoning_per_answer(spec))
    output_max = counts["output_tokens_max"] + reasoning_max
    return {
        "model": spec.id, "provider": spec.provider, "mode": modes.pop() if len(modes) == 1 else "mixed",
        "requests": counts["requests"], "already_done": counts["already_done"], "to_run": counts["to_run"],
        "input_tokens": counts["input_tokens"], "output_tokens": counts["output_tokens"],
        "reasoning_tokens": reasoning, "output_tokens_max": output_max,
        "cost_usd": _dollars(spec, counts["input_tokens"], counts["output_tokens"] + reasoning),
        "cost_usd_max": _dollars(spec, counts["input_tokens"], output_max),
        "price_as_of": spec.price_as_of or "",
    }
