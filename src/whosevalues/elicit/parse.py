"""Reading a model's raw answer as a point on the survey's scale, or as a status that says why not.

``parse_answer(text, scale_min, scale_max)`` returns a ``ParsedAnswer(value, status, detail)``. The raw text
is always stored before this runs (see ``elicit.store``), so a rule changed here can be re-applied to old runs.
These are the rules of the scale's own numbers (the ``original`` format); ``elicit.read`` reads the other
question formats (reversed numbers, letters, option words) with them and maps the answer to the canonical scale.

Statuses
--------
``valid``         exactly one answer on the scale; ``value`` holds it.
``out_of_range``  exactly one number, but off the scale ("0", "10" on 1-5), or an answer given on another
                  scale ("8/10" or "8 out of 10" on a 1-5 survey).
``ambiguous``     several different answers ("3 or 4", "3-4", the whole option list echoed), or a number
                  between two scale points ("3.5").
``refusal``       the model declines or disclaims ("As an AI, I don't have personal opinions", "我无法回答",
                  "作为一个人工智能…", "抱歉") and gives no single usable answer. Truncated refusals count
                  ("As an AI language model, I" at max_tokens 10).
``no_number``     text with no answer in it: empty text, "NA", reasoning cut off before the answer
                  ("I need to select a number from 1-", "To determine the answer:\\n\\n1. Reflect").
``no_answer_budget`` (decided in ``elicit.outcome``, not here) the token budget ran out before any answer
                  text, even after asking again with larger budgets up to the model's cap.
``sampled_instead`` (``elicit.outcome``) a distribution-mode answer too weak to trust; the item was sampled.
``error``         no text at all (``None``): the request failed or the provider returned no message. The
                  runner also records backend failures as ``error``; those are retried on the next run.

Empty text is ``no_number``, not ``error``: the request succeeded and the model said nothing, which is an
answer-level outcome a survey would record as item non-response.

Rules (in this order), chosen so that a survey methodologist could defend every verdict:

1. Normalise: Unicode NFKC (full-width digits "４" -> "4", "：" -> ":", circled "③" -> "3"), drop
   ``<think>…</think>`` reasoning (an unclosed ``<think>`` drops everything after it), drop markdown
   emphasis (``**4**`` -> ``4``), strip whitespace and quotes.
2. Remove echoes of the question, which are not answers:
   - the scale's own range: "1-5", "1 to 10", "between 1 and 5", "1（完全不能接受）到10", "1到5";
   - a range cut off by max_tokens: "a number from 1-", "between 1" at the very end of the text;
   - the denominator when it is the scale maximum: "7 out of 10", "7/10", "满分10分" (-> 7). A
     denominator that is NOT the scale maximum ("4 out of 10" on 1-5) means the model answered on another
     scale: ``out_of_range``, whatever the numerator;
   - the numbers of an enumerated list of reasoning steps ("...answer:\\n\\n1. Reflect on ..."): a list
     starting at "1." below a first line that ends in ":". A line that is the scale's label for its number
     stays an answer ("Answer:\\n1. Does not describe me at all", when ``labels`` are given), and so does
     a single line not starting at 1 ("Answer:\\n4. Describes me fairly well").
3. Collect the answers left: Arabic numbers (not glued to a letter, so "Q177" and "GPT-4" are not answers;
   "10" is ten, never "1" then "0"), and Chinese numerals (一..九, 十, 十一.., 两) only where they can only be
   a number: at the start of the answer or after a choice word (选择, 选项, 答案, 评分, 打, 给, 为, 是), and
   followed by the end, punctuation or 分 ("五", "五分。", "十分" alone -> 10). "十分贴切" ("very apt"),
   "一点也不" ("not at all") and "一个" are words, not numbers, and are never read as answers.
   A trailing 分 ("4分") is the unit "points".
4. Verdict:
   - one distinct number, on the scale -> ``valid``; repeats of it ("4: ... 4") are the same answer. A
     scale label that follows it is fine ("4: Describes me fairly well", "4:对我的描述相当贴切"). If the
     label belongs to another number ("3: 对我的描述有点贴切", the label of 2) the number counts, because the
     instruction asked for a number; ``detail`` records the mismatch (needs ``labels``).
     A disclaimer plus one answer ("As an AI I have no opinions, but I'd say 3") is ``valid`` with detail
     "answer with disclaimer": the model did answer, and the paper counts any sample holding a number on
     the scale.
   - refusal language and no single answer on the scale -> ``refusal`` (refusal wins over
     ambiguous/out_of_range/no_number: the text declines).
   - several distinct numbers (or a fraction) -> ``ambiguous``.
   - one number off the scale, or another scale's denominator -> ``out_of_range``.
   - no number: the text of exactly one scale label ("Describes me fairly well", "对我的描述相当贴切") ->
     ``valid`` by label (needs ``labels``); otherwise ``no_number``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

VALID = "valid"
OUT_OF_RANGE = "out_of_range"
AMBIGUOUS = "ambiguous"
REFUSAL = "refusal"
NO_NUMBER = "no_number"
ERROR = "error"
# decided in elicit.outcome, not from text: the budget ran out on reasoning; a weak distribution replaced by samples
NO_ANSWER_BUDGET = "no_answer_budget"
SAMPLED_INSTEAD = "sampled_instead"
#: what ``parse_answer`` can say (``elicit.outcome.STATUSES`` adds the two decided from the reply)
STATUSES = (VALID, OUT_OF_RANGE, AMBIGUOUS, REFUSAL, NO_NUMBER, ERROR)
#: the details of verdicts reached from the scale's labels, not from a number
LABEL_ONLY = "scale label without its number"
SEVERAL_LABELS = "several scale labels"
NO_ANSWER_IN_TEXT = "no answer on the scale in the text"
# ``ParsedAnswer.reason``: what decided a reading where a caller acts on it (``elicit.read``), as a field
#: no number decided: one scale label, several, or nothing on the scale (``elicit.read`` may read option words)
NO_NUMBER_DECIDED = "no_number_decided"
#: the words of several options (``elicit.read``)
SEVERAL_OPTIONS = "several_options"
#: value -> its label text, or its label texts (one per language: a label in any of them counts)
Labels = Mapping[int, "str | Sequence[str]"]

__all__ = ["ParsedAnswer", "parse_answer", "is_refusal", "refusal_in", "label_texts", "normalise_answer", "Labels",
           "STATUSES",
           "VALID", "OUT_OF_RANGE", "AMBIGUOUS", "REFUSAL", "NO_NUMBER", "ERROR",
           "NO_ANSWER_BUDGET", "SAMPLED_INSTEAD"]


@dataclass(frozen=True)
class ParsedAnswer:
    value: int | None
    status: str
    detail: str = ""
    #: NO_NUMBER_DECIDED, SEVERAL_OPTIONS, else "" (not compared: the detail says the same in words)
    reason: str = field(default="", compare=False)

    @property
    def is_valid(self) -> bool:
        return self.status == VALID


# -- refusals ----------------------------------------------------------------------------------
# Phrases that decline or disclaim. Matched on lower-cased, NFKC-normalised text; kept specific so that an
# answer's own words ("I can", "no") never trigger them.
_REFUSAL_EN = [
    r"\bas an? (?:ai|a\.i\.|artificial intelligence|language model|large language model|llm|assistant|"
    r"ai (?:language model|assistant|model))\b",
    r"\bas an?\s+(?:helpful\s+)?(?:ai|language)\b",
    r"\bi(?:'m| am) (?:just |only )?(?:an? )?(?:ai|language model|artificial intelligence|chatbot|"
    r"virtual assistant)\b",
    r"\bi (?:don't|do not|didn't) (?:have|hold|possess) (?:any )?(?:personal|my own|own)?\s*"
    r"(?:opinions?|beliefs?|views?|feelings?|experiences?|preferences?|values?|emotions?)\b",
    r"\bi (?:cannot|can't|can not|am unable to|am not able to|won't|will not|must decline to|"
    r"refuse to|prefer not to|would rather not) "
    r"(?:answer|respond|provide|give|share|express|rate|choose|select|pick|comply|assist|help|"
    r"offer|form|have|make|participate|engage|evaluate|assess)\b",
    r"\bi'?m (?:sorry|unable|not able)\b",
    r"\bi am (?:sorry|unable)\b",
    r"\bi apologi[sz]e\b",
    r"\bi must (?:decline|refrain)\b",
    r"\b(?:unable|not able) to (?:answer|provide|respond|give|share|express)\b",
    r"\bnot (?:appropriate|possible) for me to\b",
]
_REFUSAL_ZH = [
    r"作为(?:一个|一名|一款|一位)?(?:人工智能|ai|语言模型|大语言模型|大型语言模型|智能助手|助手|机器人)",
    r"我(?:只)?是(?:一个|一名|一款)?(?:人工智能|ai|语言模型|大语言模型|机器人)",
    r"我(?:并)?没有(?:任何)?(?:个人|自己的|自身的|主观)的?(?:观点|意见|看法|感受|情感|立场|信仰|价值观|偏好|经历|体验)",
    r"(?:我|本人)?(?:无法|不能|不便|不会|难以|没办法)(?:直接)?(?:回答|提供|表达|给出|评价|评估|做出|作出|选择|"
    r"评分|打分|回复|参与|发表)",
    r"抱歉|对不起|很遗憾|请谅解|恕我",
]
_REFUSAL_RE = re.compile("|".join(_REFUSAL_EN + _REFUSAL_ZH))


def is_refusal(text: str) -> bool:
    """Whether the text declines or disclaims (English or Chinese)."""
    return refusal_in(_normalise(text)) is not None


def refusal_in(clean: str) -> re.Match | None:
    """The refusal phrase in an already normalised answer, if any."""
    return _REFUSAL_RE.search(clean.lower())


# -- numbers -----------------------------------------------------------------------------------
# An Arabic number not glued to a letter ("GPT-4") and not the tail of a decimal; a minus sign counts only
# where it cannot be a dash between two numbers ("-1" alone is out of range, "3-4" is two answers).
_ARABIC = re.compile(r"(?<![A-Za-z\d])(?<![A-Za-z]-)(?<!\d\.)((?:(?<![^\s:(])-)?\d+(?:\.\d+)?)")
_CN_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8,
              "九": 9}
_CN_NUMERAL = r"(?:[一二两三四五六七八九]?十[一二三四五六七八九]?|[零〇一二两三四五六七八九])"
# Where a Chinese numeral can only be a number: at the start, or right after a word that introduces a choice.
_CN_CUE = r"(?:^|选择了?|选项|选|答案是?|回答是?|评分为?|打分为?|打|给出?|为|是)"
_BOUNDARY = r"(?=分?(?:$|[\s,.!?:;)\]\"'。、」』]))"
_CN_ANSWER = re.compile(rf"{_CN_CUE}[\s:\"'「『]*({_CN_NUMERAL}){_BOUNDARY}")
_LIST_LINE = re.compile(r"^[ \t]*(\d+)[.)][ \t]+(\S.*)$", re.MULTILINE)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)


def _cn_value(numeral: str) -> int:
    if "十" not in numeral:
        return _CN_DIGITS[numeral]
    tens, _, units = numeral.partition("十")
    return (_CN_DIGITS[tens] if tens else 1) * 10 + (_CN_DIGITS[units] if units else 0)


def _normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _THINK.sub(" ", text)
    if "<think>" in text.lower():  # reasoning cut off by max_tokens before any answer
        text = text[: text.lower().index("<think>")]
    text = re.sub(r"[*`#_]+", "", text)
    return text.strip().strip("\"'“”‘’「」").strip()


def normalise_answer(text: str) -> str:
    """Rule 1 of the module docstring (NFKC, reasoning, markdown, quotes): what every reader of answers reads."""
    return _normalise(text)


def _blank(text: str, match: re.Match) -> str:
    """Replace a match by spaces, keeping positions (and line structure) intact."""
    return text[: match.start()] + " " * (match.end() - match.start()) + text[match.end():]


def _sub_blank(pattern: re.Pattern, text: str) -> str:
    return pattern.sub(lambda m: " " * (m.end() - m.start()), text)


def _scale_echo_patterns(lo: int, hi: int) -> list[re.Pattern]:
    n_lo, n_hi = rf"(?<!\d)0*{lo}(?!\d)", rf"(?<!\d)0*{hi}(?!\d)"
    paren = r"(?:\s*\([^()\n]{0,40}\))?"
    connector = r"\s*(?:-|–|—|~|to|through|thru|至|到)\s*"
    return [
        re.compile(rf"{n_lo}{paren}{connector}{n_hi}{paren}", re.IGNORECASE),
        re.compile(rf"between\s+{n_lo}{paren}\s+and\s+{n_hi}", re.IGNORECASE),
        # A range cut off by max_tokens: "from 1-", "between 1", "1到" at the very end of the text.
        re.compile(rf"(?:(?:from|between|of|从|在)\s*{n_lo}(?:{connector})?|{n_lo}{connector})\s*$", re.IGNORECASE),
    ]


_DENOMINATOR = re.compile(r"(?:\bout\s+of\s*|/\s*|满分\s*|总分\s*)(\d+)(?!\d)\s*分?", re.IGNORECASE)


def _remove_denominators(text: str, hi: int) -> tuple[str, int | None]:
    """Blank out "out of N" / "/N" / "满分N分"; return the first denominator that is not the scale maximum."""
    other: int | None = None
    for match in reversed(list(_DENOMINATOR.finditer(text))):
        if int(match.group(1)) != hi:
            other = int(match.group(1))
        text = _blank(text, match)
    return text, other


def _remove_list_markers(text: str, labels: Labels | None) -> str:
    """Numbers of a reasoning list ("...answer:\\n\\n1. Reflect on") are not answers."""
    lines = text.split("\n")
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    offset = len("\n".join(lines[: first + 1])) + 1
    tail = text[offset:]
    markers = list(_LIST_LINE.finditer(tail))
    # A list of steps starts at 1 after a lead-in line ending in ":"; "Answer:\n4. ..." is an answer.
    if not text[:offset].rstrip().endswith(":") or not markers or markers[0].group(1) != "1":
        return text
    for match in reversed(markers):
        texts = label_texts((labels or {}).get(int(match.group(1))))
        if any(match.group(2).lower().startswith(_normalise(label).lower()) for label in texts):
            continue
        tail = tail[: match.start(1)] + " " * len(match.group(1)) + tail[match.end(1):]
    return text[:offset] + tail


def _numbers(text: str) -> list[float]:
    found = [float(m.group(1)) for m in _ARABIC.finditer(text)]
    found += [float(_cn_value(m.group(1))) for m in _CN_ANSWER.finditer(text)]
    return found


def label_texts(label: str | Sequence[str] | None) -> tuple[str, ...]:
    """A value's label texts: one text, or several (the same option in each of the survey's languages)."""
    if not label:
        return ()
    return (label,) if isinstance(label, str) else tuple(text for text in label if text)


def _labels_in(text: str, labels: Labels) -> list[int]:
    squeezed = re.sub(r"\s+", " ", text).lower()
    return [value for value, label in labels.items()
            if any(re.sub(r"\s+", " ", _normalise(one)).lower() in squeezed for one in label_texts(label))]


# -- the parser --------------------------------------------------------------------------------
def parse_answer(text: str | None, scale_min: int, scale_max: int,
                 labels: Labels | None = None) -> ParsedAnswer:
    """One raw answer -> value and status (see the module docstring for every rule).

    ``labels`` (value -> label text in the prompt's language, e.g. ``instrument.scale.labels["en"]``) is
    optional: with it a bare label counts as its value, and a number given with another number's label
    is flagged in ``detail``. A value may carry several label texts (one per language); any of them counts.
    """
    if text is None:
        return ParsedAnswer(None, ERROR, "no text")
    clean = _normalise(text)
    if not clean:
        cut_reasoning = "<think>" in text.lower()
        return ParsedAnswer(None, NO_NUMBER, "reasoning cut off before an answer" if cut_reasoning else "empty answer")
    refusal = _REFUSAL_RE.search(clean.lower())

    masked = clean
    for pattern in _scale_echo_patterns(scale_min, scale_max):
        masked = _sub_blank(pattern, masked)
    masked, other_scale = _remove_denominators(masked, scale_max)
    masked = _remove_list_markers(masked, labels)
    numbers = _numbers(masked)
    distinct = sorted(set(numbers))
    scale = f"{scale_min}-{scale_max}"

    if len(distinct) == 1 and other_scale is None and distinct[0].is_integer() \
            and scale_min <= distinct[0] <= scale_max:
        value = int(distinct[0])
        return ParsedAnswer(value, VALID, _valid_detail(clean, value, labels, refusal))
    if refusal:
        return ParsedAnswer(None, REFUSAL, f"refusal: {refusal.group(0)!r}")
    if other_scale is not None:
        return ParsedAnswer(None, OUT_OF_RANGE, f"answered on a 1-{other_scale} scale, not {scale}")
    if len(distinct) > 1:
        return ParsedAnswer(None, AMBIGUOUS, "several answers: " + ", ".join(_fmt(n) for n in distinct))
    if len(distinct) == 1 and not distinct[0].is_integer():
        return ParsedAnswer(None, AMBIGUOUS, f"{_fmt(distinct[0])} lies between two points of the scale")
    if len(distinct) == 1:
        return ParsedAnswer(None, OUT_OF_RANGE, f"{_fmt(distinct[0])} is outside the scale {scale}")
    if labels:
        matched = _labels_in(clean, labels)
        if len(matched) == 1:
            return ParsedAnswer(matched[0], VALID, LABEL_ONLY, NO_NUMBER_DECIDED)
        if len(matched) > 1:
            return ParsedAnswer(None, AMBIGUOUS, f"{SEVERAL_LABELS}: " + ", ".join(map(str, sorted(matched))),
                                NO_NUMBER_DECIDED)
    return ParsedAnswer(None, NO_NUMBER, NO_ANSWER_IN_TEXT, NO_NUMBER_DECIDED)


def _valid_detail(clean: str, value: int, labels: Labels | None, refusal: re.Match | None) -> str:
    notes = []
    if refusal:
        notes.append("answer with disclaimer")
    if labels:
        others = [v for v in _labels_in(clean, labels) if v != value]
        if others and value not in _labels_in(clean, labels):
            notes.append(f"number {value} given with the label of {others[0]}; the number counts")
    return "; ".join(notes)


def _fmt(number: float) -> str:
    return str(int(number)) if number.is_integer() else str(number)
