"""What online asking learned about an endpoint, applied to batch lines, and what batch results teach.

A batch line is the request online asking would send now: the adaptations learned for the endpoint are in
force in the backend's ``build_params`` (``elicit.endpoint.EndpointMemory`` puts them there), and the token
budget starts where the endpoint's memory says. Batch results teach the same lessons as online answers: a
400 naming a parameter adds its adaptation; a line whose budget went on reasoning is sent again with the
model's cap (a batch round can take hours; tokens are billed as generated, not as allowed), and the budget
that worked is remembered.
"""

from __future__ import annotations

from dataclasses import replace

from whosevalues.elicit.adapt import adaptation_for, rejected_param
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.outcome import Outcome
from whosevalues.elicit.store import Store
from whosevalues.models.base import Backend, ChatRequest, ProviderReply


class Lessons:
    """Per model: the endpoint memory (shared with online asking when the run gives it)."""

    def __init__(self, store: Store, backends: dict[str, Backend], memories: dict[str, EndpointMemory] | None = None):
        self.store = store
        self.backends = backends
        self._memories: dict[str, EndpointMemory] = dict(memories or {})
        self._larger_budget: dict[str, int] = {}  # key -> budget to send next (its line ran out of tokens)

    def load(self, model: str) -> None:
        """Put what the endpoint taught online asking in force in the model's backend (once)."""
        if model not in self._memories:
            self._memories[model] = endpoint_memory(self.backends[model], self.store)

    def as_sent(self, model: str, request: ChatRequest) -> ChatRequest:
        """The request with the token budget online asking would start from (or the cap after a line ran out)."""
        budget = self._memories[model].start_budget(request.mode, request.max_tokens)
        budget = max(budget, self._larger_budget.get(request.key, 0))
        return request if budget == request.max_tokens else replace(request, max_tokens=budget)

    def budget_ran_out(self, model: str, request: ChatRequest, outcome: Outcome,
                       reply: ProviderReply) -> str | None:
        """Why the line must be sent again with the model's cap, or None to store the answer (an answer, or
        ``no_answer_budget`` at the cap, as online)."""
        sent = self.as_sent(model, request).max_tokens
        cap = max(self.backends[model].spec.reasoning_budget_cap, request.max_tokens)
        if outcome.larger_budget and sent < cap:
            self._larger_budget[request.key] = cap
            return f"the token budget ({sent}) ran out before an answer; sent again with {cap}"
        if sent > request.max_tokens:
            used = reply.output_tokens or sent
            twice_the_need = min(cap, max(request.max_tokens, 2 * used))
            self._memories[model].budget_worked(request.mode, twice_the_need)
        return None

    def rejected(self, model: str, request: ChatRequest, raw: str | None) -> None:
        """A line refused for a parameter the endpoint does not take (a 400 naming it): learn the adaptation
        as online asking does, so the next batch's lines (and online requests) avoid it."""
        adaptation = adaptation_for(rejected_param(400, raw), request, model)
        if adaptation is not None:
            self._memories[model].learn(adaptation)


def endpoint_memory(backend: Backend, store: Store) -> EndpointMemory:
    """The adaptations and budgets online asking learned for this endpoint, put in force in the backend."""
    return EndpointMemory(backend, store)
