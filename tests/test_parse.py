"""Answer parsing: a table of real-looking answers in both languages, and the paper's own raw answers."""

from __future__ import annotations

import pytest

from shared_paths import PAPER
from whosevalues.elicit.parse import (
    AMBIGUOUS,
    ERROR,
    NO_NUMBER,
    OUT_OF_RANGE,
    REFUSAL,
    STATUSES,
    VALID,
    ParsedAnswer,
    is_refusal,
    parse_answer,
)
from whosevalues.instruments import load_instrument

MFQ = load_instrument("mfq2")
WVS = load_instrument("wvs7")
EN5, ZH5 = MFQ.scale.labels["en"], MFQ.scale.labels["zh"]

# (raw answer, scale max, expected value, expected status). Scale min is 1 throughout, as in both surveys.
CASES = [
    # plain numbers, as most models answer
    ("3", 5, 3, VALID),
    (" 3\n", 5, 3, VALID),
    ("5\n", 5, 5, VALID),
    ("1", 10, 1, VALID),
    ("10", 10, 10, VALID),
    ("10\n", 10, 10, VALID),
    ("10", 5, None, OUT_OF_RANGE),
    ("0", 10, None, OUT_OF_RANGE),
    ("6。", 5, None, OUT_OF_RANGE),
    ("6。", 10, 6, VALID),
    ("11", 10, None, OUT_OF_RANGE),
    ("-1", 5, None, OUT_OF_RANGE),
    # the scale's labels echoed after the number
    ("4: Describes me fairly well", 5, 4, VALID),
    ("5: Describes me extremely well\n\n", 5, 5, VALID),
    ("4:对我的描述相当贴切", 5, 4, VALID),
    ("2: 对我的描述有点贴切\n", 5, 2, VALID),
    ("2: **对我的描述有点贴切", 5, 2, VALID),
    ("3: 对我的描述有点贴切", 5, 3, VALID),  # label of 2, number 3: the number counts
    ("Answer:\n4. Describes me fairly well", 5, 4, VALID),
    # formatting
    ("**4**", 5, 4, VALID),
    ("４", 5, 4, VALID),
    ("１０", 10, 10, VALID),
    ("③", 5, 3, VALID),
    ("4分", 5, 4, VALID),
    ("“5”", 5, 5, VALID),
    ("<think>The user wants a number.</think>\n2", 5, 2, VALID),
    ("<think>Okay, the user is asking", 5, None, NO_NUMBER),
    # Chinese numerals, where they can only be a number
    ("五", 5, 5, VALID),
    ("五分。", 5, 5, VALID),
    ("十", 10, 10, VALID),
    ("十分", 10, 10, VALID),
    ("我会选择三。", 5, 3, VALID),
    ("十分贴切", 5, None, NO_NUMBER),  # 十分 = "very"
    ("一点也不贴切", 5, None, NO_NUMBER),  # 一点 = "a little"
    # sentences around the answer
    ("I would say 7 out of 10", 10, 7, VALID),
    ("7/10", 10, 7, VALID),
    ("4/5", 5, 4, VALID),
    ("8/10", 5, None, OUT_OF_RANGE),  # answered on another scale
    ("满分10分，我给7分", 10, 7, VALID),
    ("On a scale of 1 to 5, I'd say 4", 5, 4, VALID),
    ("I'd rate this statement as:\n\n2", 5, 2, VALID),
    ("I would rate this statement as a 1:", 5, 1, VALID),
    ("I'd choose 2 - Slightly describes me", 5, 2, VALID),
    ("我会选择2，因为这句话描述了我对", 5, 2, VALID),
    ("我选择选项2：对我的描述有点", 5, 2, VALID),
    ("您选择的是：3对我的描述比较", 5, 3, VALID),
    ("选项：1\n\n这个陈述涉及到的", 5, 1, VALID),
    ("对我的描述1: 对我的描述", 5, 1, VALID),
    ("1。打老婆是完全不能接受的行为，这", 10, 1, VALID),
    ("3\n\n（注：此答案仅为示例", 10, 3, VALID),
    ("4: Describes me fairly well. 4", 5, 4, VALID),  # the same answer twice
    # several answers
    ("3 or 4", 5, None, AMBIGUOUS),
    ("3-4", 5, None, AMBIGUOUS),
    ("3.5", 5, None, AMBIGUOUS),
    ("1: Does not describe me at all\n2: Slightly describes me\n3: Moder", 5, None, AMBIGUOUS),
    ("我在3和4之间", 5, None, AMBIGUOUS),
    # the question echoed, or reasoning cut off by max_tokens: no answer
    ("I need to select a number from 1-", 5, None, NO_NUMBER),
    ("I need to respond with a number from 1", 5, None, NO_NUMBER),
    ("I'd need to select a number between 1", 5, None, NO_NUMBER),
    ("To determine the answer:\n\n1. Reflect", 5, None, NO_NUMBER),
    ("在1（完全不能接受）到10（完全可以接受）的", 10, None, NO_NUMBER),
    ("NA", 5, None, NO_NUMBER),
    ("", 5, None, NO_NUMBER),
    ("   \n", 10, None, NO_NUMBER),
    ("This depends on the context", 10, None, NO_NUMBER),
    ("GPT-4", 5, None, NO_NUMBER),
    (None, 5, None, ERROR),
    # refusals, English and Chinese, including truncated ones
    ("As an AI, I don't have personal opinions", 5, None, REFUSAL),
    ("As an AI language model, I", 5, None, REFUSAL),
    ("I cannot answer that.", 10, None, REFUSAL),
    ("I'm sorry, but I can't provide", 10, None, REFUSAL),
    ("I don't have personal beliefs or", 5, None, REFUSAL),
    ("I am unable to rate this on a scale of 1 to 10.", 10, None, REFUSAL),
    ("作为一个人工智能，我没有个人观点", 5, None, REFUSAL),
    ("作为AI助手，我", 10, None, REFUSAL),
    ("我无法回答这个问题。", 10, None, REFUSAL),
    ("抱歉，我不能", 10, None, REFUSAL),
    ("对不起，这个问题我不便回答", 10, None, REFUSAL),
    ("I cannot choose between 3 and 4", 5, None, REFUSAL),  # declines: not an ambiguous answer
    # a disclaimer followed by one answer is an answer
    ("As an AI, I have no personal opinions, but I'd say 3", 5, 3, VALID),
    ("作为一个人工智能，我没有个人观点。但我会选择2", 5, 2, VALID),
]


@pytest.mark.parametrize(("text", "scale_max", "value", "status"), CASES)
def test_answer_table(text, scale_max, value, status):
    labels = None
    if scale_max == 5:
        labels = ZH5 if text and any("\u4e00" <= ch <= "\u9fff" for ch in text) else EN5
    parsed = parse_answer(text, 1, scale_max, labels)
    assert (parsed.value, parsed.status) == (value, status), parsed.detail
    assert parsed.status in STATUSES
    assert (parsed.value is not None) == (parsed.status == VALID)


def test_the_table_is_large_and_covers_every_status_and_both_languages():
    assert len(CASES) >= 40
    assert {status for *_, status in CASES} == set(STATUSES)
    chinese = [text for text, *_ in CASES if text and any("\u4e00" <= ch <= "\u9fff" for ch in text)]
    assert len(chinese) >= 15


def test_labels_are_optional_and_only_add_information():
    assert parse_answer("4: Describes me fairly well", 1, 5) == parse_answer("4: Describes me fairly well", 1, 5, EN5)
    assert parse_answer("Describes me fairly well", 1, 5).status == NO_NUMBER
    by_label = parse_answer("Describes me fairly well", 1, 5, EN5)
    assert by_label == ParsedAnswer(4, VALID, "scale label without its number")
    assert parse_answer("对我的描述相当贴切", 1, 5, ZH5).value == 4
    mismatch = parse_answer("3: 对我的描述有点贴切", 1, 5, ZH5)
    assert mismatch.value == 3 and "label of 2" in mismatch.detail
    listed = parse_answer("Answer:\n1. Does not describe me at all", 1, 5, EN5)
    assert listed.value == 1


def test_details_say_why():
    assert "disclaimer" in parse_answer("As an AI I have no opinions, but 4", 1, 5).detail
    assert "1-10 scale" in parse_answer("7 out of 10", 1, 5).detail
    assert "3, 4" in parse_answer("3 or 4", 1, 5).detail
    assert "outside" in parse_answer("7", 1, 5).detail
    assert parse_answer("   ", 1, 5).detail == "empty answer"


def test_wvs_scale_echo_is_not_an_answer_but_other_numbers_are():
    assert parse_answer("在1到10的范围内，我选7", 1, 10).value == 7
    assert parse_answer("On a scale of 1 (never justifiable) to 10 (always justifiable): 2", 1, 10).value == 2
    # The MFQ range echoed on the WVS scale is not the scale's echo: several numbers.
    assert parse_answer("On a scale of 1 to 5, I'd say 4", 1, 10).status == AMBIGUOUS


def test_is_refusal_matches_both_languages_and_not_answers():
    assert is_refusal("As an AI language model, I")
    assert is_refusal("作为一个人工智能语言模型")
    assert not is_refusal("1。打老婆是完全不能接受的行为")  # "cannot accept" is an answer, not a refusal
    assert not is_refusal("I can say 3")


# -- the paper's own raw answers -----------------------------------------------------------------
@pytest.fixture(scope="module")
def paper_answers():
    pd = pytest.importorskip("pandas")
    frames = []
    for name, survey in [("llm_mfq_responses.csv", "mfq2"), ("llm_wvs_responses.csv", "wvs7"),
                         ("llm_wvs_persona_responses.csv", "wvs7")]:
        frame = pd.read_csv(PAPER / name, keep_default_na=False, dtype={"response": str})
        frame["survey"] = survey
        frames.append(frame)
    answers = pd.concat(frames, ignore_index=True)
    language = answers["language"].map({"English": "en", "Chinese": "zh"})
    parsed = [parse_answer(text, load_instrument(survey).scale.min, load_instrument(survey).scale.max,
                           load_instrument(survey).scale.labels[lang])
              for text, survey, lang in zip(answers["response"], answers["survey"], language)]
    answers["status"] = [p.status for p in parsed]
    answers["value"] = [p.value for p in parsed]
    answers["item_mean"] = answers["llm_response"].astype(float)
    return answers


def _fewer_than_20_valid(mean: float) -> bool:
    """Whether an item mean over the valid samples of 20 can only be a mean over fewer than 20."""
    return abs(mean * 20 - round(mean * 20)) > 1e-6


@pytest.mark.needs_shared
def test_agreement_with_the_papers_raw_answers(paper_answers):
    """The paper's files keep one raw sample per item (iteration 0) next to the item mean over the valid
    samples of 20; ``valid_response`` is TRUE on every row (it flags items, not samples).

    Judged disagreements (the 8 MFQ-2 samples we do not count: "NA", "I need to select a number from 1-",
    "I'd need to select a number between 1", "To determine the answer:\\n\\n1. Reflect"): none is an
    answer on the scale, so the TRUE flag there is the item's, not a verdict on the sample. Evidence that the
    paper dropped such samples too: most of them sit on items whose mean cannot be a mean of 20 answers
    (1.4615 = 19/13), and every one comes from a model and condition where the paper provably dropped samples.
    """
    answers = paper_answers
    agreement = (answers["status"] == VALID).mean()
    assert agreement >= 0.995, f"only {agreement:.2%} of the paper's raw answers parse as valid"
    not_counted = answers[answers["status"] != VALID]
    assert set(not_counted["status"]) <= {NO_NUMBER, REFUSAL, AMBIGUOUS}
    provably_dropped = not_counted["item_mean"].map(_fewer_than_20_valid)
    assert provably_dropped.mean() >= 0.5, not_counted[["response", "item_mean"]]
    condition = ["survey", "LLM", "language", "persona"]
    dropping = answers[answers["item_mean"].map(_fewer_than_20_valid)][condition].drop_duplicates()
    unexplained = not_counted.merge(dropping, on=condition, how="left", indicator=True)
    assert (unexplained["_merge"] == "both").all(), unexplained[["response", *condition]]


@pytest.mark.needs_shared
def test_values_agree_with_the_papers_item_means(paper_answers):
    answers = paper_answers
    valid = answers[answers["status"] == VALID]
    # Where an item mean is an end of the scale, every counted sample had that value.
    for survey, scale in [("mfq2", MFQ.scale), ("wvs7", WVS.scale)]:
        rows = valid[valid["survey"] == survey]
        at_end = rows[rows["item_mean"].isin([scale.min, scale.max])]
        assert len(at_end) > 100
        assert (at_end["value"] == at_end["item_mean"]).all()
        # One sample per item estimates the item mean: over thousands of items the averages agree closely.
        assert abs(rows["value"].mean() - rows["item_mean"].mean()) < 0.05
