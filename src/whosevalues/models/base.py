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

    def __init__(self, spec: ModelSpec):
        self.spec = spec

    def check_ready(self) -> None:
        """Raise ConfigurationError with a one-line fix if the backend cannot run (key, SDK, file)."""

    async def supports_distribution(self) -> bool:
        """Whether this model returns next-token probabilities (may probe once; the runner caches it)."""
        return False

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion:
        """Answer one request. Raise BackendError for failures the runner should retry or record."""

    async def aclose(self) -> None:
        """Release connections or model memory."""
