"""Plan: every request a study implies, each with a stable key.

The key hashes everything that makes an answer what it is (model, survey, item, language, persona, sample
index, mode, generation settings, and the exact prompt text), so a rerun finds what is already stored, and
20 samples are 20 distinct requests, never one cached answer reused. A question format other than
``original`` adds ``"variant"`` to what is hashed; an ``original`` request keeps exactly the key it had
before formats existed, so every existing store stays valid. Requests are ordered so that prompts sharing a
prefix (same model, survey, language, persona and format) are adjacent: the local backend reuses its KV cache.

A format answered in words (``text``) cannot be read from one next-token distribution: in distribution mode
its prompts are sampled (``samples`` requests each) instead; every other format keeps the model's mode.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import accumulate

from whosevalues.instruments import Instrument
from whosevalues.instruments.variants import ORIGINAL, AnswerFormat
from whosevalues.models.base import ChatRequest, Mode
from whosevalues.models.spec import ModelSpec
from whosevalues.study import Study

KEY_VERSION = 1  # bump only if the key recipe changes (it would make old answers unreachable)


@dataclass(frozen=True, slots=True)
class PlannedRequest:
    model_id: str
    origin: str
    survey: str
    item: str
    language: str
    persona: str
    sample: int
    request: ChatRequest
    variant: str = ORIGINAL

    @property
    def key(self) -> str:
        return self.request.key


def prompt_hash(system: str, user: str) -> str:
    return hashlib.sha256(f"{system}\x00{user}".encode()).hexdigest()[:16]


def request_key(spec: ModelSpec, survey: str, item: str, language: str, persona: str, sample: int,
                mode: Mode, temperature: float | None, max_tokens: int, prompt: str, variant: str = ORIGINAL) -> str:
    """The key recipe in one piece (``prompt`` is ``prompt_hash`` of the messages); ``PlanCell`` computes the
    same keys faster."""
    identity = {
        "v": KEY_VERSION, "model": spec.id, "api_model": spec.api_model, "survey": survey, "item": item,
        "language": language, "persona": persona, "sample": sample, "mode": mode,
        "temperature": temperature, "max_tokens": max_tokens, "prompt": prompt,
    }
    if variant != ORIGINAL:
        identity["variant"] = variant
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def effective_temperature(study: Study, spec: ModelSpec) -> float | None:
    return study.temperature if study.temperature is not None else spec.temperature


_SAMPLE_MARK = -918_273_645  # a sample index no plan uses: marks where the index goes in the key's JSON


def cell_mode(mode: Mode, answer_format: AnswerFormat) -> Mode:
    """The mode one format is asked in: a format answered in words is sampled (see the module docstring)."""
    return "sample" if mode == "distribution" and answer_format.by_text else mode


@dataclass(frozen=True)
class PlanCell:
    """One prompt of one model (model x survey x item x language x persona x format): its samples differ only
    by index.

    The key recipe is ``request_key``'s, computed from a hash of the text before the sample index, copied and
    finished per sample, so a million keys cost a million small hash updates and no JSON encoding."""

    model_id: str
    origin: str
    survey: str
    item: str
    language: str
    persona: str
    system: str
    user: str
    mode: Mode
    scale_min: int
    scale_max: int
    temperature: float | None
    max_tokens: int
    key_head: "hashlib._Hash"
    key_tail: str
    variant: str = ORIGINAL
    answer_format: AnswerFormat | None = None

    @classmethod
    def build(cls, spec: ModelSpec, instrument: Instrument, item_id: str, language: str, persona: str,
              mode: Mode, temperature: float | None, max_tokens: int, variant: str = ORIGINAL) -> "PlanCell":
        prompt = instrument.render(item_id, language, persona, variant)
        answer_format = instrument.answer_format(variant, language)
        mode = cell_mode(mode, answer_format)
        identity = {
            "v": KEY_VERSION, "model": spec.id, "api_model": spec.api_model, "survey": instrument.id,
            "item": item_id, "language": language, "persona": persona, "sample": _SAMPLE_MARK, "mode": mode,
            "temperature": temperature, "max_tokens": max_tokens,
            "prompt": prompt_hash(prompt.system, prompt.user)}
        if variant != ORIGINAL:  # an original request keeps the key it had before formats existed
            identity["variant"] = variant
        head, tail = json.dumps(identity, sort_keys=True).split(str(_SAMPLE_MARK))
        return cls(spec.id, spec.origin, instrument.id, item_id, language, persona, prompt.system, prompt.user,
                   mode, instrument.scale.min, instrument.scale.max, temperature, max_tokens,
                   hashlib.sha256(head.encode()), tail, variant, answer_format)

    def key(self, sample: int) -> str:
        digest = self.key_head.copy()
        digest.update(f"{sample}{self.key_tail}".encode())
        return digest.hexdigest()[:32]

    def planned(self, sample: int, key: str | None = None) -> PlannedRequest:
        key = key or self.key(sample)
        request = ChatRequest(key=key, system=self.system, user=self.user, mode=self.mode,
                              scale_min=self.scale_min, scale_max=self.scale_max, temperature=self.temperature,
                              max_tokens=self.max_tokens, seed=int(key[:8], 16),
                              answer_format=self.answer_format)
        return PlannedRequest(self.model_id, self.origin, self.survey, self.item, self.language, self.persona,
                              sample, request, self.variant)


class ModelPlan(Sequence):
    """Every request for one model, held compactly: the prompts (cells) and the number of samples of each.

    A request object is made only when asked for (indexing or iterating); ``keys()`` gives every key without
    making any. Order: survey, condition, format, item, sample (prompts sharing a prefix stay adjacent).
    ``samples`` is one count for every cell, or one per cell (a sampled ``text`` format beside distributions)."""

    def __init__(self, cells: list[PlanCell], samples: int | Sequence[int]):
        self.cells = cells
        self.samples_per_cell = [samples] * len(cells) if isinstance(samples, int) else list(samples)
        self._starts = [0, *accumulate(self.samples_per_cell)]  # index of each cell's first request
        self._keys: list[str] | None = None

    def __len__(self) -> int:
        return self._starts[-1]

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        cell = bisect_right(self._starts, index) - 1
        sample = index - self._starts[cell]
        return self.cells[cell].planned(sample, self._keys[index] if self._keys else None)

    def __iter__(self) -> Iterator[PlannedRequest]:
        return (self[index] for index in range(len(self)))

    def keys(self) -> list[str]:
        """Every request's key, in plan order (computed once)."""
        if self._keys is None:
            self._keys = [cell.key(sample) for cell, samples in zip(self.cells, self.samples_per_cell)
                          for sample in range(samples)]
        return self._keys

    def missing(self, done: set[str] | frozenset[str]) -> "PlanSubset":
        """The requests whose key is not in ``done``, still compact (indices into this plan)."""
        return PlanSubset(self, array("L", (i for i, key in enumerate(self.keys()) if key not in done)))


class PlanSubset(Sequence):
    """Some requests of a ``ModelPlan`` (by index), made one at a time when used."""

    def __init__(self, plan: ModelPlan, indices: array):
        self.plan = plan
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self.plan[i] for i in self.indices[index]]
        return self.plan[self.indices[index]]


def plan_model(study: Study, spec: ModelSpec, mode: Mode, instruments: list[Instrument]) -> ModelPlan:
    """All requests for one model. Distribution mode asks each prompt once; sample mode ``samples`` times."""
    temperature = effective_temperature(study, spec)
    cells = [PlanCell.build(spec, instrument, item_id, condition.language, condition.persona, mode, temperature,
                            study.max_tokens, variant)
             for instrument in instruments
             for condition in study.conditions(instrument)
             for variant in study.variants_for(instrument)
             for item_id in instrument.item_ids]
    return ModelPlan(cells, [1 if cell.mode == "distribution" else study.samples for cell in cells])


class RequestQueue:
    """The runner's queue over a plan: ``pop()`` takes the next request in plan order, made only then."""

    def __init__(self, requests: Sequence[PlannedRequest]):
        self._requests = requests
        self._next = 0

    def __len__(self) -> int:
        return len(self._requests) - self._next

    def pop(self) -> PlannedRequest:
        if not len(self):
            raise IndexError("pop from an empty request queue")
        self._next += 1
        return self._requests[self._next - 1]
