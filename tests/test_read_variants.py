"""Reading answers in every question format (issue 18 item 1): hand-computed canonical values, both languages.

The AnswerFormats are built by hand from the bundled MFQ-2 and WVS-7 labels, the way a survey file's variants
describe them: position j of a variant is answer value min + j; ``recoded`` reverses the numbers, so its option
words run from the other end of the scale.
"""

from __future__ import annotations

import pytest

from whosevalues.elicit.outcome import decide
from whosevalues.elicit.parse import AMBIGUOUS, NO_NUMBER, REFUSAL, VALID, parse_answer
from whosevalues.elicit.read import matching_options, read_answer
from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import ProviderReply

MFQ = load_instrument("mfq2").scale
WVS = load_instrument("wvs7").scale
EN = tuple(MFQ.labels["en"][v] for v in range(1, 6))
ZH = tuple(MFQ.labels["zh"][v] for v in range(1, 6))
WORDS = (("en", EN), ("zh", ZH))
REVERSED_WORDS = (("en", EN[::-1]), ("zh", ZH[::-1]))

RECODED = AnswerFormat("recoded", 1, 5, reversed=True, option_words=REVERSED_WORDS)
LETTERS = AnswerFormat("letters", 1, 5, identifiers=tuple("ABCDE"), option_words=WORDS)
TEXT = AnswerFormat("text", 1, 5, by_text=True, option_words=WORDS)
UNFORCED = AnswerFormat("unforced", 1, 5, forced=False, option_words=WORDS)
DESCENDING = AnswerFormat("descending", 1, 5, listed_descending=True, option_words=WORDS)
WVS_RECODED = AnswerFormat("recoded", 1, 10, reversed=True)
WVS_LETTERS = AnswerFormat("letters", 1, 10, identifiers=tuple("ABCDEFGHIJ"))


def read(text, fmt, labels=None):
    found = read_answer(text, fmt, labels)
    return found.value, found.status


# -- the issue's hand-computed examples --------------------------------------------------------
def test_the_issues_examples():
    assert read("2", RECODED) == (4, VALID)  # recoded 2 on 1-5 is canonical 4
    assert read("B", LETTERS) == (2, VALID)
    assert read("对我的描述相当贴切", TEXT) == (4, VALID)
    assert read("3", WVS_RECODED) == (8, VALID)  # 1 + 10 - 3


# -- numbers on a reversed scale ----------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("1", 5), ("5", 1), ("3", 3), (" 2\n", 4), ("２", 4),
    ("2: Describes me fairly well", 4),  # the variant's own words for 2
    ("2:对我的描述相当贴切", 4),
    ("Describes me fairly well", 4),  # a bare label is read in the variant's numbering
    ("对我的描述一点也不贴切", 1),
])
def test_recoded_numbers_map_back_in_both_languages(text, expected):
    assert read(text, RECODED) == (expected, VALID)


def test_recoded_label_check_uses_the_variants_own_words():
    # "4: Describes me fairly well" is a mismatch in recoded (4 is "Slightly describes me" there) ...
    mismatch = read_answer("4: Describes me fairly well", RECODED)
    assert (mismatch.value, mismatch.status) == (2, VALID)
    assert "given with the label of 2" in mismatch.detail and "answered '4' = canonical 2" in mismatch.detail
    # ... and "2: Describes me fairly well" is not
    assert "label of" not in read_answer("2: Describes me fairly well", RECODED).detail


def test_recoded_without_option_words_moves_the_callers_canonical_labels():
    bare = AnswerFormat("recoded", 1, 5, reversed=True)
    assert read("Slightly describes me", bare, MFQ.labels["en"]) == (2, VALID)  # canonical 2 = recoded 4
    found = read_answer("4: Slightly describes me", bare, MFQ.labels["en"])
    assert (found.value, found.status) == (2, VALID) and "label of" not in found.detail


@pytest.mark.parametrize("text, expected", [("1", 10), ("10", 1), ("3", 8), ("8", 3), ("１０", 1)])
def test_wvs_recoded(text, expected):
    assert read(text, WVS_RECODED) == (expected, VALID)


def test_out_of_range_and_ambiguous_stay_what_they_were():
    assert read("6", RECODED) == (None, "out_of_range")
    assert read("2 or 3", RECODED) == (None, AMBIGUOUS)
    assert read("As an AI I have no opinions", RECODED) == (None, REFUSAL)


# -- letters -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("B", 2), ("B.", 2), ("(B)", 2), ("B)", 2), ("B: Slightly describes me", 2), ("**B**", 2), ("Ｂ", 2),
    ("Answer: B", 2), ("The answer is B because it fits.", 2), ("我选B。", 2), ("B:对我的描述有点贴切", 2),
    ("b", 2), ("(b)", 2), ("b. slightly describes me", 2),
    ("A", 1), ("E", 5), ("The answer is A because", 1), ("(A) Does not describe me at all", 1),
    ("I think D", 4),  # "I" followed by a word is the pronoun, not an answer
    ("A good person would say C", 3),  # "A" followed by a word is the article
    ("Slightly describes me", 2),  # the option's words alone, as a bare label counts for numbers
    ("对我的描述极其贴切", 5),
])
def test_letters_are_read_by_position(text, expected):
    assert read(text, LETTERS) == (expected, VALID)


@pytest.mark.parametrize("text, status", [
    ("A: Does not describe me at all\nB: Slightly describes me\nC: Moderately describes me", AMBIGUOUS),
    ("B or C", AMBIGUOUS),
    ("2", NO_NUMBER),  # a number is not an answer where letters were asked
    ("be kind", NO_NUMBER),  # a lower-case letter inside running text never counts
    ("Answer", NO_NUMBER),
    ("", NO_NUMBER),
    ("As an AI, I don't have personal opinions.", REFUSAL),
])
def test_letters_that_are_not_one_answer(text, status):
    assert read(text, LETTERS) == (None, status)


def test_letter_given_with_another_options_words_counts_and_is_said():
    found = read_answer("C: Slightly describes me", LETTERS)
    assert (found.value, found.status) == (3, VALID)
    assert "words of option 2" in found.detail


def test_ten_point_letters_map_to_canonical():
    assert read("J", WVS_LETTERS) == (10, VALID)
    assert read("I", WVS_LETTERS) == (9, VALID)  # alone, "I" is the letter
    assert read("(I)", WVS_LETTERS) == (9, VALID)
    assert read("I would pick C", WVS_LETTERS) == (3, VALID)
    reversed_letters = AnswerFormat("letters_desc", 1, 10, identifiers=tuple("ABCDEFGHIJ"), reversed=True)
    assert read("C", reversed_letters) == (8, VALID)


# -- option words (text) -----------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("对我的描述相当贴切", 4), ("对我的描述相当贴切。", 4), ("“对我的描述一点也不贴切”", 1),
    ("Describes me fairly well", 4), ("describes me fairly well.", 4), ("**Describes me extremely well**", 5),
    ("Answer: Moderately describes me", 3), ("I would say: Slightly describes me.", 2),
    ("Does not describe me at all", 1),
    ("相当贴切", 4), ("极其贴切", 5),  # the options' shared opening "对我的描述" left out
    ("对我的描述比较", 3),  # the shared ending left out
    ("Describes me fairly well (对我的描述相当贴切)", 4),  # both languages, one option
    ("4: Describes me fairly well", 4),
])
def test_text_answers_are_matched_in_both_languages(text, expected):
    assert read(text, TEXT) == (expected, VALID)


@pytest.mark.parametrize("text", [
    "Describes me fairly well, or maybe Describes me extremely well",  # two options
    "对我的描述相当贴切或对我的描述极其贴切",
    "Describes me well",  # shares words with two options, is neither
    "It depends on the situation.",
    "4",  # an identifier, where the option's words were asked
    "有点难说",  # "有点" alone is not the option "对我的描述有点贴切"
])
def test_text_answers_matching_no_option_or_two_are_ambiguous(text):
    assert read(text, TEXT) == (None, AMBIGUOUS)


def test_whole_phrases_only_and_a_longer_option_wins_over_the_one_inside_it():
    agree = (("en", ("Strongly disagree", "Disagree", "Agree", "Strongly agree")),)
    likert = AnswerFormat("text", 1, 4, by_text=True, option_words=agree)
    assert read("Strongly agree", likert) == (4, VALID)  # "agree" inside it does not count on its own
    assert read("I disagree.", likert) == (2, VALID)  # "agree" is not in "disagree" (word boundary)
    assert read("Agree", likert) == (3, VALID)
    assert matching_options("strongly agree", [agree[0][1]]) == ([3], "the whole answer")


def test_text_edge_statuses():
    assert read("", TEXT) == (None, NO_NUMBER)
    assert read("<think>weighing the options", TEXT) == (None, NO_NUMBER)
    assert read("As an AI, I cannot answer that.", TEXT) == (None, REFUSAL)
    disclaimed = read_answer("As an AI I have no feelings, but: Describes me fairly well", TEXT)
    assert (disclaimed.value, disclaimed.status) == (4, VALID) and "disclaimer" in disclaimed.detail


# -- unforced: numbers or option words ----------------------------------------------------------
@pytest.mark.parametrize("text, expected, status", [
    ("4", 4, VALID),
    ("I'd say 4.", 4, VALID),
    ("Honestly, this describes me fairly well.", 4, VALID),
    ("这对我的描述相当贴切。", 4, VALID),
    ("It depends on the situation.", None, AMBIGUOUS),
    ("Somewhere between slightly describes me and moderately describes me", None, AMBIGUOUS),
    ("3 or 4", None, AMBIGUOUS),
    ("", None, NO_NUMBER),
])
def test_unforced_reads_numbers_or_option_words(text, expected, status):
    assert read(text, UNFORCED) == (expected, status)


# -- the original path is the paper's reading, unchanged ----------------------------------------
@pytest.mark.parametrize("text", ["3", "4: Describes me fairly well", "3: 对我的描述有点贴切",
                                  "Describes me fairly well",
                                  "7 out of 10", "As an AI, 3", "3 or 4", "十分贴切", ""])
def test_original_and_descending_read_exactly_as_parse_answer(text):
    original = AnswerFormat(scale_min=1, scale_max=5)
    expected = parse_answer(text, 1, 5, MFQ.labels["en"])
    assert read_answer(text, original, MFQ.labels["en"]) == expected
    assert read_answer(text, DESCENDING, MFQ.labels["en"]) == expected


def test_decide_reads_the_requests_format():
    def outcome(text, fmt):
        reply = ProviderReply(answer_text=text, finish_reason="stop")
        return decide(reply, mode="sample", scale_min=1, scale_max=fmt.scale_max,
                      labels=MFQ.labels["zh"], answer_format=fmt)

    assert (outcome("2", RECODED).value, outcome("2", RECODED).status) == (4.0, VALID)
    assert outcome("B", LETTERS).value == 2.0
    assert outcome("对我的描述相当贴切", TEXT).value == 4.0
    assert outcome("3", WVS_RECODED).value == 8.0
    assert outcome("对我的描述相当贴切", AnswerFormat(scale_min=1, scale_max=5)).value == 4.0  # original: a bare label


# -- every variant, both languages, both modes: the answer that means canonical 4 -----------------
PARAPHRASE = AnswerFormat("paraphrase1", 1, 5, option_words=WORDS)
SAMPLE_ANSWERS_MEANING_4 = {  # variant -> (English answer, Chinese answer), each in the variant's identifiers
    "original": (AnswerFormat(scale_min=1, scale_max=5), "4: Describes me fairly well", "4:对我的描述相当贴切"),
    "descending": (DESCENDING, "4", "4分"),
    "paraphrase1": (PARAPHRASE, "I'd choose 4.", "我会选择四。"),
    "recoded": (RECODED, "2: Describes me fairly well", "2：对我的描述相当贴切"),
    "letters": (LETTERS, "D. Describes me fairly well", "我选D"),
    "text": (TEXT, "Describes me fairly well", "对我的描述相当贴切"),
    "unforced": (UNFORCED, "Honestly, it describes me fairly well.", "我觉得对我的描述相当贴切。"),
}


@pytest.mark.parametrize("variant", SAMPLE_ANSWERS_MEANING_4)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_every_variant_in_both_languages_sample_mode(variant, language):
    fmt, english, chinese = SAMPLE_ANSWERS_MEANING_4[variant]
    labels = MFQ.labels[language]
    assert read(english if language == "en" else chinese, fmt, labels) == (4, VALID)


DISTRIBUTION_TOKENS_MEANING_4 = {  # variant -> the answer token, and the token that is canonical 2
    "original": (AnswerFormat(scale_min=1, scale_max=5), "4", "2"), "descending": (DESCENDING, "4", "2"),
    "paraphrase1": (PARAPHRASE, "4", "2"), "recoded": (RECODED, "2", "4"), "letters": (LETTERS, "D", "B"),
    "unforced": (UNFORCED, "4", "2"),
}


@pytest.mark.parametrize("variant", DISTRIBUTION_TOKENS_MEANING_4)
@pytest.mark.parametrize("lead_in", [["Answer", ":", " "], ["答案", "："]])
def test_every_variant_in_distribution_mode(variant, lead_in):
    import math

    from whosevalues.models.base import TokenPosition

    fmt, four, two = DISTRIBUTION_TOKENS_MEANING_4[variant]
    positions = [TokenPosition(t, 0.0, {t: 0.0}) for t in lead_in]
    positions.append(TokenPosition(four, math.log(0.75), {four: math.log(0.75), two: math.log(0.25)}))
    reply = ProviderReply(answer_text="".join(p.token for p in positions), positions=positions, finish_reason="stop")
    outcome = decide(reply, mode="distribution", scale_min=1, scale_max=5, answer_format=fmt)
    assert outcome.status == VALID and outcome.value == pytest.approx(4 * 0.75 + 2 * 0.25)
    assert outcome.distribution[4] == pytest.approx(0.75) and outcome.distribution[2] == pytest.approx(0.25)


def test_what_decided_a_reading_is_a_field_the_readers_act_on():
    """``ParsedAnswer.reason``: no number decided (labels or nothing: unforced then reads option words), or the
    words of several options (letters: ambiguous, not 'no answer'); never read back from ``detail``."""
    from whosevalues.elicit.parse import NO_NUMBER_DECIDED, SEVERAL_OPTIONS

    assert parse_answer("Describes me fairly well", 1, 5, MFQ.labels["en"]).reason == NO_NUMBER_DECIDED
    assert parse_answer("It depends", 1, 5, MFQ.labels["en"]).reason == NO_NUMBER_DECIDED
    assert parse_answer("4", 1, 5, MFQ.labels["en"]).reason == ""
    several = read_answer("Slightly describes me, or moderately describes me", LETTERS)
    assert (several.value, several.status, several.reason) == (None, AMBIGUOUS, SEVERAL_OPTIONS)
    assert (read_answer("It depends", LETTERS).status, read_answer("It depends", LETTERS).reason) == (NO_NUMBER, "")
