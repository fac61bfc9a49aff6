"""What one endpoint has taught us: parameter adaptations and the token budget that worked.

Kept in the store (table ``endpoint_settings``, keyed by ``ModelSpec.endpoint_key`` like the capability cache)
so a study learns each thing once: the first request that meets a 400 or runs out of budget pays for it, the
rest start from what worked, and a rerun starts there too.
"""

from __future__ import annotations

import threading

from whosevalues.elicit.adapt import Adaptation, note_for
from whosevalues.elicit.settings_store import SettingsStore
from whosevalues.models.base import Backend

ADAPT_PREFIX = "adapt:"
BUDGET_PREFIX = "budget:"


class EndpointMemory:
    """Adaptations in force and budgets per mode for one backend; written through to the store."""

    def __init__(self, backend: Backend, store: SettingsStore | None = None, temperature: float | None = None):
        self.backend = backend
        self.store = store
        self.endpoint = backend.spec.endpoint_key
        self.budgets: dict[str, int] = {}
        self.notes: dict[str, str] = {}
        #: set at the first account-level failure (``elicit.account``): no further request goes to this model
        self.account_problem: str | None = None
        self._announced = False
        self._lock = threading.Lock()
        if store is not None:
            for setting, (value, _note) in store.endpoint_settings(self.endpoint).items():
                if setting.startswith(ADAPT_PREFIX):
                    name = setting[len(ADAPT_PREFIX):]
                    if name in backend.supported_adaptations:
                        backend.param_adaptations.add(name)
                        self.notes[name] = note_for(name, backend.spec.id, temperature)
                elif setting.startswith(BUDGET_PREFIX) and value.isdigit():
                    self.budgets[setting[len(BUDGET_PREFIX):]] = int(value)

    def learn(self, adaptation: Adaptation) -> bool:
        """Apply an adaptation from now on; False when the backend cannot make it."""
        if adaptation.name not in self.backend.supported_adaptations:
            return False
        with self._lock:
            if adaptation.name not in self.backend.param_adaptations:
                self.backend.param_adaptations.add(adaptation.name)
                self.notes[adaptation.name] = adaptation.note
                if self.store is not None:
                    self.store.set_endpoint_setting(self.endpoint, ADAPT_PREFIX + adaptation.name, "1",
                                                    adaptation.note)
        return True

    def stop_model(self, problem: str) -> bool:
        """Stop asking this model for the rest of the run; True the first time (the caller says it once)."""
        with self._lock:
            first = self.account_problem is None
            if first:
                self.account_problem = problem
        return first

    def announce(self) -> bool:
        """True the first time it is asked after the model was stopped: the one time the terminal says why."""
        with self._lock:
            first = self.account_problem is not None and not self._announced
            self._announced = self._announced or first
        return first

    @property
    def stopped(self) -> bool:
        return self.account_problem is not None

    def start_budget(self, mode: str, requested: int) -> int:
        return max(requested, self.budgets.get(mode, 0))

    def budget_worked(self, mode: str, budget: int) -> None:
        with self._lock:
            if budget > self.budgets.get(mode, 0):
                self.budgets[mode] = budget
                if self.store is not None:
                    self.store.set_endpoint_setting(self.endpoint, BUDGET_PREFIX + mode, str(budget),
                                                    f"answers came within {budget} tokens")

    def note(self, notes: list[str]) -> None:
        """Departures a backend's translation reported itself (kept for the run notes, not the store)."""
        for text in notes:
            self.notes.setdefault(f"~{text}", text)

    @property
    def adaptation_notes(self) -> list[str]:
        return [self.notes[name] for name in sorted(self.notes)]
