"""Answer distributions from next-token probabilities, and whether they can be trusted.

Provider-neutral: every backend hands over its positions as :class:`~whosevalues.models.base.TokenPosition`
(chosen token, its log probability, the alternatives the provider reported), and the rules below decide.

Which position holds the answer
    Models often write formatting before the number (``**4**``, `` "4"``, ``Answer: 4``). The answer is read
    at the first generated position where scale tokens carry the mass (at least half of it), skipping
    positions whose chosen token is only formatting. When no position reaches half, the first position whose
    chosen token is not formatting is the answer position and its (weak) mass is reported as it is.
    Positions inside inline reasoning (up to the last ``</think>``) are never answer positions.

Whose identifiers are counted
    The request's :class:`~whosevalues.instruments.variants.AnswerFormat` names the identifier of every
    answer position: the scale's numbers, or the variant's own ("A".."E" for ``letters``). The probability is
    read over those identifiers and mapped back to the canonical scale (reversed for ``recoded``: on 1-5 the
    token "2" is canonical 4). A ``text`` variant (answers in the option's words) cannot be read from one
    token: ``elicit.outcome`` samples it instead (:data:`TEXT_NOT_FROM_ONE_TOKEN`).

How the mass is counted (every tokenizer's spelling, ``elicit.tokens``)
    Every alternative whose text is an identifier once its tokenizer marks are removed adds its probability
    to that identifier: " 4", "4", "▁4" (SentencePiece), "Ġ4" (byte-level BPE) and "４" (fullwidth, NFKC)
    are all 4, and duplicate spellings are summed. Identifiers compare exactly (case kept: "b" is not "B",
    since "a" and "i" are words). A multi-digit token counts only when it is itself an identifier ("10" on
    1-10; "45" on 1-5 counts for nothing). ``valid_mass`` is the total before renormalising.

An identifier that may start a longer one ("1" before "10")
    A tokenizer that spells "10" as "1" + "0" (Qwen, Llama 2, Gemma) makes the "1" token ambiguous. When the
    position also offers a whole "10" token, the tokenizer spells ten in one token and "1" is 1. Otherwise:

    - the sampled token is "1" and the next position was returned: P("0" | "1") is read there (only tokens
      that continue the number, with no space or word mark before them) and the "1" mass, every spelling of
      it, is split between 1 and 10 by that conditional (``extra["split"]``, said in ``note``);
    - else the split cannot be read from this reply (``extra["unsplit"]``). When the mean could be off by
      more than :data:`MAX_UNSPLIT_ERROR` scale points, the position is ``unreadable`` and the item is
      sampled instead; below that the "1" mass stays on 1 and ``note`` says so with the bound.

A letter that began a word
    Any letter may start a word ("A" + "pples", "B" + "'s"), and "A" and "I" are words ("I" + " think").
    When the sampled token is a letter identifier and the next sampled token shows that it began a word, the
    position is ``unreadable`` (sampled instead): how much of the letter's mass was a word cannot be told.

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

from whosevalues.elicit.tokens import continuation_text, token_identifier
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import TokenPosition

#: below this share of the mass on scale tokens a position is not yet the answer (formatting may follow)
CARRIES_MASS = 0.5
#: a chosen token at or above this log probability is "certain" ...
ONE_HOT_CHOSEN = -1e-3
#: ... and a one-hot position has every alternative at or below this one
ONE_HOT_ALTERNATIVES = -15.0
#: an unsplit "1" (maybe the start of "10") is read as 1 only while the mean can be off by at most this
#: many points of the scale; above it the item is sampled instead
MAX_UNSPLIT_ERROR = 0.01
#: said when a ``text`` variant arrives in distribution mode: its answers are words, not one token
TEXT_NOT_FROM_ONE_TOKEN = ("answers by the option's words (a text variant) cannot be read from one token's "
                           "probabilities")
# Why a position cannot be read as a distribution (``AnswerDistribution.unreadable_reason``, then the stored
# answer's ``reason``): a "1" that may start "10" left unsplit, a letter that began a word, a text variant.
UNSPLIT_PREFIX = "unsplit_prefix"
LETTER_BEGAN_WORD = "letter_began_word"
TEXT_VARIANT = "text_variant"
#: each unreadable reason -> how a run note says it (``elicit.followup``)
UNREADABLE_REASONS = {UNSPLIT_PREFIX: "a '1' that may start '10' and the reply could not split",
                      LETTER_BEGAN_WORD: "a letter that began a word",
                      TEXT_VARIANT: "a text variant, whose answer is words, not one token"}
#: single letters that are English words by themselves, so a space and a word may follow them
LETTERS_THAT_ARE_WORDS = frozenset("AI")

# Tokens that carry no content: whitespace, markdown, quotes, brackets, colons, and "Answer"-like lead-ins.
_FORMATTING_CHARS = re.compile(r"[\s*_`#\"'“”‘’「」『』()\[\]{}:：.,，。\-–—>|▁ĠĊ]+")
_LEAD_INS = {"", "answer", "answers", "myanswer", "finalanswer", "rating", "score", "response", "choice",
             "答案", "回答", "我的回答", "评分", "选择", "选项"}


@dataclass
class AnswerDistribution:
    """The distribution read at ``position`` (canonical value -> probability, renormalised over the valid
    answers); ``valid_mass`` is the identifiers' share before renormalising.

    ``unreadable``: why this position cannot be read as a distribution (the item is sampled instead), or "";
    ``unreadable_reason``: the same as a field (:data:`UNSPLIT_PREFIX` or :data:`LETTER_BEGAN_WORD`), or "";
    ``note``: what the reader did that the outcome detail must say (a "1"/"10" split, an unsplit "1").
    """

    distribution: dict[int, float]
    valid_mass: float
    position: int | None
    extra: dict[str, Any] = field(default_factory=dict)
    unreadable: str = ""
    unreadable_reason: str = ""
    note: str = ""


def as_int(token: str) -> int | None:
    """The number a token spells at the start of an answer (any tokenizer's spelling), or None."""
    text = token_identifier(token)
    return int(text) if text.isascii() and text.isdigit() else None


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


def identifier_probabilities(probs: dict[str, float], identifiers: tuple[str, ...]) -> dict[str, float]:
    """Probability of every identifier at one position, every tokenizer spelling of it summed."""
    mass = dict.fromkeys(identifiers, 0.0)
    for token, prob in probs.items():
        identifier = token_identifier(token)
        if identifier in mass:
            mass[identifier] += prob
    return mass


def _format(answer_format: AnswerFormat | None, scale_min: int, scale_max: int) -> AnswerFormat:
    return answer_format or AnswerFormat(scale_min=scale_min, scale_max=scale_max)


def scale_mass(probs: dict[str, float], scale_min: int, scale_max: int,
               answer_format: AnswerFormat | None = None) -> float:
    identifiers = _format(answer_format, scale_min, scale_max).answer_identifiers
    return sum(identifier_probabilities(probs, identifiers).values())


def first_answer_position(positions: list[TokenPosition], scale_min: int, scale_max: int,
                          answer_format: AnswerFormat | None = None) -> int | None:
    """Index of the position holding the answer (module docstring), or None when there is no candidate."""
    start = 0
    for index, position in enumerate(positions):
        if "</think>" in position.token:
            start = index + 1  # inline reasoning ends here; nothing before it is an answer
    best, best_mass = None, 0.0
    for index in range(start, len(positions)):
        position = positions[index]
        mass = scale_mass(probabilities(position), scale_min, scale_max, answer_format)
        if mass >= CARRIES_MASS or not is_formatting(position.token):
            return index
        if mass > best_mass:
            best, best_mass = index, mass
    return best  # formatting only: the position where the scale had most mass, if any


def answer_distribution(positions: list[TokenPosition] | None, scale_min: int, scale_max: int,
                        answer_format: AnswerFormat | None = None) -> AnswerDistribution | None:
    """The answer distribution of one reply on the canonical scale, or None when the reply carries no token
    probabilities. ``answer_format``: the variant asked (None: the scale's own numbers, ``original``)."""
    fmt = _format(answer_format, scale_min, scale_max)
    if not positions:
        return None
    index = first_answer_position(positions, scale_min, scale_max, fmt)
    if index is None:
        return AnswerDistribution({v: 0.0 for v in range(scale_min, scale_max + 1)}, 0.0, None,
                                  {"answer_position": None})
    following = positions[index + 1] if index + 1 < len(positions) else None
    found = _read_position(positions[index], following, fmt)
    found.position = index
    found.extra["answer_position"] = index
    return found


def _read_position(here: TokenPosition, following: TokenPosition | None, fmt: AnswerFormat) -> AnswerDistribution:
    identifiers = fmt.answer_identifiers
    mass = identifier_probabilities(probabilities(here), identifiers)
    extra: dict[str, Any] = {}
    notes: list[str] = []
    unsplit = _split_prefixes(mass, here, following, identifiers, extra, notes)
    valid = sum(mass.values())
    by_value = {fmt.canonical_of_position(j): (mass[ident] / valid if valid > 0 else 0.0)
                for j, ident in enumerate(identifiers)}
    distribution = dict(sorted(by_value.items()))
    found = AnswerDistribution(distribution, min(valid, 1.0) if valid > 0 else 0.0, None, extra)
    unsplit_verdict = _unsplit_verdict(unsplit, mass, valid, fmt, notes)
    if unsplit_verdict:
        found.unreadable, found.unreadable_reason = unsplit_verdict, UNSPLIT_PREFIX
    else:
        found.unreadable = _letter_began_word(here, following, identifiers)
        found.unreadable_reason = LETTER_BEGAN_WORD if found.unreadable else ""
    found.note = "; ".join(notes)
    return found


def _longer(identifiers: tuple[str, ...]) -> dict[str, list[str]]:
    """Identifier -> the longer identifiers it could be the start of ("1" -> ["10"] on 1-10)."""
    return {p: [q for q in identifiers if q != p and q.startswith(p)] for p in identifiers}


def _split_prefixes(mass: dict[str, float], here: TokenPosition, following: TokenPosition | None,
                    identifiers: tuple[str, ...], extra: dict, notes: list[str]) -> dict[str, list[str]]:
    """Split the mass of each identifier that may start a longer one (module docstring), in place.
    Returns the prefixes left unsplit, with the longer identifiers their mass may belong to."""
    spelled_whole = {token_identifier(token) for token in here.top} | {token_identifier(here.token)}
    unsplit: dict[str, list[str]] = {}
    for prefix, longer in _longer(identifiers).items():
        if not longer or mass[prefix] <= 0 or spelled_whole & set(longer):
            continue  # nothing to split, or the tokenizer spells the longer value as one token
        if token_identifier(here.token) == prefix and following is not None:
            after = probabilities(following)
            shares = {q: sum(p for t, p in after.items() if _continues(t, q[len(prefix):])) for q in longer}
            begun = mass[prefix]
            for q, share in shares.items():
                mass[q] += begun * share
            mass[prefix] = begun * (1 - sum(shares.values()))
            extra.setdefault("split", {})[prefix] = sum(shares.values())
            notes.append(f"'{prefix}' may start {'/'.join(repr(q) for q in longer)}: split by the next position "
                         f"(P(continue)={sum(shares.values()):.4f})")
        else:
            extra.setdefault("unsplit", {})[prefix] = mass[prefix]
            unsplit[prefix] = longer
    return unsplit


def _continues(token: str, rest: str) -> bool:
    """Whether a token continues a number with ``rest`` ("0" after "1"), and nothing more that is a digit."""
    text = continuation_text(token)
    if text is None or not text.startswith(rest):
        return False
    tail = text[len(rest):]
    return not tail or not tail[0].isalnum()


def _unsplit_verdict(unsplit: dict[str, list[str]], mass: dict[str, float], valid: float, fmt: AnswerFormat,
                     notes: list[str]) -> str:
    """"" when the unsplit mass moves the mean by at most MAX_UNSPLIT_ERROR (said in notes), else the reason."""
    if not unsplit or valid <= 0:
        return ""
    position = {ident: j for j, ident in enumerate(fmt.answer_identifiers)}
    bound = 0.0
    for prefix, longer in unsplit.items():
        value = fmt.canonical_of_position(position[prefix])
        furthest = max(abs(fmt.canonical_of_position(position[q]) - value) for q in longer)
        bound += furthest * mass[prefix] / valid
    spelled = ", ".join(f"'{p}' (mass {mass[p]:.4f}) may start {'/'.join(repr(q) for q in unsplit[p])}"
                        for p in unsplit)
    if bound > MAX_UNSPLIT_ERROR:
        return (f"{spelled} and this reply does not tell which (the mean could be off by {bound:.3f}, more than "
                f"{MAX_UNSPLIT_ERROR:g})")
    notes.append(f"{spelled}: read as written, the mean is off by at most {bound:.4f}")
    return ""


def _letter_began_word(here: TokenPosition, following: TokenPosition | None, identifiers: tuple[str, ...]) -> str:
    """The reason a sampled letter identifier was the start of a word ("I" + " think"), or ""."""
    letter = token_identifier(here.token)
    if following is None or letter not in identifiers or not letter.isalpha():
        return ""
    glued = continuation_text(following.token)
    if glued and (glued[0].isalpha() or glued[0] in "'’"):
        return f"the letter '{letter}' began the word '{letter}{glued}'"
    spaced = token_identifier(following.token)
    if letter in LETTERS_THAT_ARE_WORDS and glued is None and spaced[:1].isalpha():
        return f"the letter '{letter}' was the word '{letter} {spaced}'"
    return ""


def distribution_from_positions(positions: list[dict[str, float]], chosen: list[str],
                                scale_min: int, scale_max: int) -> tuple[dict[int, float], float, dict]:
    """The older interface (per-position token -> probability maps): distribution, valid mass, extra
    (``extra["unreadable"]`` holds the reason when the position cannot be read as a distribution)."""
    token_positions = [
        TokenPosition(token=chosen[i] if i < len(chosen) else "", logprob=None,
                      top={t: math.log(p) for t, p in probs.items() if p > 0})
        for i, probs in enumerate(positions)
    ]
    found = answer_distribution(token_positions, scale_min, scale_max)
    if found is None:
        from whosevalues.models.base import BackendError
        raise BackendError("no token probabilities in the response", retryable=True)
    if found.unreadable:
        found.extra["unreadable"] = found.unreadable
    return found.distribution, found.valid_mass, found.extra


def is_one_hot(position: TokenPosition) -> bool:
    """Chosen token at about log 0 and every alternative at or below about -15: reported after sampling."""
    chosen = position.logprob if position.logprob is not None else position.top.get(position.token)
    if chosen is None or chosen < ONE_HOT_CHOSEN:
        return False
    alternatives = [lp for token, lp in position.top.items() if token != position.token]
    return bool(alternatives) and all(lp <= ONE_HOT_ALTERNATIVES for lp in alternatives)
