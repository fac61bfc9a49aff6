"""Getting one answer: ask, decide, and ask again only where a rule says so, every path bounded.

``answer(...)`` wraps ``limits.call_with_retries`` (transport retries) with the reasons to ask again that
come from the answer itself:

- **Parameter adaptation.** A final 400 that names a rejected parameter (``elicit.adapt``) makes the
  endpoint adapt once and the request go again. Each adaptation at most once per request: at most
  ``len(ADAPTATIONS)`` extra requests, and usually none, since the endpoint remembers (``elicit.endpoint``).
- **A transient empty reply.** An HTTP 200 with nothing in it (Gemini's STOP with no parts, empty ``choices``,
  an error object inside the body) is asked again, at most ``EMPTY_RETRIES`` times, each counted in
  ``attempts``; after that it is a retryable ``FinalFailure``: stored as ``error`` and asked again by the
  end-of-run sweep (``pipeline.sweep_transient_failures``).
- **Token budget.** ``no_answer_budget`` (the budget went on reasoning) asks again with double the budget,
  up to the model's ``reasoning_budget_cap``: at most log2(cap / max_tokens) extra requests. The budget that
  worked is remembered, so later requests start there.

Deciding never loses a reply: if it raises, the reply is kept with status ``unparsed`` and the exception's
message (``decide_safely``), and the run goes on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from whosevalues.elicit.adapt import adaptation_for, rejected_param
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.facts import Answered, RunFacts
from whosevalues.elicit.limits import AccountFailure, FinalFailure, ModelGate, call_with_retries
from whosevalues.elicit.outcome import DEFAULT_MIN_VALID_MASS, Outcome, decide
from whosevalues.models.base import Backend, ChatRequest, ProviderReply

#: extra asks of a request whose reply came back empty, before it is stored as ``error``
EMPTY_RETRIES = 2
#: the status of a reply whose deciding raised (kept raw; asked again once the parser changed)
UNPARSED = "unparsed"


async def answer(backend: Backend, request: ChatRequest, gate: ModelGate, memory: EndpointMemory, *,
                 labels: Mapping[int, str] | None = None, min_valid_mass: float = DEFAULT_MIN_VALID_MASS,
                 max_attempts: int | None = None) -> Answered:
    """One request's reply, what it means, its attempts (over every round) and facts; or FinalFailure."""
    spec = backend.spec
    max_attempts = max_attempts or spec.max_attempts
    cap = max(spec.reasoning_budget_cap, request.max_tokens)
    budget = memory.start_budget(request.mode, request.max_tokens)
    adapted: set[str] = set()
    attempts = empties = 0
    while True:
        sent = replace(request, max_tokens=budget)
        try:
            reply, used = await call_with_retries(backend, sent, gate, max_attempts=max_attempts)
        except FinalFailure as failure:
            attempts += failure.attempts
            adaptation = None if isinstance(failure, AccountFailure) else \
                adaptation_for(rejected_param(failure.status, failure.raw), request, spec.id)
            if adaptation is not None and adaptation.name not in adapted and memory.learn(adaptation):
                adapted.add(adaptation.name)  # once per request: a second 400 on it is final
                continue
            failure.attempts = attempts
            raise
        attempts += used
        empty = empty_reply(reply)
        if empty is not None:
            empties += 1
            if empties <= EMPTY_RETRIES:
                continue
            raise FinalFailure(f"{empty}, {empties} times in a row; the sweep or a rerun asks again", attempts,
                               reply.raw, status=reply.http_status, retryable=True)
        outcome = decide_safely(reply, sent, labels=labels, min_valid_mass=min_valid_mass)
        if outcome.larger_budget and budget < cap:
            budget = min(budget * 2, cap)
            continue
        if budget > request.max_tokens and not outcome.larger_budget:
            memory.budget_worked(request.mode, budget)
        return Answered(reply, outcome, attempts, run_facts(reply, backend, sent, memory))


def decide_safely(reply: ProviderReply, sent: ChatRequest, *, labels: Mapping[int, str] | None = None,
                  min_valid_mass: float = DEFAULT_MIN_VALID_MASS) -> Outcome:
    """``outcome.decide``, or status ``unparsed`` with the exception's message when deciding raises."""
    try:
        return decide(reply, mode=sent.mode, scale_min=sent.scale_min, scale_max=sent.scale_max, labels=labels,
                      min_valid_mass=min_valid_mass, max_tokens=sent.max_tokens, answer_format=sent.answer_format)
    except Exception as exc:  # a parser bug must not lose the reply nor stop the run
        return Outcome(None, UNPARSED, f"deciding failed: {type(exc).__name__}: {exc}")


def empty_reply(reply: ProviderReply) -> str | None:
    """Why a reply is a transient empty one (nothing to read, nothing refused, no budget spent), else None.

    An in-process engine's computed result (``valid_mass`` set) is never transient: asking again gives the same."""
    if reply.valid_mass is not None or reply.distribution is not None:
        return None
    if reply.finish_reason == "error":
        return str(reply.extra.get("problem") or "a broken response body")
    if reply.finish_reason not in ("stop", "other", None):
        return None
    if (reply.answer_text or "").strip() or reply.positions:
        return None
    word = reply.provider_finish_reason or "no finish reason"
    return (f"an empty reply ({word}, no answer text)" if reply.answer_text is not None
            else f"a reply with no answer at all ({word})")


def run_facts(reply: ProviderReply, backend: Backend, sent: ChatRequest, memory: EndpointMemory) -> RunFacts:
    """What was really sent, for the store: budget, adaptations in force (and the departures a translation
    layer reported itself, e.g. Anthropic's temperature with thinking on), whether a seed went and stayed."""
    translation_notes = list(reply.extra.get("adaptations") or [])
    memory.note(translation_notes)
    adaptations = tuple(sorted(backend.param_adaptations)) + tuple(translation_notes)
    return RunFacts(max_tokens=sent.max_tokens, adaptations=adaptations, seed_honoured=seed_honoured(backend, sent))


def seed_honoured(backend: Backend, request: ChatRequest) -> bool | None:
    """True: the seed was sent and accepted; False: the provider rejected it; None: never sent."""
    if "no_seed" in backend.param_adaptations:
        return False
    try:
        params = backend.build_params(request)
    except NotImplementedError:
        return None
    return True if "seed" in params else None
