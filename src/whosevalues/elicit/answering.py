"""Getting one answer: ask, decide, and ask again only where a rule says so, every path bounded.

``answer(...)`` wraps ``limits.call_with_retries`` (transport retries) with the two reasons to ask again that
come from the answer itself:

- **Parameter adaptation.** A final 400 that names a rejected parameter (``elicit.adapt``) makes the
  endpoint adapt once and the request go again. Each adaptation at most once per request: at most
  ``len(ADAPTATIONS)`` extra requests, and usually none, since the endpoint remembers (``elicit.endpoint``).
- **Token budget.** ``no_answer_budget`` (the budget went on reasoning) asks again with double the budget,
  up to the model's ``reasoning_budget_cap``: at most log2(cap / max_tokens) extra requests. The budget that
  worked is remembered, so later requests start there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from whosevalues.elicit.adapt import adaptation_for, rejected_param
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import FinalFailure, ModelGate, call_with_retries
from whosevalues.elicit.outcome import DEFAULT_MIN_VALID_MASS, Outcome, decide
from whosevalues.models.base import Backend, ChatRequest, Completion


async def answer(backend: Backend, request: ChatRequest, gate: ModelGate, memory: EndpointMemory, *,
                 labels: Mapping[int, str] | None = None, min_valid_mass: float = DEFAULT_MIN_VALID_MASS,
                 max_attempts: int | None = None) -> tuple[Completion, Outcome, int]:
    """(completion, outcome, attempts) for one request, or FinalFailure (attempts counted over every round)."""
    spec = backend.spec
    max_attempts = max_attempts or spec.max_attempts
    cap = max(spec.reasoning_budget_cap, request.max_tokens)
    budget = memory.start_budget(request.mode, request.max_tokens)
    adapted: set[str] = set()
    attempts = 0
    while True:
        sent = replace(request, max_tokens=budget)
        try:
            result, used = await call_with_retries(backend, sent, gate, max_attempts=max_attempts)
        except FinalFailure as failure:
            attempts += failure.attempts
            adaptation = adaptation_for(rejected_param(failure.status, failure.raw), request, spec.id)
            if adaptation is not None and adaptation.name not in adapted and memory.learn(adaptation):
                adapted.add(adaptation.name)  # once per request: a second 400 on it is final
                continue
            failure.attempts = attempts
            raise
        attempts += used
        completion = Completion.of(result)
        outcome = decide(completion, mode=request.mode, scale_min=request.scale_min, scale_max=request.scale_max,
                         labels=labels, min_valid_mass=min_valid_mass, max_tokens=budget,
                         answer_format=request.answer_format)
        if outcome.larger_budget and budget < cap:
            budget = min(budget * 2, cap)
            continue
        if budget > request.max_tokens and not outcome.larger_budget:
            memory.budget_worked(request.mode, budget)
        _annotate(completion, backend, sent, budget, memory)
        return completion, outcome, attempts


def _annotate(completion: Completion, backend: Backend, sent: ChatRequest, budget: int,
              memory: EndpointMemory) -> None:
    """What was really sent, for the store: budget, adaptations in force (and the departures a translation
    layer reported itself, e.g. Anthropic's temperature with thinking on), whether a seed went and stayed."""
    completion.extra["max_tokens"] = budget
    translation_notes = list((completion.reply.extra.get("adaptations") or []) if completion.reply else [])
    memory.note(translation_notes)
    if backend.param_adaptations or translation_notes:
        completion.extra["adaptations"] = sorted(backend.param_adaptations) + translation_notes
    completion.extra.setdefault("seed_honoured", seed_honoured(backend, sent))


def seed_honoured(backend: Backend, request: ChatRequest) -> bool | None:
    """True: the seed was sent and accepted; False: the provider rejected it; None: never sent."""
    if "no_seed" in backend.param_adaptations:
        return False
    try:
        params = backend.build_params(request)
    except NotImplementedError:
        return None
    return True if "seed" in params else None
