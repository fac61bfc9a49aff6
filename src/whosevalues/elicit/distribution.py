"""Answer distributions from next-token probabilities, and whether they can be trusted.

Provider-neutral: every backend hands over its positions as :class:`~whosevalues.models.base.TokenPosition`
(chosen token, its log probability, the alternatives the provider reported), and the rules below decide.

Which position holds the answer
    Models often write formatting before the number (``**4**``, `` "4"``, ``Answer: 4``). The answer is read
    at the first generated position where scale tokens carry the mass (at least half of it), skipping
    positions whose chosen token is only formatting. When no position reaches half, the first position whose
    chosen token is not formatting is the answer position and its (weak) mass is reported as it is.
    Positions inside inline reasoning (up to the last ``</think>``) are never answer positions.

How the mass is counted
    Every alternative that is an integer on the scale once whitespace is stripped (" 3", "3") adds its
    probability to that value; ``valid_mass`` is the total before renormalising. On 1-10 scales a tokenizer
    that spells "10" as "1"+"0" makes "1" ambiguous. When the sampled answer token is "1", the next
    position gives P("0" | "1") and the "1" mass is split between 1 and 10 exactly. Otherwise the split
    cannot be read from this response; the "1" mass goes to 1 and ``extra["unsplit_one_mass"]`` records how
    much that was (tokenizers with a single "10" token, like OpenAI's and Llama 3's, never need the split).

Post-sampling ("one-hot") logprobs
    Some endpoints (DeepSeek's, for one) report log probabilities after sampling: the chosen token at 0.0
    and every alternative around -20. Such a "distribution" is one random draw. :func:`is_one_hot` tells
    one of those positions; the mode probe asks several prompts and samples an endpoint that is one-hot
    every time (``elicit.probe``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from whosevalues.models.base import TokenPosition

#: below this share of the mass on scale tokens a position is not yet the answer (formatting may follow)
CARRIES_MASS = 0.5
#: a chosen token at or above this log probability is "certain" ...
ONE_HOT_CHOSEN = -1e-3
#: ... and a one-hot position has every alternative at or below this one
ONE_HOT_ALTERNATIVES = -15.0

_INTEGER_TOKEN = re.compile(r"^\s*(\d+)\s*$")
# Tokens that carry no content: whitespace, markdown, quotes, brackets, colons, and "Answer"-like lead-ins.
_FORMATTING_CHARS = re.compile(r"[\s*_`#\"'“”‘’「」『』()\[\]{}:：.,，。\-–—>|]+")
_LEAD_INS = {"", "answer", "answers", "myanswer", "finalanswer", "rating", "score", "response", "choice",
             "答案", "回答", "我的回答", "评分", "选择", "选项"}


@dataclass
class AnswerDistribution:
    """The distribution read at ``position``; ``valid_mass`` is the scale's share before renormalising."""

    distribution: dict[int, float]
    valid_mass: float
    position: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def as_int(token: str) -> int | None:
    match = _INTEGER_TOKEN.match(token)
    return int(match.group(1)) if match else None


def is_formatting(token: str) -> bool:
    """Whether a generated token is formatting only (``**``, spaces, quotes, ``Answer:``)."""
    return _FORMATTING_CHARS.sub("", token).lower() in _LEAD_INS


def probabilities(position: TokenPosition) -> dict[str, float]:
    """Token -> probability at one position (alternatives summed by text; the chosen token included)."""
    probs: dict[str, float] = {}
    for token, logprob in position.top.items():
        if logprob is not None and math.isfinite(logprob):
            probs[token] = probs.get(token, 0.0) + math.exp(logprob)
    if position.token not in probs and position.logprob is not None and math.isfinite(position.logprob):
        probs[position.token] = math.exp(position.logprob)
    return probs


def scale_mass(probs: dict[str, float], scale_min: int, scale_max: int) -> float:
    return sum(p for token, p in probs.items() if (v := as_int(token)) is not None and scale_min <= v <= scale_max)


def first_answer_position(positions: list[TokenPosition], scale_min: int, scale_max: int) -> int | None:
    """Index of the position holding the answer (module docstring), or None when there is no candidate."""
    start = 0
    for index, position in enumerate(positions):
        if "</think>" in position.token:
            start = index + 1  # inline reasoning ends here; nothing before it is an answer
    best, best_mass = None, 0.0
    for index in range(start, len(positions)):
        position = positions[index]
        mass = scale_mass(probabilities(position), scale_min, scale_max)
        if mass >= CARRIES_MASS or not is_formatting(position.token):
            return index
        if mass > best_mass:
            best, best_mass = index, mass
    return best  # formatting only: the position where the scale had most mass, if any


def answer_distribution(positions: list[TokenPosition] | None, scale_min: int,
                        scale_max: int) -> AnswerDistribution | None:
    """The answer distribution of one reply, or None when the reply carries no token probabilities."""
    if not positions:
        return None
    index = first_answer_position(positions, scale_min, scale_max)
    if index is None:
        return AnswerDistribution({v: 0.0 for v in range(scale_min, scale_max + 1)}, 0.0, None,
                                  {"answer_position": None})
    probs = probabilities(positions[index])
    following = probabilities(positions[index + 1]) if index + 1 < len(positions) else None
    dist, valid, extra = _distribution(probs, positions[index].token, following, scale_min, scale_max)
    extra["answer_position"] = index
    return AnswerDistribution(dist, valid, index, extra)


def _distribution(probs: dict[str, float], chosen: str, following: dict[str, float] | None,
                  scale_min: int, scale_max: int) -> tuple[dict[int, float], float, dict]:
    mass = {value: 0.0 for value in range(scale_min, scale_max + 1)}
    extra: dict[str, Any] = {}
    has_ten_token = any(as_int(token) == 10 for token in probs)
    for token, prob in probs.items():
        value = as_int(token)
        if value is not None and value in mass:
            mass[value] += prob
    needs_split = scale_max >= 10 and 1 in mass and 10 in mass and not has_ten_token and mass[1] > 0
    if needs_split:
        if as_int(chosen) == 1 and following is not None:
            p_zero = sum(p for t, p in following.items() if t.strip() == "0")
            one = mass[1]
            mass[1], mass[10] = one * (1 - p_zero), mass[10] + one * p_zero
            extra["one_split_p_zero"] = p_zero
        else:
            extra["unsplit_one_mass"] = mass[1]
    valid = sum(mass.values())
    if valid <= 0:
        return {value: 0.0 for value in mass}, 0.0, extra
    return {value: p / valid for value, p in mass.items()}, min(valid, 1.0), extra


def distribution_from_positions(positions: list[dict[str, float]], chosen: list[str],
                                scale_min: int, scale_max: int) -> tuple[dict[int, float], float, dict]:
    """The older interface (per-position token -> probability maps): distribution, valid mass, extra."""
    token_positions = [
        TokenPosition(token=chosen[i] if i < len(chosen) else "", logprob=None,
                      top={t: math.log(p) for t, p in probs.items() if p > 0})
        for i, probs in enumerate(positions)
    ]
    found = answer_distribution(token_positions, scale_min, scale_max)
    if found is None:
        from whosevalues.models.base import BackendError
        raise BackendError("no token probabilities in the response", retryable=True)
    return found.distribution, found.valid_mass, found.extra


def is_one_hot(position: TokenPosition) -> bool:
    """Chosen token at about log 0 and every alternative at or below about -15: reported after sampling."""
    chosen = position.logprob if position.logprob is not None else position.top.get(position.token)
    if chosen is None or chosen < ONE_HOT_CHOSEN:
        return False
    alternatives = [lp for token, lp in position.top.items() if token != position.token]
    return bool(alternatives) and all(lp <= ONE_HOT_ALTERNATIVES for lp in alternatives)
