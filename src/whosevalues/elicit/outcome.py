"""What a reply means: the ONE place where value, status and "ask again?" are decided, for every provider.

A backend only translates its provider's body into a :class:`ProviderReply`; :func:`decide` turns that reply
into an :class:`Outcome` the store keeps. The rules, in order:

1. The provider blocked or the model declined (``finish_reason`` ``content_filter`` or ``refusal``):
   ``refusal``, with the provider's own reason in ``detail``.
2. The body is broken (``finish_reason`` ``error``): ``error`` (retried on the next run).
3. The token budget ran out before any answer text (``finish_reason`` ``length``, or a reasoning reply that
   used the whole budget; answer text empty: the budget went on reasoning): ``no_answer_budget`` with
   ``larger_budget`` set, so the caller asks again with
   a doubled budget up to the model's cap (``elicit.answering``). After the cap the status stays.
4. Distribution mode: the distribution read at the answer position (``elicit.distribution``). Below the
   study's minimum valid mass the item is sampled instead (``sample_instead``); the weak distribution is
   kept for reference under status ``sampled_instead``. No token probabilities at all: sampled instead too.
   An in-process engine's distribution (the local model: exact, over the whole vocabulary, not a provider's
   top-20) is kept even when weak, with the shortfall in ``detail`` and ``reason`` (counted in the run
   notes): sampling would converge to the same renormalised distribution at ``samples`` times the cost. The
   probability is read over the variant's own identifiers and mapped to the canonical scale; a position that
   cannot be read (a "1" that may start "10" unresolved, a letter that began a word) and any ``text`` variant
   (words, not one token) are sampled instead, the reason in ``detail`` (words) and ``reason`` (a code).
5. Otherwise the answer text, never the reasoning, is read in the request's format (``elicit.read``;
   ``original`` goes through ``elicit.parse.parse_answer`` unchanged) and mapped to the canonical scale.
"""

from __future__ import annotations

from dataclasses import dataclass

from whosevalues.elicit.distribution import TEXT_NOT_FROM_ONE_TOKEN, TEXT_VARIANT, answer_distribution
from whosevalues.elicit.parse import ERROR, NO_ANSWER_BUDGET, NO_NUMBER, REFUSAL, SAMPLED_INSTEAD, VALID, Labels
from whosevalues.elicit.parse import STATUSES as TEXT_STATUSES
from whosevalues.elicit.read import read_answer
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import ProviderReply

DEFAULT_MIN_VALID_MASS = 0.5
#: in a detail: a weak but exact distribution (in-process engine) kept rather than sampled
WEAK_KEPT = "kept below the minimum valid mass"
# ``Outcome.reason`` (stored as the answer's ``reason``): why a distribution-mode answer was kept or sampled
# instead, for the run notes to count (the words of ``detail`` are for people). The unreadable positions' reasons
# are ``elicit.distribution``'s (UNSPLIT_PREFIX, LETTER_BEGAN_WORD, TEXT_VARIANT).
#: a weak but exact distribution (in-process engine) kept rather than sampled
KEPT_WEAK = "kept_weak"
#: sampled instead: less than the minimum valid mass on the scale's answers
BELOW_MIN_MASS = "below_min_mass"
#: sampled instead: the reply brought no token probabilities
NO_TOKEN_PROBABILITIES = "no_token_probabilities"
#: every status a stored answer can have
STATUSES = (*TEXT_STATUSES, NO_ANSWER_BUDGET, SAMPLED_INSTEAD)


@dataclass(frozen=True)
class Outcome:
    value: float | None
    status: str
    detail: str = ""
    distribution: dict[int, float] | None = None
    valid_mass: float | None = None
    #: the budget ran out before an answer: ask again with a larger one (if under the cap)
    larger_budget: bool = False
    #: distribution mode could not give a trustworthy answer: sample this item instead
    sample_instead: bool = False
    #: why a distribution was kept or sampled instead (KEPT_WEAK, BELOW_MIN_MASS, ...), else ""
    reason: str = ""


def decide(reply: ProviderReply, *, mode: str, scale_min: int, scale_max: int,
           labels: Labels | None = None,
           min_valid_mass: float = DEFAULT_MIN_VALID_MASS, max_tokens: int | None = None,
           answer_format: AnswerFormat | None = None) -> Outcome:
    """Value, status and next step for one reply (module docstring). ``max_tokens``: the budget the
    request was sent with (a reasoning reply that used all of it ran out even if the provider says stop).
    ``answer_format``: the variant asked (None: ``original``); ``labels``: the survey's canonical labels in
    the prompt's language (``elicit.read`` derives the variant's own)."""
    fmt = answer_format or AnswerFormat(scale_min=scale_min, scale_max=scale_max)
    if reply.finish_reason in ("content_filter", "refusal"):
        return Outcome(None, REFUSAL, _refusal_detail(reply))
    if reply.finish_reason == "error":
        problem = reply.extra.get("problem") or reply.refusal_reason
        reason = f": {problem}" if problem else ""
        return Outcome(None, ERROR, f"broken response body{reason}")
    answer = reply.answer_text
    if _budget_ran_out(reply, max_tokens) and not (answer or "").strip() and reply.distribution is None:
        spent = "on reasoning" if reply.reasoned else "before any answer text"
        return Outcome(None, NO_ANSWER_BUDGET, f"the token budget ran out {spent}", larger_budget=True)
    if mode == "distribution":
        return _decide_distribution(reply, fmt, min_valid_mass)
    parsed = read_answer(answer, fmt, labels)
    return Outcome(float(parsed.value) if parsed.value is not None else None, parsed.status, parsed.detail)


def _budget_ran_out(reply: ProviderReply, max_tokens: int | None) -> bool:
    if reply.finish_reason == "length":
        return True
    spent = reply.output_tokens is not None and max_tokens is not None and reply.output_tokens >= max_tokens
    return reply.reasoned and spent


def _refusal_detail(reply: ProviderReply) -> str:
    by = "the provider's filter" if reply.finish_reason == "content_filter" else "the model"
    reason = reply.refusal_reason or reply.provider_finish_reason or reply.finish_reason
    return f"refused by {by}: {reason}"


def _decide_distribution(reply: ProviderReply, fmt: AnswerFormat,
                         min_valid_mass: float) -> Outcome:
    if fmt.by_text:  # the plan samples text variants; one that arrives here anyway is never guessed
        return Outcome(None, SAMPLED_INSTEAD, f"{TEXT_NOT_FROM_ONE_TOKEN}; sampled instead", sample_instead=True,
                       reason=TEXT_VARIANT)
    exact = reply.distribution is not None  # computed over the whole vocabulary by an in-process engine
    note = ""
    position: int | None
    if reply.distribution is not None:  # exact
        distribution, valid_mass, position = reply.distribution, reply.valid_mass, 0
    else:
        found = answer_distribution(reply.positions, fmt.scale_min, fmt.scale_max, fmt)
        if found is None:
            return Outcome(None, SAMPLED_INSTEAD, "no token probabilities in the reply; sampled instead",
                           sample_instead=True, reason=NO_TOKEN_PROBABILITIES)
        if found.unreadable:
            return Outcome(None, SAMPLED_INSTEAD, f"{found.unreadable}; sampled instead", sample_instead=True,
                           distribution=found.distribution, valid_mass=found.valid_mass,
                           reason=found.unreadable_reason)
        distribution, valid_mass, position = found.distribution, found.valid_mass, found.position
        note = found.note
    total = sum(distribution.values())
    shown = 0.0 if valid_mass is None else valid_mass
    weak = valid_mass is None or valid_mass < min_valid_mass
    if total <= 0 or (weak and not exact):
        return Outcome(None, SAMPLED_INSTEAD, f"valid_mass={shown:.4f} below the minimum {min_valid_mass:g}; "
                       "sampled instead (the weak distribution is kept for reference)",
                       distribution=distribution, valid_mass=valid_mass, sample_instead=True, reason=BELOW_MIN_MASS)
    expectation = sum(value * p for value, p in distribution.items()) / total
    detail = f"valid_mass={shown:.4f}" + (f"; answer at position {position}" if position else "")
    detail += f"; {note}" if note else ""
    if weak:  # exact: sampling would converge to this same renormalised distribution, at samples x the cost
        detail += f"; {WEAK_KEPT} {min_valid_mass:g} (exact distribution of an in-process model)"
    return Outcome(expectation, VALID, detail, distribution=distribution, valid_mass=valid_mass,
                   reason=KEPT_WEAK if weak else "")


__all__ = ["Outcome", "STATUSES", "decide", "NO_ANSWER_BUDGET", "SAMPLED_INSTEAD", "DEFAULT_MIN_VALID_MASS",
           "ERROR", "NO_NUMBER", "REFUSAL", "VALID"]
