"""The typed records an answer carries from the runner to the store, and the version of the rules that decided it.

- :class:`RunFacts`: what was really sent for one answer (the budget used, the adaptations in force, whether
  the seed was honoured); kept in the store beside the provider's reply.
- :class:`Answered`: one request's result: the provider's reply, what it means, the attempts it took, the facts.
- :data:`PARSER_VERSION`: a digest of the modules that decide what a reply means. An answer whose deciding
  raised is stored as ``unparsed`` with the version it failed under; a rerun asks it again only once the
  parser changed (``Store.answered_keys``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from whosevalues.elicit.outcome import Outcome
from whosevalues.models.base import ProviderReply

#: the modules whose rules turn a reply into a value and status
DECIDING_MODULES = ("whosevalues.elicit.outcome", "whosevalues.elicit.parse", "whosevalues.elicit.distribution")


@dataclass(frozen=True)
class RunFacts:
    """What was really sent: ``max_tokens`` (the budget of the attempt that answered), ``adaptations`` (the
    endpoint's learned ones and the departures the translation reported), ``seed_honoured`` (True: sent and
    accepted; False: the provider rejected it; None: never sent)."""

    max_tokens: int | None = None
    adaptations: tuple[str, ...] = ()
    seed_honoured: bool | None = None


@dataclass
class Answered:
    reply: ProviderReply
    outcome: Outcome
    attempts: int
    facts: RunFacts


def _parser_version() -> str:
    digest = hashlib.sha256()
    for name in DECIDING_MODULES:
        digest.update(Path(import_module(name).__file__ or "").read_bytes())
    return digest.hexdigest()[:16]


PARSER_VERSION = _parser_version()
