"""A plain progress line now and then when the output is not a terminal (a log file, CI, nohup).

rich's live progress bar draws nothing there until the end, so a long run looked dead for minutes.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: seconds between two progress lines
EVERY_S = 30.0


class ProgressLines:
    """Prints "model: 120/540 asked (3 failed), 2.1/s" per model at most every ``every`` seconds."""

    def __init__(self, print_line: Callable[[str], None], totals: dict[str, int], every: float = EVERY_S,
                 clock: Callable[[], float] = time.monotonic):
        self.print_line = print_line
        self.totals = totals
        self.every = every
        self.clock = clock
        self.started = clock()
        self.last: dict[str, float] = {model: self.started for model in totals}

    def update(self, model: str, done: int, failed: int) -> None:
        """Called after each answer; prints only when ``every`` seconds have passed (rich prints the final bars
        itself when the run ends, so the last state is never repeated here)."""
        now = self.clock()
        if now - self.last.get(model, self.started) < self.every:
            return
        self.last[model] = now
        rate = done / max(now - self.started, 1e-9)
        self.print_line(f"{model}: {done}/{self.totals.get(model, done)} asked ({failed} failed), {rate:.1f}/s, "
                        f"{now - self.started:.0f}s elapsed")
