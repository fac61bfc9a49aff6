"""The whole flow as plain functions: Study -> Plan -> Runner -> Store -> Aggregate -> Analysis -> Report.

This is the Python API (``from whosevalues import Study, run_study``) and what the CLI calls.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console

from whosevalues.elicit.limits import probe_distribution
from whosevalues.elicit.plan import ModelPlan, PlannedRequest, plan_model
from whosevalues.elicit.runner import RunStats, run_requests
from whosevalues.elicit.store import Store, StoreError, check_store_path
from whosevalues.elicit.store_lock import exclusive_run
from whosevalues.preflight import check_endpoint_reachable, check_endpoints_reachable, load_local_models
from whosevalues.models.base import Backend, ConfigurationError, Mode
from whosevalues.models.registry import create_backend
from whosevalues.models.spec import ModelSpec
from whosevalues.study import Study, StudyError
from whosevalues.version import __version__

DEFAULT_OUT = Path("whosevalues-out")
DISTRIBUTION_CAPABILITY = "distribution"


@dataclass
class StudyResult:
    """What a run produced: the stored answers, the item means, and where the files are."""

    out_dir: Path
    db_path: Path
    answers: pd.DataFrame
    item_means: pd.DataFrame
    stats: RunStats
    modes: dict[str, Mode] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def default_db(out_dir: Path) -> Path:
    return out_dir / "whosevalues.sqlite"


def prepare_backends(specs: list[ModelSpec]) -> dict[str, Backend]:
    """Create every backend and check it can run (keys, SDKs, files) before a single request is sent."""
    backends = {spec.id: create_backend(spec) for spec in specs}
    for backend in backends.values():
        backend.check_ready()
    return backends


async def resolve_mode(study: Study, backend: Backend, store: Store, notes: list[str]) -> Mode:
    """``auto``: distribution where the model exposes next-token probabilities (probed once, cached)."""
    if study.mode == "sample":
        return "sample"  # nothing to probe
    spec = backend.spec
    cached = store.capability(spec.endpoint_key, DISTRIBUTION_CAPABILITY)
    if cached is not None:
        supported = cached == "yes"
    else:
        probed = await probe_distribution(backend)  # transient failures retried; None: still unknown
        supported = bool(probed)
        if probed is None:
            notes.append(f"{spec.id}: could not tell whether the endpoint returns next-token probabilities "
                         "(it kept failing); sampling this time, probing again on the next run")
        else:
            store.set_capability(spec.endpoint_key, spec.api_model, DISTRIBUTION_CAPABILITY,
                                 "yes" if supported else "no")
    if study.mode == "auto":
        return "distribution" if supported else "sample"
    if study.mode == "distribution" and not supported:
        notes.append(f"{spec.id}: no next-token probabilities from this provider; sampled "
                     f"{study.samples} answers per item instead of distribution mode")
        return "sample"
    return study.mode


async def choose_modes(study: Study, backends: dict[str, Backend], store: Store,
                       notes: list[str]) -> tuple[dict[str, Mode], dict[str, str]]:
    """One measurement per comparison: the mode of every model, and why.

    ``sample``: all sampled. ``auto``: distribution mode only when every model supports it, else all sampled
    (saying so). ``distribution``: every model must support it. ``per-model``: each model its own (the report
    flags comparisons across modes).
    """
    if study.mode == "sample":
        return {model: "sample" for model in backends}, {model: "the study asks for sampling" for model in backends}
    probing = study.model_copy(update={"mode": "auto"})  # what each model supports, on its own
    deferred = _DeferredCapabilities(store)  # cached only once the study's modes are settled (no row on refusal)
    own = {model: await resolve_mode(probing, backend, deferred, notes) for model, backend in backends.items()}
    modes, reasons = _uniform_modes(study, own, notes)
    deferred.apply()
    return modes, reasons


class _DeferredCapabilities:
    """The store, with capability writes held back until ``apply()``: a study refused after probing leaves
    the store exactly as it was."""

    def __init__(self, store: Store):
        self._store = store
        self._pending: list[tuple] = []

    def set_capability(self, *args) -> None:
        self._pending.append(args)

    def apply(self) -> None:
        for args in self._pending:
            self._store.set_capability(*args)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _uniform_modes(study: Study, own: dict[str, Mode], notes: list[str]) -> tuple[dict[str, Mode], dict[str, str]]:
    """From what each model supports (``own``) to the study's modes under its rule (see ``choose_modes``)."""
    capable = sorted(model for model, mode in own.items() if mode == "distribution")
    incapable = sorted(model for model, mode in own.items() if mode != "distribution")
    if study.mode == "per-model":
        reasons = {model: "per-model: " + ("next-token probabilities available" if own[model] == "distribution"
                                           else "no next-token probabilities, sampled") for model in own}
        if capable and incapable:
            notes.append(f"mode per-model: {', '.join(capable)} read as distributions, {', '.join(incapable)} "
                         "sampled; comparisons across these modes are flagged in the report")
        return own, reasons
    if not incapable:
        return own, {model: f"{study.mode}: every model in the study exposes next-token probabilities"
                     for model in own}
    if study.mode == "distribution":
        raise StudyError(f"mode distribution: {', '.join(incapable)} give(s) no next-token probabilities; use "
                         "--mode sample or auto (one measurement for every model), or mode = \"per-model\" in "
                         "the study file to mix modes")
    if capable:
        notes.append(f"mode auto: every model is sampled, because {', '.join(incapable)} give(s) no next-token "
                     f"probabilities (one measurement per comparison); mode = \"per-model\" would read "
                     f"{', '.join(capable)} as distributions")
    reason = f"auto: sampled because {', '.join(incapable)} give(s) no next-token probabilities"
    return {model: "sample" for model in own}, {model: reason for model in own}


def write_mode_notes(out_dir: Path, modes: dict[str, Mode], reasons: dict[str, str], notes: list[str],
                     since: float) -> None:
    """Add each model's mode and why to ``run_notes.json`` (keeping what this run already wrote there)."""
    path = out_dir / "run_notes.json"
    data: dict = {}
    if path.exists() and path.stat().st_mtime >= since:  # written by this run (e.g. by the runner's notes)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            data = {}
    data.setdefault("notes", [])
    data["notes"] += [note for note in notes if note not in data["notes"]]
    models = data.setdefault("models", {})
    for model, mode in modes.items():
        models.setdefault(model, {}).update({"mode": mode, "mode_reason": reasons.get(model, "")})
    data["mixed_modes"] = len(set(modes.values())) > 1
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    tmp.replace(path)


def plan_study(study: Study, modes: dict[str, Mode]) -> dict[str, ModelPlan]:
    """Every request of the study, per model, in compact form (requests are made one at a time when used)."""
    instruments = study.instruments()
    return {spec.id: plan_model(study, spec, modes[spec.id], instruments) for spec in study.model_specs()}


def run_study(study: Study, out_dir: str | Path = DEFAULT_OUT, db_path: str | Path | None = None, *,
              console: Console | None = None, show_progress: bool = True, command: str = "api") -> StudyResult:
    """Ask everything the study needs that the store does not hold yet, then aggregate to item means."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    db_path = Path(db_path) if db_path else default_db(out_dir)
    study.validate_design()
    check_store_path(db_path, must_exist=False)  # a bad --db fails before anything else is prepared
    specs = study.model_specs()
    backends = prepare_backends(specs)  # keys, SDKs, files
    check_endpoints_reachable(specs)  # a dead URL ends here, in seconds, not after minutes of retries
    load_local_models(backends)  # a corrupt model file ends here, before planning and before the store is made
    store = Store(db_path)
    try:
        with exclusive_run(db_path, console):
            return asyncio.run(_run(study, backends, store, out_dir, db_path, console, show_progress, command))
    except sqlite3.Error as exc:
        raise StoreError(store_write_failure(db_path, exc)) from None
    finally:
        store.close()


def store_write_failure(db_path: Path, exc: BaseException) -> str:
    return (f"writing the store {db_path} failed ({exc}): the disk is full or failing. The store is intact: every "
            f"answer stored before this is kept, and running the same command again (after freeing space) asks "
            f"only what is missing")


async def _run(study: Study, backends: dict[str, Backend], store: Store, out_dir: Path, db_path: Path,
               console: Console, show_progress: bool, command: str) -> StudyResult:
    notes: list[str] = []
    started = time.time()
    try:
        modes, reasons = await choose_modes(study, backends, store, notes)
        plan = plan_study(study, modes)
        all_keys = {key for model_plan in plan.values() for key in model_plan.keys()}
        done = store.answered_keys()
        missing = {model: model_plan.missing(done) for model, model_plan in plan.items()}
        missing = {model: requests for model, requests in missing.items() if len(requests)}
        del done
        run_id = store.start_run(command, study.model_dump_json(), __version__, study.study_id)
        for requests in missing.values():
            store.add_requests(requests, run_id)
        store.link_study(study.study_id, all_keys)
        stats = RunStats()
        if missing:
            stats = await run_requests(missing, backends, store, run_id, console, show_progress)
            await sweep_transient_failures(missing, backends, store, run_id, console, show_progress, stats)
        store.finish_run(run_id, "interrupted" if stats.interrupted else "complete")
    finally:
        for backend in backends.values():
            await backend.aclose()
    answers = store.answers_frame(all_keys)
    item_means = write_item_means(answers, out_dir)
    write_mode_notes(out_dir, modes, reasons, notes, since=started)
    return StudyResult(out_dir, db_path, answers, item_means, stats, modes, notes)


SWEEP_ROUNDS = 10


def _reachable(backend: Backend) -> bool:
    """Whether a sweep can hope to reach this model (an endpoint that went down is not swept; a rerun asks)."""
    try:
        check_endpoint_reachable(backend.spec)
    except ConfigurationError:
        return False
    return True


async def sweep_transient_failures(asked: dict[str, Sequence[PlannedRequest]], backends: dict[str, Backend],
                                   store: Store, run_id: int, console: Console, show_progress: bool,
                                   stats: RunStats) -> None:
    """Ask again, with fresh attempts, what failed on transient errors only (timeouts, 5xx, dropped
    connections) once the rest is done: a burst of faults then costs a little time, not a stray ``error``.
    Sweeps go on while each one gets some answers (at most ``SWEEP_ROUNDS``); an endpoint that stays down
    stops them at once, and the next run asks again."""
    previous = None
    for round_number in range(1, SWEEP_ROUNDS + 1):
        if stats.interrupted:
            return
        failed = store.transient_failure_keys(run_id)
        again = {model: [p for p in requests if p.key in failed] for model, requests in asked.items()}
        again = {model: requests for model, requests in again.items() if requests and _reachable(backends[model])}
        count = sum(len(requests) for requests in again.values())
        if not count or (previous is not None and count >= previous):
            return
        previous = count
        console.print(f"Asking again {count} request(s) that failed on transient errors (sweep {round_number}).")
        await asyncio.sleep(min(2 ** (round_number - 1), 8))  # let a passing outage pass
        more = await run_requests(again, backends, store, run_id, console, show_progress)
        stats.asked += more.asked
        stats.seconds += more.seconds
        stats.interrupted = stats.interrupted or more.interrupted
        stats.statuses["error"] -= count  # they are counted again below, with the status they have now
        stats.statuses.update(more.statuses)


def write_item_means(answers: pd.DataFrame, out_dir: Path) -> pd.DataFrame:
    from whosevalues.elicit.aggregate import item_distributions, item_means

    out_dir.mkdir(parents=True, exist_ok=True)
    means = item_means(answers)
    write_csv_atomically(means, out_dir / "item_means.csv")
    distributions = item_distributions(answers)
    if len(distributions):
        write_csv_atomically(distributions, out_dir / "item_distributions.csv")
    return means


def write_csv_atomically(frame: pd.DataFrame, path: Path) -> None:
    """Write beside the target then rename, so a reader never sees half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)


__all__ = ["Study", "StudyError", "StudyResult", "run_study", "plan_study", "ConfigurationError"]
