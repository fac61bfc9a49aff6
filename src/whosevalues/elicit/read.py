"""Reading a sample-mode answer in its question format, and mapping it to the canonical scale (issue 18).

``read_answer(text, answer_format, labels)`` returns a :class:`~whosevalues.elicit.parse.ParsedAnswer` whose
``value`` is on the survey's canonical scale, with the statuses of ``elicit.parse``. Which reader runs
depends on the :class:`~whosevalues.instruments.variants.AnswerFormat` only; no variant is a code path.

Numbers in the scale's direction, answer asked for (``original``, ``descending``, the paraphrases)
    ``elicit.parse.parse_answer`` exactly, with the labels the caller gave: the paper's reading, unchanged.

Numbers on a reversed scale (``recoded``)
    ``parse_answer`` reads the variant's number, then canonical = min + max - answer: "2" on 1-5 is 4,
    WVS "3" on 1-10 is 8. The labels it checks a number against are the variant's own words for that
    number ("2: Describes me fairly well" agrees in ``recoded``), so a bare label is read right too.

Letters (``letters``: A-E, A-J on the 10-point scale)
    A letter answers when it stands alone: "B", "B.", "(B)", "B)", "B: Slightly describes me",
    "Answer: B", "我选B". Upper case only, except a lower-case letter that is the whole answer or opens it
    before ")", "." or ":" ("b", "(b)", "b. slightly"): "a" and "i" are English words, and so are "A" and
    "I", which therefore do not count when a word follows them ("A good person", "I think") unless they
    are in brackets or follow a choice word ("The answer is A because"). A letter inside a word never
    counts ("Answer", "I'd"). One distinct letter is ``valid``; several are ``ambiguous``; none: the
    option's words alone count as that option (as a bare label does for numbers), else ``no_number``.
    A letter given with another option's words is valid; ``detail`` records the mismatch.

Option words (``text``; and ``unforced`` when no number is given)
    Matched in every language the format names (an English reply to a Chinese prompt counts), after the
    normalisation of ``elicit.parse`` (NFKC, reasoning and markdown removed), case-insensitively, English
    words only at word boundaries ("agree" is not in "disagree"). In order:

    1. the whole answer is one option's words ("对我的描述相当贴切" -> 4; trailing punctuation ignored);
    2. the answer contains options' words; an option's words found inside a longer option's words in the
       same place do not count on their own ("Strongly agree" is not also "agree"). Options sharing words
       ("Describes me fairly well", "Describes me extremely well") never match each other: a phrase counts
       only whole;
    3. only when nothing matched, the shortened forms a survey's options invite: an option without the
       opening or without the ending that all options of that language share ("相当贴切" for
       "对我的描述相当贴切"). The distinctive part alone ("相当") never counts.

    One option matched: ``valid``. None, or several: ``ambiguous`` (never a guess). Empty text is
    ``no_number``; refusal language without a single match is ``refusal``.

Not forced (``unforced``)
    A number is read as ``parse_answer`` reads it (in the variant's direction); an answer without a
    number is read by its option words as above, so prose that matches no option is ``ambiguous``.

The variant's own words per answer position come from the format's ``option_words`` (every language);
when it has none, from the caller's canonical labels, moved to the positions the variant gives them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from whosevalues.elicit.parse import (
    AMBIGUOUS,
    ERROR,
    NO_NUMBER,
    NO_NUMBER_DECIDED,
    REFUSAL,
    SEVERAL_OPTIONS,
    VALID,
    Labels,
    ParsedAnswer,
    label_texts,
    normalise_answer,
    parse_answer,
    refusal_in,
)
from whosevalues.instruments.variants import AnswerFormat

#: single letters that are English words by themselves ("A good person", "I think")
LETTERS_THAT_ARE_WORDS = frozenset("AI")
# A choice word right before a letter makes even "A" or "I" an answer ("The answer is A because ...").
_CHOICE_CUE = re.compile(r"(?:answer|option|choice|choose|chose|select|pick|\bis|would be|[:：]|选项?|选择|答案是?|"
                         r"回答是?)\s*[\"'“‘(\[（]?\s*$", re.IGNORECASE)
_LOWER_ALONE = r"^[(\[（]?{letter}(?:[)\]）.:：]\s*|[)\]）]?[.。]?$)"

WordGroups = list[tuple[str, ...]]  # per language: the words of every answer position ("" where none)


def read_answer(text: str | None, answer_format: AnswerFormat, labels: Labels | None = None) -> ParsedAnswer:
    """One raw answer in ``answer_format`` -> canonical value and status (module docstring).

    ``labels``: the survey's canonical labels (value -> label) in the prompt's language, as
    ``parse_answer`` takes them; the variant's own words are derived from the format.
    """
    fmt = answer_format
    if text is None:
        return ParsedAnswer(None, ERROR, "no text")
    groups = own_words(fmt, labels)
    if _reads_like_original(fmt):
        own = labels if labels is not None else _labels_of(groups, fmt)  # the same words, unless reversed
        return parse_answer(text, fmt.scale_min, fmt.scale_max, own)
    if fmt.by_text:
        found = _read_words(text, groups, fmt.scale_min)
    elif _are_numbers(fmt):
        found = _read_numbers(text, fmt, groups)
    else:
        found = _read_identifiers(text, fmt, groups)
    return _to_canonical(found, fmt)


def _reads_like_original(fmt: AnswerFormat) -> bool:
    return _are_numbers(fmt) and not fmt.reversed and fmt.forced and not fmt.by_text


def _are_numbers(fmt: AnswerFormat) -> bool:
    return fmt.answer_identifiers == tuple(str(v) for v in range(fmt.scale_min, fmt.scale_max + 1))


def own_words(fmt: AnswerFormat, labels: Labels | None) -> WordGroups:
    """The variant's own words per answer position, one group per language (module docstring)."""
    n = fmt.scale_max - fmt.scale_min + 1
    if fmt.option_words:
        return [tuple((words[j] if j < len(words) else "") or "" for j in range(n)) for _, words in fmt.option_words]
    if not labels:
        return []
    by_position = [label_texts(labels.get(fmt.canonical_of_position(j))) for j in range(n)]
    languages = max((len(texts) for texts in by_position), default=0)
    return [tuple(texts[k] if k < len(texts) else "" for texts in by_position) for k in range(languages)]


# -- numbers: recoded, unforced ----------------------------------------------------------------
def _read_numbers(text: str, fmt: AnswerFormat, groups: WordGroups) -> ParsedAnswer:
    parsed = parse_answer(text, fmt.scale_min, fmt.scale_max, _labels_of(groups, fmt))
    if fmt.forced or parsed.reason != NO_NUMBER_DECIDED:
        return parsed
    return _read_words(text, groups, fmt.scale_min)  # unforced, no number: the option's words decide


def _labels_of(groups: WordGroups, fmt: AnswerFormat) -> dict[int, tuple[str, ...]] | None:
    """Answer value -> the variant's own words in every language, as ``parse_answer`` takes labels."""
    if not groups:
        return None
    return {fmt.scale_min + j: tuple(g[j] for g in groups if g[j]) for j in range(fmt.scale_max - fmt.scale_min + 1)}


# -- letters and other identifiers -------------------------------------------------------------
def _read_identifiers(text: str, fmt: AnswerFormat, groups: WordGroups) -> ParsedAnswer:
    clean = normalise_answer(text)
    if not clean:
        return ParsedAnswer(None, NO_NUMBER, "empty answer")
    refusal = refusal_in(clean)
    found = sorted({j for j, ident in enumerate(fmt.answer_identifiers) if _identifier_in(clean, ident)})
    idents = fmt.answer_identifiers
    if len(found) == 1:
        value = fmt.scale_min + found[0]
        return ParsedAnswer(value, VALID, _identifier_detail(clean, found[0], groups, refusal))
    if refusal:
        return ParsedAnswer(None, REFUSAL, f"refusal: {refusal.group(0)!r}")
    if found:
        return ParsedAnswer(None, AMBIGUOUS, "several answers: " + ", ".join(idents[j] for j in found))
    by_words = _read_words(clean, groups, fmt.scale_min)
    if by_words.status == VALID:
        return ParsedAnswer(by_words.value, VALID, f"no identifier; {by_words.detail}")
    if by_words.reason == SEVERAL_OPTIONS:
        return by_words
    return ParsedAnswer(None, NO_NUMBER, f"no answer {idents[0]}-{idents[-1]} in the text")


def _identifier_in(clean: str, identifier: str) -> bool:
    """Whether the identifier stands alone in the answer as an answer (module docstring, Letters)."""
    pattern = re.compile(rf"(?<![A-Za-z0-9'’]){re.escape(identifier)}(?![A-Za-z0-9'’])")
    for match in pattern.finditer(clean):
        if identifier in LETTERS_THAT_ARE_WORDS and re.match(r"\s+[A-Za-z]", clean[match.end():]):
            before = clean[: match.start()]
            if not _CHOICE_CUE.search(before) and not before.rstrip().endswith(("(", "[", "（")):
                continue  # "A good person", "I think": a word, not an answer
        return True
    lower = identifier.lower()
    if lower != identifier and re.match(_LOWER_ALONE.format(letter=re.escape(lower)), clean):
        return True
    return False


def _identifier_detail(clean: str, position: int, groups: WordGroups, refusal: re.Match | None) -> str:
    notes = ["answer with disclaimer"] if refusal else []
    matched, _ = matching_options(clean, groups)
    if matched and position not in matched:
        notes.append(f"identifier of option {position + 1} given with the words of option {matched[0] + 1}; "
                     "the identifier counts")
    return "; ".join(notes)


# -- option words ------------------------------------------------------------------------------
def _read_words(text: str, groups: WordGroups, first_value: int) -> ParsedAnswer:
    """The answer value whose option words the answer gives (``first_value``: the value of position 0)."""
    clean = normalise_answer(text)
    if not clean:
        cut_reasoning = "<think>" in text.lower()
        return ParsedAnswer(None, NO_NUMBER, "reasoning cut off before an answer" if cut_reasoning else "empty answer")
    refusal = refusal_in(clean)
    matched, how = matching_options(clean, groups)
    if len(matched) == 1:
        detail = f"matched option {matched[0] + 1}'s words ({how})"
        return ParsedAnswer(first_value + matched[0], VALID, ("answer with disclaimer; " if refusal else "") + detail)
    if refusal:
        return ParsedAnswer(None, REFUSAL, f"refusal: {refusal.group(0)!r}")
    if matched:
        return ParsedAnswer(None, AMBIGUOUS, "several options' words: " + ", ".join(str(j + 1) for j in matched),
                            SEVERAL_OPTIONS)
    return ParsedAnswer(None, AMBIGUOUS, "matches no option's words")


def matching_options(clean: str, groups: WordGroups) -> tuple[list[int], str]:
    """The answer positions whose words the (normalised) answer gives, and how they were found."""
    answer = _squeeze(clean)
    whole = sorted({j for group in groups for j, words in enumerate(group) if words and _squeeze(words) == answer})
    if whole:
        return whole, "the whole answer"
    contained = _contained(answer, [(j, words) for group in groups for j, words in enumerate(group) if words])
    if contained:
        return contained, "in the answer"
    shortened = [(j, form) for group in groups for j, form in _shortened_forms(group)]
    found = _contained(answer, shortened)
    return found, "a shortened form" if found else ""


def _squeeze(text: str) -> str:
    text = re.sub(r"\s+", " ", normalise_answer(text)).lower()
    return text.strip(" .。!！?？,，;；:：\"'“”‘’()（）[]")


def _contained(answer: str, options: Sequence[tuple[int, str]]) -> list[int]:
    spans = []
    for j, words in options:
        needle = _squeeze(words)
        if not needle:
            continue
        for match in re.finditer(_bounded(needle), answer):
            spans.append((match.start(), match.end(), j))
    inside_longer = {(s, e, j) for s, e, j in spans
                     for s2, e2, k in spans if k != j and s2 <= s and e <= e2 and (e2 - s2) > (e - s)}
    return sorted({j for span in spans if span not in inside_longer for j in [span[2]]})


def _bounded(needle: str) -> str:
    """A regex for ``needle`` that, where it starts or ends with a Latin letter or digit, stops at a word
    boundary (Chinese has no spaces between words, so no boundary is asked there)."""
    start = r"(?<![a-z0-9])" if needle[0].isascii() and needle[0].isalnum() else ""
    end = r"(?![a-z0-9])" if needle[-1].isascii() and needle[-1].isalnum() else ""
    return start + re.escape(needle) + end


def _shortened_forms(group: tuple[str, ...]) -> list[tuple[int, str]]:
    """Each option without the opening, or without the ending, shared by every option of one language
    (shared whole words where the options are written with spaces, shared characters in Chinese)."""
    options = [(j, _squeeze(words)) for j, words in enumerate(group) if words]
    if len(options) < 2:
        return []
    spaced = any(" " in text for _, text in options)
    units = [text.split(" ") if spaced else list(text) for _, text in options]
    glue = " " if spaced else ""
    opening = len(os.path.commonprefix(units))
    ending = len(os.path.commonprefix([u[::-1] for u in units]))
    if any(len(u) <= opening + ending for u in units):
        return []  # some option has nothing of its own besides the shared parts
    forms = []
    for (j, _), unit in zip(options, units):
        if opening:
            forms.append((j, glue.join(unit[opening:])))  # "相当贴切"
        if ending:
            forms.append((j, glue.join(unit[: len(unit) - ending])))  # "对我的描述相当"
    return forms


# -- back to the canonical scale ---------------------------------------------------------------
def _to_canonical(found: ParsedAnswer, fmt: AnswerFormat) -> ParsedAnswer:
    if found.value is None:
        return found
    position = found.value - fmt.scale_min
    canonical = fmt.canonical(found.value)
    if fmt.by_text or (_are_numbers(fmt) and not fmt.reversed):
        return ParsedAnswer(canonical, found.status, found.detail, found.reason)
    said = f"answered {fmt.answer_identifiers[position]!r} = canonical {canonical}"
    return ParsedAnswer(canonical, found.status, "; ".join(part for part in (found.detail, said) if part),
                        found.reason)


__all__ = ["LETTERS_THAT_ARE_WORDS", "matching_options", "own_words", "read_answer"]
