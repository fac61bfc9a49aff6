"""The whole flow as plain functions: Study -> Plan -> Runner -> Store -> Aggregate -> Analysis -> Report.

This is the Python API (``from whosevalues import Study, run_study``) and what the CLI calls.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from rich.console import Console

from whosevalues.elicit.batch import BatchSession
from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.probe import probe_endpoint
from whosevalues.elicit.plan import PlannedRequest, plan_model
from whosevalues.elicit.followup import replaced_keys, sample_check_plan, sample_checks, sampled_instead_plan
from whosevalues.elicit.run_notes import build_run_notes, merge_stats, print_model_notes, write_run_notes
from whosevalues.elicit.runner import RunStats, run_requests
from whosevalues.elicit.store import Store
from whosevalues.models.base import Backend, ConfigurationError, Mode
from whosevalues.models.registry import create_backend
from whosevalues.models.spec import ModelSpec
from whosevalues.study import Study, StudyError
from whosevalues.version import __version__

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


async def resolve_mode(study: Study, backend: Backend, store: Store, notes: list[str],
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
    return study.mode


async def _distribution_verdict(backend: Backend, store: Store, notes: list[str],
                                memory: EndpointMemory) -> tuple[bool, str]:
    """(supported, why), from the store's cache or a fresh probe (cached unless the endpoint kept failing)."""
    spec = backend.spec
    cached = store.capability(spec.endpoint_key, DISTRIBUTION_CAPABILITY)
    if cached is not None:
        reason = store.endpoint_settings(spec.endpoint_key).get(DISTRIBUTION_REASON, (None, None))[0]
        return cached == "yes", reason or ("next-token probabilities returned" if cached == "yes"
                                           else "no next-token probabilities from this provider")
    result = await probe_endpoint(backend, memory)
    if result.supported is None:
        notes.append(f"{spec.id}: could not tell whether the endpoint returns next-token probabilities "
                     "(it kept failing); sampling this time, probing again on the next run")
        return False, result.reason
    store.set_capability(spec.endpoint_key, spec.api_model, DISTRIBUTION_CAPABILITY,
                         "yes" if result.supported else "no")
    store.set_endpoint_setting(spec.endpoint_key, DISTRIBUTION_REASON, result.reason)
    return result.supported, result.reason


def plan_study(study: Study, modes: dict[str, Mode]) -> dict[str, list[PlannedRequest]]:
    instruments = study.instruments()
    return {spec.id: plan_model(study, spec, modes[spec.id], instruments) for spec in study.model_specs()}


def run_study(study: Study, out_dir: str | Path = DEFAULT_OUT, db_path: str | Path | None = None, *,
              console: Console | None = None, show_progress: bool = True, command: str = "api") -> StudyResult:
    """Ask everything the study needs that the store does not hold yet, then aggregate to item means."""
    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    db_path = Path(db_path) if db_path else default_db(out_dir)
    study.validate_design()
    store = Store(db_path)  # first: a bad --db should fail before anything else is prepared
    try:
        backends = prepare_backends(study.model_specs())
    except BaseException:
        store.close()
        raise
    try:
        return asyncio.run(_run(study, backends, store, out_dir, db_path, console, show_progress, command))
    finally:
        store.close()


async def _run(study: Study, backends: dict[str, Backend], store: Store, out_dir: Path, db_path: Path,
               console: Console, show_progress: bool, command: str) -> StudyResult:
    notes: list[str] = []
    reasons: dict[str, str] = {}
    memories = {model: EndpointMemory(backend, store, study.temperature if study.temperature is not None
                                      else backend.spec.temperature)
                for model, backend in backends.items()}
    min_mass = study.min_valid_mass
    try:
        modes = {model: await resolve_mode(study, backend, store, notes, memories[model], reasons)
                 for model, backend in backends.items()}
        plan = plan_study(study, modes)
        run_id = store.start_run(command, study.model_dump_json(), __version__)
        batches = BatchSession(store, backends, run_id, RunStats(), console, show_progress, notes,
                               memories=memories, parse_options={"min_valid_mass": min_mass})

        async def ask(requests_by_model: dict[str, list[PlannedRequest]]) -> RunStats:
            done = store.answered_keys()
            missing = {model: [p for p in requests if p.key not in done]
                       for model, requests in requests_by_model.items()}
            missing = {model: requests for model, requests in missing.items() if requests}
            for requests in missing.values():
                store.add_requests(requests, run_id)
            if not missing:
                return RunStats()
            # batch mode (elicit/batch): keys in open batches are collected, not asked again; the batch
            # models' requests go in batches; then the online plan; then lines that failed in batches of
            # models asked online this time
            started, stats = time.monotonic(), RunStats()
            batch_stats = batches.stats = RunStats()
            online = await batches.submit(missing, study.batch_model_ids())
            for _ in range(2):
                if online:
                    stats = merge_stats(stats, await run_requests(online, backends, store, run_id, console,
                                                                  show_progress, memories=memories,
                                                                  min_valid_mass=min_mass))
                if stats.interrupted:
                    break
                online = await batches.collect()
            batch_stats.seconds = max(time.monotonic() - started - stats.seconds, 0.0)
            return merge_stats(stats, batch_stats)

        stats = await ask(plan)
        replaced, follow_up = ({}, {})
        if not stats.interrupted:
            replaced, follow_up = sampled_instead_plan(study, store, plan)
            if follow_up:
                stats = merge_stats(stats, await ask(follow_up))
        checks = {}
        if study.mode == "auto" and not stats.interrupted:
            checks = sample_check_plan(study, modes)
            if checks:
                stats = merge_stats(stats, await ask(checks))
        store.finish_run(run_id, "interrupted" if stats.interrupted else "complete")
    finally:
        for backend in backends.values():
            await backend.aclose()
    all_keys = {p.key for requests in plan.values() for p in requests} - replaced_keys(replaced)
    all_keys |= {p.key for requests in follow_up.values() for p in requests}
    answers = store.answers_frame(all_keys)
    item_means = write_item_means(answers, out_dir)
    notes += [f"{model}: {len(keys)} items sampled instead of read as distributions (next-token probabilities "
              f"below the minimum valid mass {min_mass:g}, or none); their weak distributions are kept in the "
              "store for reference" for model, keys in replaced.items() if keys]
    run_notes = build_run_notes(study, backends, store, modes, reasons, memories, all_keys, notes,
                                sample_checks(store, plan, checks, answers))
    write_run_notes(run_notes, out_dir)
    print_model_notes(run_notes, console)
    return StudyResult(out_dir, db_path, answers, item_means, stats, modes, run_notes["notes"], run_notes)


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
