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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
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
    memories = memories if memories is not None else {}
    for model, backend in backends.items():
        memories.setdefault(model, EndpointMemory(backend, store))
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
        lines = (ProgressLines(lambda line: console.print(line, markup=False, highlight=False),
                               {model: len(requests) for model, requests in by_model.items()})
                 if show_progress and not console.is_terminal else None)  # the bar draws nothing in a log

        async def worker(model: str, queue: RequestQueue, gate: ModelGate, once: bool = False) -> None:
            backend = backends[model]
            spec = backend.spec
            memory = memories[model]
            while queue and not stop.is_set() and not memory.stopped:
                planned = queue.pop()
                t0 = time.monotonic()
                try:
                    answered = await answer(backend, planned.request, gate, memory, labels=labels_for(planned),
                                            min_valid_mass=min_valid_mass, max_attempts=spec.max_attempts)
                    status = store.save_answer(planned, answered.reply, answered.outcome, run_id,
                                               attempts=answered.attempts, latency_s=time.monotonic() - t0,
                                               facts=answered.facts)
                except AccountFailure as failure:  # nothing stored: a rerun asks it again
                    stop_for_account(memory, backend, str(failure), failure.reason)
                    _say_stopped(model, memory, stats, console)
                    return
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
                if lines:
                    lines.update(model, done_by_model[model], failed_by_model[model])
                if once:
                    return

        async def model_pool(model: str, requests: Sequence[PlannedRequest]) -> None:
            backend = backends[model]
            gate = ModelGate.for_model(backend.spec, backend.default_concurrency)
            concurrency = gate.max_concurrency  # workers; the gate may admit fewer (adaptive, on 429s)
            queue = RequestQueue(requests)  # plan order (prefix reuse); each request made when taken
            if memories[model].stopped:  # stopped earlier in this run (an account-level failure, maybe the probe's)
                _say_stopped(model, memories[model], stats, console)
                return
            await worker(model, queue, gate, once=True)  # the pilot: learn adaptations and budget first
            pool = [asyncio.create_task(worker(model, queue, gate))
                    for _ in range(min(concurrency, max(len(queue), 1)))]
            workers.extend(pool)
            await asyncio.gather(*pool)

        for model, requests in by_model.items():
            workers.append(asyncio.create_task(model_pool(model, requests)))
        try:
            await asyncio.gather(*workers)
        except asyncio.CancelledError:
            pass
        finally:
            if handler_installed:
                loop.remove_signal_handler(signal.SIGINT)
    stats.seconds = time.monotonic() - started
    return stats

