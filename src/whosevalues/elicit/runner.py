"""The runner: ask every missing request, store every answer, never lose one.

One pool of workers per model (``max_concurrency`` of them), all models at once, each worker taking the
next request of its model, calling it through ``limits.call_with_retries`` (throttling, backoff, attempt
cap) and storing the result before taking another. SIGINT stops taking new requests and lets the ones in
flight finish and be stored; a second SIGINT cancels them. SIGKILL loses at most the requests in flight.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)

from whosevalues.elicit.limits import FinalFailure, ModelGate, call_with_retries
from whosevalues.elicit.parse import parse_answer
from whosevalues.elicit.plan import PlannedRequest
from whosevalues.elicit.store import Store
from whosevalues.instruments import load_instrument
from whosevalues.models.base import Backend, Completion


@dataclass
class RunStats:
    asked: int = 0
    statuses: Counter = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0

    def merge(self, other: "RunStats") -> None:
        """Add another part of the same run (online requests beside batches)."""
        self.asked += other.asked
        self.statuses.update(other.statuses)
        self.interrupted = self.interrupted or other.interrupted


def parse_completion(planned: PlannedRequest, completion: Completion) -> tuple[float | None, str, str]:
    """The stored value and status of one completion (the store calls this after saving the raw text)."""
    request = planned.request
    if completion.error:
        return None, "error", completion.error
    if completion.distribution is not None:
        total = sum(completion.distribution.values())
        if total <= 0:
            return None, "no_number", "no probability on any answer of the scale"
        expectation = sum(value * p for value, p in completion.distribution.items()) / total
        return expectation, "valid", f"valid_mass={completion.valid_mass:.4f}" if completion.valid_mass else ""
    labels = load_instrument(planned.survey).scale.labels.get(planned.language)  # a bare label counts too
    parsed = parse_answer(completion.text, request.scale_min, request.scale_max, labels)
    return (float(parsed.value) if parsed.value is not None else None), parsed.status, parsed.detail


def _progress(console: Console, show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>7.1f}/s"), TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        disable=not show,
    )


async def run_requests(by_model: dict[str, list[PlannedRequest]], backends: dict[str, Backend], store: Store,
                       run_id: int, console: Console | None = None, show_progress: bool = True) -> RunStats:
    """Ask every planned request (the caller has removed what is already stored)."""
    console = console or Console(stderr=True)
    stats = RunStats()
    stop = asyncio.Event()
    started = time.monotonic()
    failed_by_model: Counter = Counter()
    done_by_model: defaultdict[str, int] = defaultdict(int)

    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_sigint() -> None:
        nonlocal interrupts
        interrupts += 1
        stats.interrupted = True
        stop.set()
        if interrupts == 1:
            console.print("[yellow]Interrupted: finishing and storing the requests in flight "
                          "(Ctrl-C again to abandon them; a rerun asks them again).")
        else:
            for task in workers:
                task.cancel()

    workers: list[asyncio.Task] = []
    try:
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        handler_installed = True
    except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
        handler_installed = False

    with _progress(console, show_progress) as progress:
        task_ids = {model: progress.add_task(model, total=len(requests), rate=0.0, failed=0)
                    for model, requests in by_model.items()}

        async def worker(model: str, queue: list[PlannedRequest], gate: ModelGate) -> None:
            backend = backends[model]
            spec = backend.spec
            while queue and not stop.is_set():
                planned = queue.pop()
                t0 = time.monotonic()
                try:
                    completion, attempts = await call_with_retries(backend, planned.request, gate,
                                                                   max_attempts=spec.max_attempts)
                    status = store.save_answer(planned, completion, run_id, attempts=attempts,
                                               latency_s=time.monotonic() - t0, parse=parse_completion)
                except FinalFailure as failure:
                    store.save_failure(planned, run_id, str(failure), failure.raw, failure.attempts,
                                       failure.status, failure.retryable)
                    status = "error"
                stats.asked += 1
                stats.statuses[status] += 1
                done_by_model[model] += 1
                if status == "error":
                    failed_by_model[model] += 1
                elapsed = max(time.monotonic() - started, 1e-9)
                progress.update(task_ids[model], advance=1, rate=done_by_model[model] / elapsed,
                                failed=failed_by_model[model])

        for model, requests in by_model.items():
            backend = backends[model]
            gate = ModelGate.for_model(backend.spec, backend.default_concurrency)
            concurrency = gate.max_concurrency  # workers; the gate may admit fewer (adaptive, on 429s)
            # Workers pop from the end; reverse so requests go out in plan order (prefix reuse).
            queue = list(reversed(requests))
            for _ in range(min(concurrency, max(len(queue), 1))):
                workers.append(asyncio.create_task(worker(model, queue, gate)))
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            pass
        finally:
            if handler_installed:
                loop.remove_signal_handler(signal.SIGINT)
    stats.seconds = time.monotonic() - started
    return stats

