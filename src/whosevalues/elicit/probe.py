"""The mode probe: can this endpoint's token probabilities be read as an answer distribution?

Asked once per endpoint (cached in the store with its reason) when a study's mode is ``auto`` or
``distribution``. A backend that can send arbitrary small requests (``probe_replies``, the OpenAI-compatible
one) is asked ``PROBE_PROMPTS`` (three one-digit questions on a 1-5 scale) with logprobs, and the replies
decide, in this order:

1. the provider rejects logprobs (a 400 naming them, adapted as ``no_logprobs``) -> sample;
2. the model reasons before answering (reasoning text or tokens, inline ``<think>``) -> sample: next-token
   probabilities after one chain of thought describe that chain, not the model's answer distribution;
3. no token probabilities come back -> sample;
4. every prompt is one-hot at the answer position (chosen token at about 0, every alternative below about
   -15: probabilities reported after sampling) -> sample: such a "distribution" is one random draw;
5. otherwise -> distribution.

Other backends keep their own yes/no probe (``Backend.supports_distribution``).
The probe adapts parameters like any request (``elicit.adapt``), so what it learns (``max_completion_tokens``
for an o-series model, say) is in force before the first survey request.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass

from whosevalues.elicit.account import stop_for_account
from whosevalues.elicit.adapt import adaptation_for, rejected_param
from whosevalues.elicit.distribution import first_answer_position, is_one_hot
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import AccountFailure, backoff_delay, probe_distribution
from whosevalues.models.base import Backend, BackendError, ChatRequest, ConfigurationError, ProviderReply

PROBE_SCALE = (1, 5)
PROBE_ATTEMPTS = 4


@dataclass(frozen=True)
class ProbeResult:
    """``supported`` None: the endpoint kept failing (sample this time, probe again next run)."""

    supported: bool | None
    reason: str


async def probe_endpoint(backend: Backend, memory: EndpointMemory) -> ProbeResult:
    if not hasattr(backend, "probe_replies"):
        try:
            supported = await probe_distribution(backend)
        except AccountFailure as failure:  # not an answer about logprobs: stop the model, cache nothing
            stop_for_account(memory, backend, str(failure), failure.reason)
            return ProbeResult(None, f"not probed: {failure}")
        if supported is None:
            return ProbeResult(None, "the endpoint kept failing during the probe")
        return ProbeResult(supported, "next-token probabilities returned" if supported
                           else "no next-token probabilities from this provider")
    replies = await _probe_with_adaptation(backend, memory)
    if isinstance(replies, ProbeResult):
        return replies
    return judge(replies, backend)


async def _probe_with_adaptation(backend, memory: EndpointMemory) -> list[ProviderReply] | ProbeResult:
    from whosevalues.models.openai_compatible import PROBE_PROMPTS

    probe_request = ChatRequest(key="probe", system="", user=PROBE_PROMPTS[0], mode="distribution",
                                scale_min=1, scale_max=5, temperature=None, max_tokens=1, seed=0)
    adapted: set[str] = set()
    failures = 0
    rng = random.Random()
    while True:
        if "no_logprobs" in backend.param_adaptations:
            return ProbeResult(False, "the provider rejects logprobs (HTTP 400 naming them)")
        try:
            return await backend.probe_replies(list(PROBE_PROMPTS))
        except BackendError as exc:
            error = getattr(exc, "error", None)
            if error is not None and error.account_level:  # not an answer about logprobs: stop, cache nothing
                stop_for_account(memory, backend, str(exc), error.reason)
                return ProbeResult(None, f"not probed: {exc}")
            adaptation = adaptation_for(rejected_param(exc.status, exc.raw), probe_request, backend.spec.id)
            if adaptation is not None and adaptation.name not in adapted and memory.learn(adaptation):
                adapted.add(adaptation.name)
                continue
            if not exc.retryable:
                return ProbeResult(False, f"the probe request was rejected: {exc}")
            failures += 1
            if failures >= PROBE_ATTEMPTS:
                return ProbeResult(None, f"the endpoint kept failing during the probe: {exc}")
            await asyncio.sleep(backoff_delay(failures, 0.5, 10.0, exc.retry_after, rng))
        except ConfigurationError:
            raise


def judge(replies: list[ProviderReply], backend: Backend | None = None) -> ProbeResult:
    """The verdict on the probe's replies (module docstring, rules 2-5); filtered prompts say nothing."""
    replies = [reply for reply in replies if reply.finish_reason not in ("content_filter", "refusal")]
    if not replies:
        return ProbeResult(None, "the provider filtered every probe prompt")
    if any(reply.reasoned or reply.reasoning_text for reply in replies):
        return ProbeResult(False, "the model reasons before answering: next-token probabilities after one "
                                  "chain of thought are not its answer distribution")
    with_positions = [reply.positions for reply in replies if reply.positions]
    if not with_positions:
        return ProbeResult(False, "no next-token probabilities came back")
    one_hot = [is_one_hot(positions[first_answer_position(positions, *PROBE_SCALE) or 0])
               for positions in with_positions]
    if len(with_positions) == len(replies) and all(one_hot):
        return ProbeResult(False, f"one-hot logprobs on all {len(replies)} probe prompts (chosen token at 0, "
                                  "every alternative below -15): the endpoint reports probabilities after "
                                  "sampling, so each 'distribution' would be one random draw")
    return ProbeResult(True, "next-token probabilities returned and spread over the answers")
