"""The runner: ask every missing request, store every answer, never lose one.

One pool of workers per model (``max_concurrency`` of them), all models at once, each worker taking the
next request of its model, calling it through ``answering.answer`` (throttling, backoff and attempt cap
from ``limits``; parameter adaptation and larger token budgets decided in ``outcome``) and storing the result
before taking another. Each model's first request goes alone: what it teaches (an adaptation, the budget a
reasoning model needs) is in force before the other workers start, so the lesson is paid for once.
SIGINT stops taking new requests and lets the ones in
flight finish and be stored; a second SIGINT cancels them. SIGKILL loses at most the requests in flight.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from whosevalues.elicit.account import stop_for_account
from whosevalues.elicit.answering import answer, decide_safely
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.limits import AccountFailure, FinalFailure, ModelGate
from whosevalues.elicit.outcome import DEFAULT_MIN_VALID_MASS, Outcome
from whosevalues.elicit.plan import PlannedRequest, RequestQueue
from whosevalues.elicit.progress_lines import ProgressLines
from whosevalues.elicit.store import Store
from whosevalues.instruments import load_instrument
from whosevalues.models.base import Backend, ProviderReply


@dataclass
class RunStats:
    asked: int = 0
    statuses: Counter = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0
    #: of ``asked``, the requests of the sample check (kept apart from the study's answers)
    sample_check: int = 0
    #: model -> the account-level failure that stopped it (``elicit.account``): the run must end non-zero
    stopped: dict[str, str] = field(default_factory=dict)


def labels_for(planned: PlannedRequest):
    """The scale labels in the prompt's language (a bare label counts as its value)."""
    return load_instrument(planned.survey).scale.labels.get(planned.language)


def decide_planned(planned: PlannedRequest, reply: ProviderReply,
                   min_valid_mass: float = DEFAULT_MIN_VALID_MASS) -> Outcome:
    """What one reply to a planned request means (``answering.decide_safely``: never raises)."""
    return decide_safely(reply, planned.request, labels=labels_for(planned), min_valid_mass=min_valid_mass)


def _say_stopped(model: str, memory: EndpointMemory, stats: RunStats, console: Console) -> None:
    """Record a model stopped on an account problem; the terminal says it once per run."""
    stats.stopped[model] = memory.account_problem or ""
    if memory.announce():
        console.print(Text(stats.stopped[model], style="red"), soft_wrap=True)


def _progress(console: Console, show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
        TextColumn("{task.fields[rate]:>7.1f}/s"), TextColumn("[red]{task.fields[failed]} failed"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=console, transient=False,
        disable=not show,
    )


async def run_requests(by_model: Mapping[str, Sequence[PlannedRequest]], backends: dict[str, Backend], store: Store,
                       run_id: int, console: Console | None = None, show_progress: bool = True, *,
                       memories: dict[str, EndpointMemory] | None = None,
                       min_valid_mass: float = DEFAULT_MIN_VALID_MASS) -> RunStats:
    """Ask every planned request (the caller has removed what is already stored).

    ``memories`` (one per model) carry the endpoint's adaptations and budgets; made from the store if absent.
    """
    console = console or Console(stderr=True)
    run = _RequestRun(by_model, backends, store, run_id, console, _memories_for(backends, store, memories),
                      min_valid_mass)
    with run.sigint_handled(), _progress(console, show_progress) as progress:
        run.show_progress(progress, show_progress)
        await run.ask_every_model()
    return run.finish()


def _memories_for(backends: dict[str, Backend], store: Store,
                  memories: dict[str, EndpointMemory] | None) -> dict[str, EndpointMemory]:
    """One endpoint memory per model: the caller's, else made from the store (added to the caller's dict)."""
    memories = memories if memories is not None else {}
    for model, backend in backends.items():
        memories.setdefault(model, EndpointMemory(backend, store))
    return memories


class _RequestRun:
    """One call of :func:`run_requests`: its state (stats, progress, the stop flag, the tasks) and its steps
    (interrupts, progress, one pool per model, one request, the count)."""

    def __init__(self, by_model: Mapping[str, Sequence[PlannedRequest]], backends: dict[str, Backend],
                 store: Store, run_id: int, console: Console, memories: dict[str, EndpointMemory],
                 min_valid_mass: float):
        self.by_model, self.backends, self.store, self.run_id = by_model, backends, store, run_id
        self.console, self.memories, self.min_valid_mass = console, memories, min_valid_mass
        self.stats = RunStats()
        self.stop = asyncio.Event()
        self.started = time.monotonic()
        self.failed_by_model: Counter = Counter()
        self.done_by_model: defaultdict[str, int] = defaultdict(int)
        self.interrupts = 0
        self.tasks: list[asyncio.Task] = []  # every pool and worker: a second SIGINT cancels them
        self.progress: Progress | None = None
        self.task_ids: dict[str, TaskID] = {}
        self.lines: ProgressLines | None = None

    # -- interrupts -------------------------------------------------------------------------------
    @contextmanager
    def sigint_handled(self) -> Iterator[None]:
        """SIGINT stops taking requests (the first) or cancels those in flight (the second), while inside."""
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, self.on_sigint)
            installed = True
        except (NotImplementedError, RuntimeError):  # not the main thread, or Windows
            installed = False
        try:
            yield
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGINT)

    def on_sigint(self) -> None:
        self.interrupts += 1
        self.stats.interrupted = True
        self.stop.set()
        if self.interrupts == 1:
            self.console.print("[yellow]Interrupted: finishing and storing the requests in flight "
                               "(Ctrl-C again to abandon them; a rerun asks them again).")
        else:
            for task in self.tasks:
                task.cancel()

    # -- progress ---------------------------------------------------------------------------------
    def show_progress(self, progress: Progress, show: bool) -> None:
        """A bar per model; in a log (no terminal, where the bar draws nothing) progress lines instead."""
        self.progress = progress
        self.task_ids = {model: progress.add_task(model, total=len(requests), rate=0.0, failed=0)
                         for model, requests in self.by_model.items()}
        if show and not self.console.is_terminal:
            self.lines = ProgressLines(lambda line: self.console.print(line, markup=False, highlight=False),
                                       {model: len(requests) for model, requests in self.by_model.items()})

    def _count(self, model: str, status: str) -> None:
        """One more request of ``model`` done, with ``status``: the stats, the bar and the lines."""
        self.stats.asked += 1
        self.stats.statuses[status] += 1
        self.done_by_model[model] += 1
        if status == "error":
            self.failed_by_model[model] += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        if self.progress is not None:
            self.progress.update(self.task_ids[model], advance=1, rate=self.done_by_model[model] / elapsed,
                                 failed=self.failed_by_model[model])
        if self.lines:
            self.lines.update(model, self.done_by_model[model], self.failed_by_model[model])

    # -- asking -----------------------------------------------------------------------------------
    async def ask_every_model(self) -> None:
        """All models at once, one pool each, until done, stopped or cancelled (a second SIGINT)."""
        for model, requests in self.by_model.items():
            self.tasks.append(asyncio.create_task(self._model_pool(model, requests)))
        try:
            await asyncio.gather(*self.tasks)
        except asyncio.CancelledError:
            pass

    async def _model_pool(self, model: str, requests: Sequence[PlannedRequest]) -> None:
        """The pilot request alone, then ``max_concurrency`` workers on the rest of the model's queue."""
        backend = self.backends[model]
        gate = ModelGate.for_model(backend.spec, backend.default_concurrency)
        concurrency = gate.max_concurrency  # workers; the gate may admit fewer (adaptive, on 429s)
        queue = RequestQueue(requests)  # plan order (prefix reuse); each request made when taken
        if self.memories[model].stopped:  # stopped earlier in this run (an account-level failure, maybe the probe's)
            _say_stopped(model, self.memories[model], self.stats, self.console)
            return
        await self._worker(model, queue, gate, once=True)  # the pilot: learn adaptations and budget first
        pool = [asyncio.create_task(self._worker(model, queue, gate))
                for _ in range(min(concurrency, max(len(queue), 1)))]
        self.tasks.extend(pool)
        await asyncio.gather(*pool)

    async def _worker(self, model: str, queue: RequestQueue, gate: ModelGate, once: bool = False) -> None:
        """Take the model's next request until the queue is empty, the run stops or the model is stopped."""
        memory = self.memories[model]
        while queue and not self.stop.is_set() and not memory.stopped:
            status = await self._ask_one(model, queue.pop(), gate)
            if status is None:
                return
            self._count(model, status)
            if once:
                return

    async def _ask_one(self, model: str, planned: PlannedRequest, gate: ModelGate) -> str | None:
        """Ask one request and store what came back; its status, or None when an account-level failure
        stopped the model (nothing stored: a rerun asks it again)."""
        backend, memory = self.backends[model], self.memories[model]
        t0 = time.monotonic()
        try:
            answered = await answer(backend, planned.request, gate, memory, labels=labels_for(planned),
                                    min_valid_mass=self.min_valid_mass, max_attempts=backend.spec.max_attempts)
            return self.store.save_answer(planned, answered.reply, answered.outcome, self.run_id,
                                          attempts=answered.attempts, latency_s=time.monotonic() - t0,
                                          facts=answered.facts)
        except AccountFailure as failure:
            stop_for_account(memory, backend, str(failure), failure.reason)
            _say_stopped(model, memory, self.stats, self.console)
            return None
        except FinalFailure as failure:
            self.store.save_failure(planned, self.run_id, str(failure), failure.raw, failure.attempts,
                                    failure.status, failure.retryable)
            return "error"

    def finish(self) -> RunStats:
        self.stats.seconds = time.monotonic() - self.started
        return self.stats
