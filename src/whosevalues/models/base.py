"""The one protocol every backend implements, and the plain data that crosses it.

A backend turns a :class:`ChatRequest` (one system + one user message) into a :class:`Completion`.
It never parses answers and never touches the store: the runner stores the raw result first,
then ``elicit.parse`` turns text into a value. To add a provider, write a subclass of
:class:`Backend` in its own module and register it in ``models/registry.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.spec import ModelSpec

Mode = Literal["sample", "distribution"]


@dataclass(frozen=True)
class ChatRequest:
    """One request to a model. ``key`` is the stable store key (it includes the sample index)."""

    key: str
    system: str
    user: str
    mode: Mode
    scale_min: int
    scale_max: int
    temperature: float | None  # None: the provider's default
    max_tokens: int
    seed: int  # derived from the key so a rerun of one request gives the same text where supported
    #: the question format asked, and how its answers map back to the canonical scale (None: the paper's
    #: ``original`` prompt on this request's scale; read it through ``format``)
    answer_format: AnswerFormat | None = None

    @property
    def format(self) -> AnswerFormat:
        """The request's answer format (``original`` on the request's own scale when none was given)."""
        return self.answer_format or AnswerFormat(scale_min=self.scale_min, scale_max=self.scale_max)


@dataclass
class Completion:
    """What came back. Exactly one of ``text`` / ``distribution`` is the answer; ``error`` marks failure.

    ``raw`` keeps the provider's body (JSON text) so nothing is lost even when parsing fails.
    In distribution mode ``distribution`` maps each scale value to its probability (renormalised over
    the valid answers) and ``valid_mass`` is the probability that fell on valid answers before that.
    """

    text: str | None = None
    distribution: dict[int, float] | None = None
    valid_mass: float | None = None
    raw: str | None = None
    error: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    extra: dict = field(default_factory=dict)
    #: the provider's reply in the normal form, for backends that translate to it (``elicit.outcome`` reads it)
    reply: "ProviderReply | None" = None

    @classmethod
    def of(cls, result: "Completion | ProviderReply") -> "Completion":
        """What ``Backend.complete`` returned, as a Completion."""
        return result if isinstance(result, Completion) else cls.from_reply(result)

    @classmethod
    def from_reply(cls, reply: "ProviderReply") -> "Completion":
        """A completion carrying a translated reply (the old fields filled in for older readers)."""
        # distribution/valid_mass: an in-process engine's exact distribution (local-speed's bridge until
        # "providers" makes elicit/outcome read ProviderReply; deleted with Completion)
        return cls(text=reply.answer_text, raw=reply.raw, finish_reason=reply.finish_reason,
                   input_tokens=reply.input_tokens, output_tokens=reply.output_tokens, reply=reply,
                   distribution=reply.distribution, valid_mass=reply.valid_mass)


#: parameter adaptations a backend may make after a provider rejected a parameter (``elicit.adapt``)
ADAPTATIONS = ("max_completion_tokens", "no_temperature", "no_logprobs", "fold_system", "no_seed")


@dataclass(frozen=True)
class TokenPosition:
    """One generated position: the token the provider chose and the alternatives it reported.

    ``top`` maps token text -> log probability (natural log) as the provider gave it, the chosen token
    included where the provider includes it. Nothing is renormalised or decided here.
    """

    token: str
    logprob: float | None
    top: dict[str, float] = field(default_factory=dict)


@dataclass
class ProviderReply:
    """What a provider answered, in the one normal form (DESIGN.md "One normal form").

    A backend's only job is to translate its provider's body into this; every decision (refusal, budget
    ran out, which position holds the answer, is a distribution trustworthy, ask again with other
    parameters) lives once, in ``elicit/``, and works the same for every provider.

    - ``answer_text``: the visible answer with all reasoning removed; ``None`` when the provider sent no
      answer text at all (no choices/candidates/parts), ``""`` when it sent an empty one.
    - ``reasoning_text`` / ``reasoning_tokens``: the model's thinking, kept apart and never parsed as the
      answer (``reasoning_content``, ``reasoning``, ``<think>`` tags, thinking blocks, thought parts).
      ``reasoned`` is True when the provider showed any sign of reasoning (text, tokens or a redacted block).
    - ``finish_reason``: normalised to ``stop``, ``length`` (token budget ran out), ``content_filter``
      (the provider's moderation blocked it), ``refusal`` (the model declined), ``error`` (the body is
      broken) or ``other``; ``provider_finish_reason`` keeps the provider's own word.
    - ``refusal_reason``: the provider's stated reason for a block, filter or refusal, verbatim.
    - ``positions``: per generated position, the chosen token and its alternatives (None: not asked or
      not returned).
    - ``model_version`` / ``system_fingerprint``: what the provider reports it ran (``model`` in the body).
    - ``raw``: the provider's body, verbatim, for the store.
    """

    answer_text: str | None = None
    reasoning_text: str | None = None
    reasoning_tokens: int | None = None
    reasoned: bool = False
    finish_reason: str | None = None
    provider_finish_reason: str | None = None
    refusal_reason: str | None = None
    positions: list[TokenPosition] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    model_version: str | None = None
    system_fingerprint: str | None = None
    raw: str | None = None
    http_status: int | None = None
    #: an in-process engine's exact answer distribution: canonical value -> probability, renormalised over the
    #: valid answers, and the probability that fell on valid answers before that (None for remote providers)
    distribution: dict[int, float] | None = None
    valid_mass: float | None = None
    extra: dict = field(default_factory=dict)


class BackendError(Exception):
    """A failure worth retrying or recording. ``retry_after`` (seconds) comes from the provider if given."""

    def __init__(self, message: str, *, retryable: bool = True, retry_after: float | None = None,
                 status: int | None = None, raw: str | None = None):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.raw = raw


class ConfigurationError(Exception):
    """The model cannot be used as configured (missing key, SDK not installed, ...). Never retried."""


class Backend(ABC):
    """A provider or local engine. One instance per model; created by ``models.registry.create_backend``."""

    name: ClassVar[str]
    #: requests this backend may have in flight at once unless the model says otherwise
    default_concurrency: ClassVar[int] = 8
    #: True when the engine runs in this process (CPU bound): the runner calls it from a worker thread
    in_process: ClassVar[bool] = False

    #: which of ``ADAPTATIONS`` this backend knows how to apply to its requests
    supported_adaptations: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, spec: ModelSpec):
        self.spec = spec
        #: which of ``ADAPTATIONS`` are in force for this endpoint (learned from 400s, kept in the store)
        self.param_adaptations: set[str] = set()

    def build_params(self, request: ChatRequest) -> dict:
        """The exact provider request body for ``request`` (adaptations applied); batch lines use it too."""
        raise NotImplementedError(f"{type(self).__name__} has no request body of its own")

    def key_env(self) -> str | None:
        """The environment variable holding this model's API key; None when it needs none (local engines)."""
        return None

    def check_ready(self) -> None:
        """Raise ConfigurationError with a one-line fix if the backend cannot run (key, SDK, file)."""

    async def supports_distribution(self) -> bool:
        """Whether this model returns next-token probabilities (may probe once; the runner caches it)."""
        return False

    @abstractmethod
    async def complete(self, request: ChatRequest) -> "Completion | ProviderReply":
        """Answer one request: a ProviderReply (the normal form; ``elicit.outcome`` decides what it means), or
        a Completion (in-process engines that compute a distribution themselves). Raise BackendError for
        failures the runner should retry or record."""

    async def aclose(self) -> None:
        """Release connections or model memory."""
