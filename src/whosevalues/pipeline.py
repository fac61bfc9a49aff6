"""The whole flow as plain functions: Study -> Plan -> Runner -> Store -> Aggregate -> Analysis -> Report.

This is the Python API (``from whosevalues import Study, run_study``) and what the CLI calls.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from whosevalues.elicit.batch import BatchSession
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.followup import (
    replaced_keys,
    run_sample_check,
    sample_checks,
    sampled_instead_note,
    sampled_instead_plan,
)
from whosevalues.elicit.formats import format_notes
from whosevalues.elicit.plan import ModelPlan, PlannedRequest, plan_model
from whosevalues.elicit.probe import probe_endpoint
from whosevalues.elicit.run_notes import build_run_notes, merge_stats, print_model_notes, write_run_notes
from whosevalues.elicit.runner import RunStats, run_requests
from whosevalues.elicit.settings_store import SettingsStore
from whosevalues.elicit.store import Store, StoreError, check_store_path
from whosevalues.elicit.store_lock import exclusive_run
from whosevalues.models.base import Backend, ConfigurationError, Mode
from whosevalues.models.registry import create_backend
from whosevalues.models.spec import ModelSpec
from whosevalues.outfiles import atomic_write, write_csv_atomically
from whosevalues.preflight import check_endpoint_reachable, check_endpoints_reachable, load_local_models
from whosevalues.study import Study, StudyError, check_name_keeps_design
from whosevalues.version import __version__

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd

DEFAULT_OUT = Path("whosevalues-out")
DISTRIBUTION_CAPABILITY = "distribution"
DISTRIBUTION_REASON = "distribution_reason"


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
    run_notes: dict = field(default_factory=dict)


def default_db(out_dir: Path) -> Path:
    return out_dir / "whosevalues.sqlite"


def prepare_backends(specs: list[ModelSpec]) -> dict[str, Backend]:
    """Create every backend and check it can run (keys, SDKs, files) before a single request is sent."""
    backends = {spec.id: create_backend(spec) for spec in specs}
    for backend in backends.values():
        backend.check_ready()
    return backends


async def resolve_mode(study: Study, backend: Backend, store: SettingsStore, notes: list[str],
                       memory: EndpointMemory | None = None, reasons: dict[str, str] | None = None) -> Mode:
    """``auto``: distribution where the endpoint's next-token probabilities can be trusted (``elicit.probe``,
    probed once and cached with its reason); ``reasons[model]`` says why the mode was chosen."""
    spec = backend.spec
    reasons = reasons if reasons is not None else {}
    if study.mode == "sample":
        reasons[spec.id] = "the study asks for sampling"
        return "sample"  # nothing to probe
    supported, why = await _distribution_verdict(backend, store, notes, memory or EndpointMemory(backend, store))
    if study.mode == "auto":
        reasons[spec.id] = f"auto: {why}"
        return "distribution" if supported else "sample"
    if not supported:
        reasons[spec.id] = f"distribution asked, but {why}; sampled instead"
        notes.append(f"{spec.id}: distribution mode was asked, but {why}; sampled {study.samples} answers per "
                     "item instead")
        return "sample"
    reasons[spec.id] = f"the study asks for distributions; {why}"
    return "distribution"  # 'distribution' or 'per-model': this model reads distributions


async def _distribution_verdict(backend: Backend, store: SettingsStore, notes: list[str],
                                memory: EndpointMemory) -> tuple[bool, str]:
    """(supported, why), from the store's cache or a fresh probe (cached unless the endpoint kept failing)."""
    spec = backend.spec
    cached = store.capability(spec.endpoint_key, DISTRIBUTION_CAPABILITY)
    if cached is not None:
        reason = store.endpoint_settings(spec.endpoint_key).get(DISTRIBUTION_REASON, (None, None))[0]
        return cached == "yes", reason or ("next-token probabilities returned" if cached == "yes"
                                           else "no next-token probabilities from this provider")
    result = await probe_endpoint(backend, memory)
    if memory.stopped:  # an account-level failure (elicit.account): the runner says it, nothing to cache
        return False, result.reason
    if result.supported is None:
        notes.append(f"{spec.id}: could not tell whether the endpoint returns next-token probabilities "
                     "(it kept failing); sampling this time, probing again on the next run")
        return False, result.reason
    store.set_capability(spec.endpoint_key, spec.api_model, DISTRIBUTION_CAPABILITY,
                         "yes" if result.supported else "no")
    store.set_endpoint_setting(spec.endpoint_key, DISTRIBUTION_REASON, result.reason)
    return result.supported, result.reason


async def choose_modes(study: Study, backends: dict[str, Backend], store: Store, notes: list[str],
                       memories: dict[str, EndpointMemory] | None = None
                       ) -> tuple[dict[str, Mode], dict[str, str]]:
    """One measurement per comparison: the mode of every model, and why.

    ``sample``: all sampled. ``auto``: distribution mode only when every model supports it, else all sampled
    (saying so). ``distribution``: every model must support it. ``per-model``: each model its own (the report
    flags comparisons across modes).
    """
    if study.mode == "sample":
        return {model: "sample" for model in backends}, {model: "the study asks for sampling" for model in backends}
    probing = study.model_copy(update={"mode": "auto"})  # what each model supports, on its own
    deferred = _DeferredWrites(store)  # probe verdicts kept only once the modes are settled (none on refusal)
    own_reasons: dict[str, str] = {}
    own = {model: await resolve_mode(probing, backend, deferred, notes, (memories or {}).get(model), own_reasons)
           for model, backend in backends.items()}
    stopped = {model for model in own if memories and model in memories and memories[model].stopped}
    modes, reasons = _uniform_modes(study, {m: mode for m, mode in own.items() if m not in stopped}, own_reasons, notes)
    for model in stopped:  # never asked in this run: its mode does not constrain the others'
        modes[model], reasons[model] = "sample", "not asked: an account problem stopped it (see above)"
    deferred.apply()
    return modes, reasons


class _DeferredWrites:
    """The store, with probe verdicts (capabilities, endpoint settings) held back until ``apply()``: a study
    refused after probing leaves the store exactly as it was."""

    def __init__(self, store: Store):
        self._store = store
        self._pending: list[tuple[str, tuple]] = []

    def capability(self, model: str, capability: str) -> str | None:
        return self._store.capability(model, capability)

    def endpoint_settings(self, endpoint: str) -> dict[str, tuple[str, str | None]]:
        return self._store.endpoint_settings(endpoint)

    def set_capability(self, model: str, api_model: str | None, capability: str, value: str) -> None:
        self._pending.append(("set_capability", (model, api_model, capability, value)))

    def set_endpoint_setting(self, endpoint: str, setting: str, value: str, note: str | None = None) -> None:
        self._pending.append(("set_endpoint_setting", (endpoint, setting, value, note)))

    def apply(self) -> None:
        for method, args in self._pending:
            getattr(self._store, method)(*args)

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def _uniform_modes(study: Study, own: dict[str, Mode], own_reasons: dict[str, str],
                   notes: list[str]) -> tuple[dict[str, Mode], dict[str, str]]:
    """From what each model supports on its own to the study's modes under its rule (see ``choose_modes``)."""
    capable = sorted(model for model, mode in own.items() if mode == "distribution")
    incapable = sorted(model for model, mode in own.items() if mode != "distribution")
    why = {model: own_reasons.get(model, "").removeprefix("auto: ") for model in own}
    if study.mode == "per-model":
        if capable and incapable:
            notes.append(f"mode per-model: {', '.join(capable)} read as distributions, {', '.join(incapable)} "
                         "sampled; comparisons across these modes are flagged in the report")
        return own, {model: f"per-model: {why[model]}" for model in own}
    if not incapable:
        return own, {model: f"{study.mode}: every model in the study has trustworthy next-token probabilities "
                            f"({why[model]})" for model in own}
    if study.mode == "distribution":
        raise StudyError(f"mode distribution: {', '.join(f'{m} ({why[m]})' for m in incapable)}; use --mode "
                         "sample or auto (one measurement for every model), or mode = \"per-model\" in the study "
                         "file to mix modes")
    if capable:
        notes.append(f"mode auto: every model is sampled, because {', '.join(incapable)} give(s) no trustworthy "
                     f"next-token probabilities (one measurement per comparison); mode = \"per-model\" would read "
                     f"{', '.join(capable)} as distributions")
    return ({model: "sample" for model in own},
            {model: f"auto: every model sampled, because {', '.join(incapable)} cannot be read as distributions"
                    + (f" ({why[model]})" if model in incapable else "") for model in own})


def _not_in(requests: Sequence[PlannedRequest], done: set[str]) -> Sequence[PlannedRequest]:
    """The requests whose answer is not stored yet (a plan stays compact; follow-up lists are filtered)."""
    if isinstance(requests, ModelPlan):
        return requests.missing(done)
    return [p for p in requests if p.key not in done]


def write_mode_notes(out_dir: Path, modes: Mapping[str, str], reasons: dict[str, str], notes: list[str],
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
    atomic_write(path, json.dumps(data, indent=2, ensure_ascii=False))


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
        check_name_keeps_design(study, store.study_design(study.study_id), str(db_path))
        with exclusive_run(db_path, console):
            return asyncio.run(_run(study, backends, store, out_dir, db_path, console, show_progress, command))
    except sqlite3.Error as exc:
        raise StoreError(store_write_failure(db_path, exc)) from None
    finally:
        store.close()


def store_write_failure(db_path: Path, exc: BaseException) -> str:
    """What a failed write into the store means, from SQLite's own words (read-only is not a full disk)."""
    kept = ("The store is intact: every answer stored before this is kept, and running the same command again "
            "asks only what is missing")
    if _read_only(exc):
        return (f"the store {db_path} is read-only ({exc}): make it and its directory writable, or give another "
                f"--db path. {kept}")
    return f"writing the store {db_path} failed ({exc}): the disk is full or failing; free space. {kept}"


def _read_only(exc: BaseException) -> bool:
    """Whether SQLite refused a write to a read-only store: its result code (Python 3.11+), else its words."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF == sqlite3.SQLITE_READONLY  # the primary code of every SQLITE_READONLY_* one
    return "readonly" in str(exc).replace("-", "").replace(" ", "")  # Python 3.10: no code on the exception


async def _run(study: Study, backends: dict[str, Backend], store: Store, out_dir: Path, db_path: Path,
               console: Console, show_progress: bool, command: str) -> StudyResult:
    run = _StudyRun(study, backends, store, console, show_progress)
    try:
        await run.start(command)
        await run.ask_plan()
        await run.ask_sampled_instead()
        await run.ask_sample_check()
        run.finish()
    finally:
        for backend in backends.values():
            await backend.aclose()
    answers = store.answers_frame(run.all_keys)
    item_means = write_item_means(answers, out_dir)
    run_notes = run.run_notes(answers)
    write_run_notes(run_notes, out_dir)
    print_model_notes(run_notes, console)
    return StudyResult(out_dir, db_path, answers, item_means, run.stats, run.modes, run_notes["notes"], run_notes)


class _StudyRun:
    """One run of a study (``_run``): what it learns on the way (modes, plan, stats, follow-ups, checks) and
    its steps, in order: ``start``, ``ask_plan``, ``ask_sampled_instead``, ``ask_sample_check``, ``finish``,
    then ``run_notes``."""

    def __init__(self, study: Study, backends: dict[str, Backend], store: Store, console: Console,
                 show_progress: bool):
        self.study, self.backends, self.store = study, backends, store
        self.console, self.show_progress = console, show_progress
        self.notes: list[str] = []
        self.reasons: dict[str, str] = {}
        self.memories = {model: EndpointMemory(backend, store, study.temperature if study.temperature is not None
                                               else backend.spec.temperature)
                         for model, backend in backends.items()}
        self.min_mass = study.min_valid_mass
        self.modes: dict[str, Mode] = {}
        self.plan: dict[str, ModelPlan] = {}
        self.run_id = 0
        self.batches: BatchSession | None = None
        self.stats = RunStats()
        self.replaced: dict[str, set[str]] = {}
        self.follow_up: dict[str, list[PlannedRequest]] = {}
        self.checks: dict[str, list[PlannedRequest]] = {}
        self.all_keys: set[str] = set()

    async def start(self, command: str) -> None:
        """The models' modes (probing), the plan, the run's row in the store and the batch session."""
        study = self.study
        self.modes, self.reasons = await choose_modes(study, self.backends, self.store, self.notes, self.memories)
        self.plan = plan_study(study, self.modes)
        self.notes += format_notes(study, self.modes)  # a format asked otherwise than the others (text sampled)
        self.run_id = self.store.start_run(command, study.model_dump_json(), __version__, study.study_id)
        self.batches = BatchSession(self.store, self.backends, self.run_id, RunStats(), self.console,
                                    self.show_progress, self.notes, memories=self.memories,
                                    parse_options={"min_valid_mass": self.min_mass})

    async def ask_plan(self) -> None:
        self.stats = await self.ask(self.plan)

    async def ask_sampled_instead(self) -> None:
        """Items whose distributions were too weak, asked again in sample mode (only distributions can be weak)."""
        if self.stats.interrupted or "distribution" not in self.modes.values():
            return
        self.replaced, self.follow_up = sampled_instead_plan(self.study, self.store, self.plan)
        if self.follow_up:
            self.stats = merge_stats(self.stats, await self.ask(self.follow_up))

    async def ask_sample_check(self) -> None:
        """Where the tool chose distributions (auto, per-model), the sample check, in rounds until its verdict
        is clear."""
        if self.study.mode in ("auto", "per-model") and not self.stats.interrupted:
            self.checks = await run_sample_check(self.study, self.modes, self.store, self.plan, self._ask_check)

    async def _ask_check(self, requests: Mapping[str, Sequence[PlannedRequest]]) -> RunStats:
        part = await self.ask(requests)
        part.sample_check = part.asked  # said apart in the run's summary
        self.stats = merge_stats(self.stats, part)
        return part

    def finish(self) -> None:
        """The study's keys linked (what `analyze --db --study` reads: never another study's); the run closed."""
        self.all_keys = _study_keys(self.plan, self.replaced, self.follow_up)
        self.store.link_study(self.study.study_id, self.all_keys)
        self.store.finish_run(self.run_id, "interrupted" if self.stats.interrupted else "complete")

    # -- asking ---------------------------------------------------------------------------------
    async def ask(self, requests_by_model: Mapping[str, Sequence[PlannedRequest]]) -> RunStats:
        """Ask what the store lacks of ``requests_by_model``. Batch mode (elicit/batch): keys in open batches
        are collected, not asked again; the batch models' requests go in batches; then the online requests;
        then lines that failed in batches of models asked online this time."""
        missing = self._store_missing(requests_by_model)
        if not missing:
            return RunStats()
        assert self.batches is not None  # made by start()
        started, stats = time.monotonic(), RunStats()
        batch_stats = self.batches.stats = RunStats()
        online: Mapping[str, Sequence[PlannedRequest]] = await self.batches.submit(missing,
                                                                                  self.study.batch_model_ids())
        for _ in range(2):
            if online:
                stats = merge_stats(stats, await self._ask_online(online))
            if stats.interrupted:
                break
            online = await self.batches.collect()
        batch_stats.seconds = max(time.monotonic() - started - stats.seconds, 0.0)
        return merge_stats(stats, batch_stats)

    def _store_missing(self, requests_by_model: Mapping[str, Sequence[PlannedRequest]]
                       ) -> dict[str, Sequence[PlannedRequest]]:
        """The requests whose answer is not stored yet, per model (models with none left out), now stored as
        requests of this run."""
        done = self.store.answered_keys()
        missing = {model: _not_in(requests, done) for model, requests in requests_by_model.items()}
        missing = {model: requests for model, requests in missing.items() if len(requests)}
        for requests in missing.values():
            self.store.add_requests(requests, self.run_id)
        return missing

    async def _ask_online(self, online: Mapping[str, Sequence[PlannedRequest]]) -> RunStats:
        """The runner on ``online``, then sweeps of what failed on transient errors."""
        part = await run_requests(online, self.backends, self.store, self.run_id, self.console, self.show_progress,
                                  memories=self.memories, min_valid_mass=self.min_mass)
        await sweep_transient_failures(online, self.backends, self.store, self.run_id, self.console,
                                       self.show_progress, part, memories=self.memories, min_valid_mass=self.min_mass)
        return part

    # -- notes ----------------------------------------------------------------------------------
    def run_notes(self, answers: pd.DataFrame) -> dict:
        """``run_notes.json``: every departure from the design, each model's notes and the sample checks."""
        notes = self.notes + [sampled_instead_note(self.store, model, keys, self.min_mass)
                              for model, keys in self.replaced.items() if keys]
        run_notes = build_run_notes(self.study, self.backends, self.store, self.modes, self.reasons, self.memories,
                                    self.all_keys, notes, sample_checks(self.store, self.plan, self.checks, answers))
        run_notes["mixed_modes"] = len(set(self.modes.values())) > 1  # the report flags comparisons across modes
        run_notes["variants"] = {instrument.id: self.study.variants_for(instrument)
                                 for instrument in self.study.instruments()}
        run_notes["stopped_models"] = dict(self.stats.stopped)  # account-level failures (elicit.account): exit 1
        return run_notes


def _study_keys(plan: dict[str, ModelPlan], replaced: dict,
                follow_up: Mapping[str, Sequence[PlannedRequest]]) -> set[str]:
    """The requests whose answers make up the study: the plan's, less those sampled instead, plus the follow-ups."""
    keys = {key for model_plan in plan.values() for key in model_plan.keys()} - replaced_keys(replaced)
    return keys | {p.key for requests in follow_up.values() for p in requests}


SWEEP_ROUNDS = 10


def _reachable(backend: Backend) -> bool:
    """Whether a sweep can hope to reach this model (an endpoint that went down is not swept; a rerun asks)."""
    try:
        check_endpoint_reachable(backend.spec)
    except ConfigurationError:
        return False
    return True


async def sweep_transient_failures(asked: Mapping[str, Sequence[PlannedRequest]], backends: dict[str, Backend],
                                   store: Store, run_id: int, console: Console, show_progress: bool,
                                   stats: RunStats, **runner_options) -> None:
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
        more = await run_requests(again, backends, store, run_id, console, show_progress, **runner_options)
        stats.asked += more.asked
        stats.seconds += more.seconds
        stats.interrupted = stats.interrupted or more.interrupted
        stats.stopped.update(more.stopped)
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


__all__ = ["Study", "StudyError", "StudyResult", "run_study", "plan_study", "ConfigurationError"]
