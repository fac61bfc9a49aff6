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
from whosevalues.elicit.limits import probe_distribution
from whosevalues.elicit.plan import PlannedRequest, plan_model
from whosevalues.elicit.runner import RunStats, run_requests
from whosevalues.elicit.store import Store
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
    started = time.monotonic()
    try:
        modes = {model: await resolve_mode(study, backend, store, notes) for model, backend in backends.items()}
        plan = plan_study(study, modes)
        all_keys = {p.key for requests in plan.values() for p in requests}
        done = store.answered_keys()
        missing = {model: [p for p in requests if p.key not in done] for model, requests in plan.items()}
        missing = {model: requests for model, requests in missing.items() if requests}
        run_id = store.start_run(command, study.model_dump_json(), __version__)
        for requests in missing.values():
            store.add_requests(requests, run_id)
        stats = RunStats()
        # batch mode (elicit/batch): open batches keep their keys; batch models' requests go in batches
        batches = BatchSession(store, backends, run_id, stats, console, show_progress, notes)
        online = await batches.submit(missing, study.batch_model_ids())
        for _ in range(2):  # the online plan; then lines that failed in batches, for models now asked online
            if online:
                stats.merge(await run_requests(online, backends, store, run_id, console, show_progress))
            if stats.interrupted:
                break
            online = await batches.collect()
        stats.seconds = time.monotonic() - started
        store.finish_run(run_id, "interrupted" if stats.interrupted else "complete")
    finally:
        for backend in backends.values():
            await backend.aclose()
    answers = store.answers_frame(all_keys)
    item_means = write_item_means(answers, out_dir)
    return StudyResult(out_dir, db_path, answers, item_means, stats, modes, notes)


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
