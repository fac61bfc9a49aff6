"""Plan: every request a study implies, each with a stable key.

The key hashes everything that makes an answer what it is (model, survey, item, language, persona, sample
index, mode, generation settings, and the exact prompt text), so a rerun finds what is already stored, and
20 samples are 20 distinct requests, never one cached answer reused. Requests are ordered so that prompts
sharing a prefix (same model, survey, language and persona) are adjacent: the local backend reuses its KV cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from whosevalues.instruments import Instrument
from whosevalues.models.base import ChatRequest, Mode
from whosevalues.models.spec import ModelSpec
from whosevalues.study import Study

KEY_VERSION = 1  # bump only if the key recipe changes (it would make old answers unreachable)


@dataclass(frozen=True)
class PlannedRequest:
    model_id: str
    origin: str
    survey: str
    item: str
    language: str
    persona: str
    sample: int
    request: ChatRequest

    @property
    def key(self) -> str:
        return self.request.key


def prompt_hash(system: str, user: str) -> str:
    return hashlib.sha256(f"{system}\x00{user}".encode()).hexdigest()[:16]


def request_key(spec: ModelSpec, survey: str, item: str, language: str, persona: str, sample: int,
                mode: Mode, temperature: float | None, max_tokens: int, prompt: str) -> str:
    identity = {
        "v": KEY_VERSION, "model": spec.id, "api_model": spec.api_model, "survey": survey, "item": item,
        "language": language, "persona": persona, "sample": sample, "mode": mode,
        "temperature": temperature, "max_tokens": max_tokens, "prompt": prompt,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def effective_temperature(study: Study, spec: ModelSpec) -> float | None:
    return study.temperature if study.temperature is not None else spec.temperature


def plan_model(study: Study, spec: ModelSpec, mode: Mode, instruments: list[Instrument]) -> list[PlannedRequest]:
    """All requests for one model. Distribution mode asks each prompt once; sample mode ``samples`` times."""
    temperature = effective_temperature(study, spec)
    samples = 1 if mode == "distribution" else study.samples
    planned: list[PlannedRequest] = []
    for instrument in instruments:
        for condition in study.conditions(instrument):
            for item_id in instrument.item_ids:
                prompt = instrument.render(item_id, condition.language, condition.persona)
                phash = prompt_hash(prompt.system, prompt.user)
                for sample in range(samples):
                    key = request_key(spec, instrument.id, item_id, condition.language, condition.persona,
                                      sample, mode, temperature, study.max_tokens, phash)
                    request = ChatRequest(
                        key=key, system=prompt.system, user=prompt.user, mode=mode,
                        scale_min=instrument.scale.min, scale_max=instrument.scale.max,
                        temperature=temperature, max_tokens=study.max_tokens, seed=int(key[:8], 16),
                    )
                    planned.append(PlannedRequest(spec.id, spec.origin, instrument.id, item_id,
                                                  condition.language, condition.persona, sample, request))
    return planned
