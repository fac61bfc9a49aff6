"""The decision layer (elicit.outcome, elicit.distribution): one reply in the normal form -> value and status."""

from __future__ import annotations

import math

import pytest

from whosevalues.elicit.distribution import answer_distribution, is_formatting, is_one_hot
from whosevalues.elicit.outcome import NO_ANSWER_BUDGET, SAMPLED_INSTEAD, decide
from whosevalues.models.base import ProviderReply, TokenPosition


def position(chosen: str, probs: dict[str, float]) -> TokenPosition:
    top = {token: math.log(p) for token, p in probs.items()}
    return TokenPosition(chosen, top.get(chosen), top)


def outcome_of(reply: ProviderReply, mode: str = "sample", **kwargs):
    return decide(reply, mode=mode, scale_min=1, scale_max=5, **kwargs)


def test_reasoning_is_never_read_as_the_answer():
    reply = ProviderReply(answer_text="4", reasoning_text="Options 1, 2 or 5? Say 2... no, 4.", reasoned=True,
                          finish_reason="stop")
    assert (outcome_of(reply).value, outcome_of(reply).status) == (4.0, "valid")
    thinking_only = ProviderReply(answer_text="", reasoning_text="I think 3", finish_reason="stop")
    assert outcome_of(thinking_only).status == "no_number"


def test_budget_spent_on_reasoning_asks_for_a_larger_budget():
    reply = ProviderReply(answer_text="", reasoning_text="Let me weigh 1 against 5", reasoned=True,
                          finish_reason="length")
    outcome = outcome_of(reply)
    assert outcome.status == NO_ANSWER_BUDGET and outcome.larger_budget
    assert "reasoning" in outcome.detail
    # visible text cut off is the paper's no_number, not a budget problem
    cut = outcome_of(ProviderReply(answer_text="I need to choose a number from 1-", finish_reason="length"))
    assert cut.status == "no_number" and not cut.larger_budget


def test_filters_and_refusals_keep_the_providers_reason():
    filtered = outcome_of(ProviderReply(answer_text="", finish_reason="content_filter",
                                        refusal_reason="data_inspection_failed"))
    assert filtered.status == "refusal" and "data_inspection_failed" in filtered.detail
    refused = outcome_of(ProviderReply(answer_text=None, finish_reason="refusal", refusal_reason="I can't."))
    assert refused.status == "refusal" and "I can't." in refused.detail
    broken = outcome_of(ProviderReply(finish_reason="error", refusal_reason="no choices"))
    assert broken.status == "error"


def test_distribution_is_read_after_markdown_not_at_position_zero():
    positions = [position("**", {"**": 0.97, "3": 0.03}),
                 position("4", {"4": 0.7, "3": 0.2, "5": 0.1}),
                 position("**", {"**": 1.0})]
    found = answer_distribution(positions, 1, 5)
    assert found.position == 1 and found.valid_mass == pytest.approx(1.0)
    outcome = outcome_of(ProviderReply(answer_text="**4**", positions=positions, finish_reason="stop"),
                         mode="distribution")
    assert outcome.status == "valid" and outcome.value == pytest.approx(4 * 0.7 + 3 * 0.2 + 5 * 0.1)


def test_inline_reasoning_positions_are_skipped():
    positions = [position("<think>", {"<think>": 1.0}), position("2", {"2": 0.9, "x": 0.1}),
                 position("</think>", {"</think>": 1.0}), position("5", {"5": 0.8, "4": 0.2})]
    assert answer_distribution(positions, 1, 5).position == 3


def test_weak_distribution_is_sampled_instead_and_kept():
    positions = [position("I", {"I": 0.7, "3": 0.2, "4": 0.1})]
    outcome = outcome_of(ProviderReply(answer_text="I", positions=positions, finish_reason="length"),
                         mode="distribution", min_valid_mass=0.5)
    assert outcome.status == SAMPLED_INSTEAD and outcome.sample_instead
    assert outcome.valid_mass == pytest.approx(0.3) and outcome.distribution[3] == pytest.approx(2 / 3)
    lenient = outcome_of(ProviderReply(answer_text="I", positions=positions, finish_reason="length"),
                         mode="distribution", min_valid_mass=0.25)
    assert lenient.status == "valid"


def test_one_hot_positions_and_formatting_tokens():
    assert is_one_hot(TokenPosition("3", 0.0, {"3": 0.0, "4": -21.0, "2": -40.5}))
    assert not is_one_hot(TokenPosition("3", -0.2, {"3": -0.2, "4": -1.8}))
    assert not is_one_hot(TokenPosition("3", 0.0, {"3": 0.0, "4": -9.0}))
    assert all(is_formatting(t) for t in ("**", " ", "\"", "Answer:", " answer", "\n\n", "答案："))
    assert not any(is_formatting(t) for t in ("3", "I", " As"))


def test_store_keeps_reasoning_version_fingerprint_and_endpoint_lessons(tmp_path):
    from whosevalues.elicit.facts import RunFacts
    from whosevalues.elicit.plan import plan_model
    from whosevalues.elicit.runner import decide_planned
    from whosevalues.elicit.store import Store
    from whosevalues.study import Study

    study = Study(samples=1, surveys=["mfq2"], languages=["en"], personas=["none"])
    planned = plan_model(study, study.model_specs()[0], "sample", study.instruments())[0]
    reply = ProviderReply(answer_text="4", reasoning_text="weighing 2 and 4", reasoning_tokens=57, reasoned=True,
                          finish_reason="stop", model_version="m-2026-01", system_fingerprint="fp_1", raw="{}")
    facts = RunFacts(seed_honoured=True, max_tokens=80, adaptations=("no_temperature",))
    store = Store(tmp_path / "s.db")
    try:
        run = store.start_run("test", "{}", "0")
        store.add_requests([planned], run)
        assert store.save_answer(planned, reply, decide_planned(planned, reply), run, attempts=1, latency_s=0,
                                 facts=facts) == "valid"
        row = store.db.execute("SELECT value, reasoning_text, reasoning_tokens, reasoned, model_version, "
                               "system_fingerprint, seed_honoured, max_tokens_used, adaptations "
                               "FROM answers").fetchone()
        assert row == (4.0, "weighing 2 and 4", 57, 1, "m-2026-01", "fp_1", 1, 80, '["no_temperature"]')
        store.set_endpoint_setting("e", "budget:sample", "320", "why")
        assert store.endpoint_settings("e") == {"budget:sample": ("320", "why")}
    finally:
        store.close()


def test_an_exact_weak_distribution_is_kept_and_said():
    """An in-process engine's distribution covers the whole vocabulary: kept when weak, the shortfall said."""
    exact = ProviderReply(answer_text="3", finish_reason="stop", distribution={1: 0.1, 2: 0.2, 3: 0.4, 4: 0.2, 5: 0.1},
                          valid_mass=0.07)
    outcome = decide(exact, mode="distribution", scale_min=1, scale_max=5, min_valid_mass=0.5)
    assert outcome.status == "valid" and outcome.value == pytest.approx(3.0)
    assert "kept below the minimum valid mass" in outcome.detail and not outcome.sample_instead


def test_a_reasoning_reply_that_used_the_whole_budget_ran_out_even_if_it_says_stop():
    spent = ProviderReply(answer_text="", reasoning_text="hmm", reasoned=True, finish_reason="stop", output_tokens=40)
    assert outcome_of(spent, max_tokens=40).larger_budget
    assert outcome_of(spent, max_tokens=80).status == "no_number"  # room was left: it just said nothing


def test_why_a_distribution_was_kept_or_sampled_instead_is_a_field_not_words():
    """``Outcome.reason``: what the run notes count (the words of ``detail`` are for people)."""
    from whosevalues.elicit.distribution import LETTER_BEGAN_WORD, TEXT_VARIANT, UNSPLIT_PREFIX
    from whosevalues.elicit.outcome import BELOW_MIN_MASS, KEPT_WEAK, NO_TOKEN_PROBABILITIES
    from whosevalues.instruments.variants import AnswerFormat

    exact = ProviderReply(answer_text="3", finish_reason="stop", distribution={3: 1.0}, valid_mass=0.07)
    assert outcome_of(exact, mode="distribution", min_valid_mass=0.5).reason == KEPT_WEAK
    assert outcome_of(exact, mode="distribution", min_valid_mass=0.05).reason == ""  # not weak: nothing to say
    weak = ProviderReply(answer_text="I", positions=[position("I", {"I": 0.7, "3": 0.3})], finish_reason="stop")
    assert outcome_of(weak, mode="distribution", min_valid_mass=0.5).reason == BELOW_MIN_MASS
    bare = ProviderReply(answer_text="3", finish_reason="stop")
    assert outcome_of(bare, mode="distribution").reason == NO_TOKEN_PROBABILITIES
    text = AnswerFormat("text", 1, 5, by_text=True)
    assert outcome_of(bare, mode="distribution", answer_format=text).reason == TEXT_VARIANT
    letters = AnswerFormat("letters", 1, 5, identifiers=tuple("ABCDE"))
    began = ProviderReply(answer_text="Bring", finish_reason="stop",
                          positions=[position("B", {"B": 0.9, "C": 0.1}), position("ring", {"ring": 1.0})])
    assert outcome_of(began, mode="distribution", answer_format=letters).reason == LETTER_BEGAN_WORD
    ten = ProviderReply(answer_text="3", finish_reason="stop",
                        positions=[position("3", {"3": 0.7, "1": 0.2, "4": 0.1}), position(".", {".": 1.0})])
    unsplit = decide(ten, mode="distribution", scale_min=1, scale_max=10)
    assert unsplit.status == SAMPLED_INSTEAD and unsplit.reason == UNSPLIT_PREFIX
    assert outcome_of(ProviderReply(answer_text="4", finish_reason="stop")).reason == ""  # sample mode: none
