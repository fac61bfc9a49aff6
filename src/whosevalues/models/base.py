"""The one protocol every backend implements, and the plain data that crosses it.

A backend turns a :class:`ChatRequest` (one system + one user message) into a :class:`ProviderReply`.
Everything whosevalues knows about a provider lives in its backend class: how ``models --check`` probes it
(:meth:`Backend.check`), its batch adapter and batch price (``batch_adapter``, :meth:`Backend.batch_price_factor`)
and the departures it makes from a request (:meth:`Backend.departures`); per-model facts (thinking switches,
streaming, batch discounts) are catalog data (``catalog.toml``), the class's code the fallback.
It never parses answers and never touches the store: the runner stores the raw result first,
then ``elicit.parse`` turns text into a value. To add a provider, write a subclass of
:class:`Backend` in its own module and register it in ``models/registry.py``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from whosevalues.errors import WhosevaluesError
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.spec import ModelSpec

if TYPE_CHECKING:
    from whosevalues.models.check import CheckResult

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


#: a reply's finish reason in the normal form (the provider's own word is ``provider_finish_reason``)
FinishReason = Literal["stop", "length", "content_filter", "refusal", "error", "other"]
FINISH_REASONS: tuple[str, ...] = FinishReason.__args__  # type: ignore[attr-defined]


#: parameter adaptations a backend may make after a provider rejected a parameter (``elicit.adapt``)
ADAPTATIONS = ("max_completion_tokens", "no_temperature", "no_logprobs", "fold_system", "no_seed", "stream")


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
    finish_reason: FinishReason | None = None
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


class ConfigurationError(WhosevaluesError):
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
    #: ``"module:Class"`` of the provider's batch adapter (``models/batch_*.py``); None: the provider has none
    batch_adapter: ClassVar[str | None] = None
    #: the provider's documented batch price as a fraction of the online one (None: none published)
    batch_price: ClassVar[float | None] = None

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

    def check(self, key: str | None, timeout: float) -> "CheckResult":
        """``models --check``: one cheap probe of this model (never raises; ``models.check`` has the probes)."""
        from whosevalues.models.check import CheckResult

        return CheckResult(self.spec.id, None, "?", "?", f"no check for provider {self.spec.provider!r}")

    def batch_price_factor(self) -> float | None:
        """What a batch request costs as a fraction of the online price: the catalog's figure for the model,
        else the provider's (``batch_price``); None where nothing is published."""
        return self.spec.batch_price_factor or self.batch_price

    def departures(self, request: ChatRequest) -> list[str]:
        """How this backend's request departs from the study's settings, in words for the run notes (e.g.
        Anthropic's temperature left out with thinking on, Gemini's lowest thinking level instead of off)."""
        return []

    def thinking_note(self) -> str | None:
        """The departure the model's thinking setting makes for every request, if any (run notes)."""
        return None

    def check_ready(self) -> None:
        """Raise ConfigurationError with a one-line fix if the backend cannot run (key, SDK, file)."""

    async def supports_distribution(self) -> bool:
        """Whether this model returns next-token probabilities (may probe once; the runner caches it)."""
        return False

    @abstractmethod
    async def complete(self, request: ChatRequest) -> ProviderReply:
        """Answer one request in the normal form (``elicit.outcome`` decides what it means; an in-process
        engine that computes the distribution itself puts it in ``ProviderReply.distribution``). Raise
        BackendError for failures the runner should retry or record."""

    async def aclose(self) -> None:
        """Release connections or model memory."""


def request_body(params: dict[str, Any]) -> dict[str, Any]:
    """The JSON body ``build_params`` describes: its ``extra_body`` merged in at the top level, as the SDK does."""
    body = {key: value for key, value in params.items() if key != "extra_body"}
    body.update(params.get("extra_body") or {})
    return body
