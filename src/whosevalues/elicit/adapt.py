"""Parameter adaptation: when a provider rejects a parameter by name, change it once and ask again.

Providers answer HTTP 400 naming the parameter they refuse (OpenAI's ``param`` field, or the message text).
Each known refusal maps to one adaptation (``models.base.ADAPTATIONS``), which the backend applies to every
later request of that endpoint (``Backend.build_params``); ``elicit.endpoint`` remembers it in the store, so
it is learned once per study, not once per request. Every adaptation is a departure from the study design
and says so in a note.

=========================  ==========================================================================
the provider rejects        what whosevalues does
=========================  ==========================================================================
``max_tokens``              sends the same budget as ``max_completion_tokens`` (OpenAI o-series, GPT-5)
``temperature``             leaves the temperature out: the provider's fixed default applies
``logprobs``/``top_...``    asks without logprobs: the item is sampled instead of read as a distribution
the system role             folds the system prompt into the start of the user message
``seed``                    leaves the seed out (answers may differ on a rerun of the same request)
non-streaming calls         streams the request and merges the chunks (DashScope QwQ, Qwen3 thinking)
=========================  ==========================================================================
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from whosevalues.models.base import ChatRequest
from whosevalues.models.errors import read_error


@dataclass(frozen=True)
class Adaptation:
    name: str
    note: str


_PARAM_TO_ADAPTATION = {
    "max_tokens": "max_completion_tokens",
    "temperature": "no_temperature",
    "logprobs": "no_logprobs",
    "top_logprobs": "no_logprobs",
    "seed": "no_seed",
    "stream": "stream",
}
# models.errors names a rejected role "system_role" / "developer_role"; OpenAI's param is "messages[0].role"
_SYSTEM_ROLE = re.compile(r"messages\[\d+\]\.role|system|developer", re.IGNORECASE)


def rejected_param(status: int | None, raw: str | None) -> str | None:
    """The parameter a 400 rejects, as ``models.errors.read_error`` names it (None when it names none)."""
    if status != 400 or not raw:
        return None
    return read_error(status, raw, None).param


def adaptation_for(param: str | None, request: ChatRequest, model: str) -> Adaptation | None:
    """The adaptation answering a rejected parameter, with the note the run shows (None: nothing to adapt)."""
    if not param:
        return None
    name = _PARAM_TO_ADAPTATION.get(param.strip().lower())
    if name is None and _SYSTEM_ROLE.search(param):
        name = "fold_system"
    if name is None:
        return None
    return Adaptation(name, note_for(name, model, request.temperature))


def note_for(name: str, model: str, temperature: float | None) -> str:
    if name == "max_completion_tokens":
        return f"{model}: the provider rejects max_tokens; the same budget was sent as max_completion_tokens"
    if name == "no_temperature":
        study = f"the study's {temperature:g}" if temperature is not None else "a set temperature"
        return f"{model}: the provider fixes the temperature (1 for OpenAI reasoning models); {study} was not applied"
    if name == "no_logprobs":
        return f"{model}: the provider rejects logprobs; answers were sampled instead of read as distributions"
    if name == "fold_system":
        return (f"{model}: the provider rejects the system role; the system prompt was put at the start of "
                "the user message")
    if name == "no_seed":
        return f"{model}: the provider rejects seed; answers are not reproducible by seed"
    if name == "stream":
        return (f"{model}: the provider answers this model only when streamed; requests were streamed and the "
                "chunks merged (reasoning kept apart)")
    return f"{model}: adapted {name}"
