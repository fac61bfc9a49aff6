"""Send what the store lacks through provider batch APIs; resume, poll and collect across kills.

``BatchSession`` is used by the pipeline in three steps:

1. ``submit(missing, batch_models)``: keys already carried by an open batch are taken out of the plan
   (never sent twice); for every model asked in batch mode, the rest is split by the provider's limits
   and each part recorded (``records.record_intent``) and submitted. Models whose provider or endpoint
   has no batch API get one note and stay in the returned online plan.
2. the pipeline asks the online plan as usual;
3. ``collect()``: brings every open batch of the study's models to ``submitted`` (finishing a submission a
   killed run left half done), polls them with a progress bar per batch, stores each line through the
   same translation and parsing as online answers, and sends the lines that failed (expired, cancelled,
   errored) in a new batch, up to ``MAX_ROUNDS`` batches per model in one run. Ctrl-C (or a kill) at any
   moment leaves the batches running at the provider; the next run collects them.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from whosevalues.elicit.batch import records
from whosevalues.elicit.batch.lessons import Lessons
from whosevalues.elicit.batch.lines import custom_id, planned_from_store, split_by_limits
from whosevalues.elicit.batch.records import BatchRecord
from whosevalues.elicit.cost import estimate_cost
from whosevalues.elicit.limits import backoff_delay
from whosevalues.elicit.plan import PlannedRequest
from whosevalues.elicit.runner import RunStats, decide_planned
from whosevalues.elicit.store import Store
from whosevalues.models.base import Backend, BackendError, ChatRequest
from whosevalues.models.batch_base import BatchAdapter, BatchUnavailable, LineResult, RemoteBatch, batch_adapter

#: batches submitted per model in one run (the first, then resubmissions of lines that failed)
MAX_ROUNDS = 5
#: what an endpoint without /v1/files or /v1/batches answers to them
NO_BATCH_API_STATUSES = (404, 405, 501)
#: attempts at one provider call (upload, create, poll) before leaving the batch for the next run
CALL_ATTEMPTS = 5


def poll_interval(polls: int) -> float:
    """Seconds between polls: quick at first (short test batches), then every minute (real ones take hours)."""
    fixed = os.environ.get("WHOSEVALUES_BATCH_POLL_SECONDS")
    if fixed:
        return max(float(fixed), 0.01)
    return min(2.0 * 1.5 ** polls, 60.0)


@dataclass
class _Open:
    record: BatchRecord
    adapter: BatchAdapter
    remote: RemoteBatch | None = None
    fresh: bool = False  # created by this process (nothing to look up on the provider's side)


@dataclass
class BatchSession:
    store: Store
    backends: dict[str, Backend]
    run_id: int
    stats: RunStats
    console: Console
    show_progress: bool = True
    notes: list[str] = field(default_factory=list)
    #: model -> what online asking learned about its endpoint (``elicit.endpoint.EndpointMemory``), if shared
    memories: dict[str, Any] | None = None
    #: keyword arguments for ``runner.decide_planned`` (e.g. the study's ``min_valid_mass``)
    parse_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._adapters: dict[str, BatchAdapter | None] = {}
        self._lessons = Lessons(self.store, self.backends, self.memories)
        self._batch_models: set[str] = set()
        self._plan: Mapping[str, Sequence[PlannedRequest]] = {}
        self._rounds: dict[str, int] = {}
        self._back_to_plan: set[str] = set()  # keys whose batch line failed, or whose batch was dropped
        self._rng = random.Random()
        self.stopped = False

    # ------------------------------------------------------------------ step 1: submit

    async def submit(self, missing: Mapping[str, Sequence[PlannedRequest]], batch_models: set[str]
                     ) -> dict[str, Sequence[PlannedRequest]]:
        """Submit the batch models' requests; return what is left to ask online."""
        self._plan = missing
        self._batch_models = set(batch_models) & set(missing)  # lines failing in open batches go here too
        in_open = records.keys_in_open_batches(self.store)
        online: dict[str, Sequence[PlannedRequest]] = {}
        for model, requests in missing.items():
            if in_open:  # (without open batches a plan passes through as it is: plans can be large and compact)
                requests = [p for p in requests if p.key not in in_open]
            if model in batch_models and len(requests) and self._usable(model):
                requests = await self._submit_model(model, list(requests))  # what the endpoint refused to batch
            if len(requests):
                online[model] = requests
        return online

    def _usable(self, model: str) -> bool:
        """The model's provider has a batch API (one note when not). Whether this endpoint offers it shows
        on the first upload or creation: a 404 there sends the model online (``_submit_model``)."""
        if model in self._adapters:
            return self._adapters[model] is not None
        backend = self.backends[model]
        try:
            adapter = batch_adapter(backend)
        except BatchUnavailable as exc:
            self._unavailable(model, str(exc))
            return False
        self._adapters[model] = adapter
        self._lessons.load(model)
        return True

    def _unavailable(self, model: str, why: str) -> None:
        self._adapters[model] = None
        self._batch_models.discard(model)
        self.notes.append(f"{model}: no batch API ({why}); asked online instead")
        self.console.print(f"[yellow]note:[/] {model}: no batch API ({why}); asking online instead")

    async def _submit_model(self, model: str, requests: list[PlannedRequest]) -> list[PlannedRequest]:
        """One round: the requests split by the provider's limits, each part recorded then submitted.
        Returns the requests the endpoint would not take in a batch (it has no batch API): ask them online."""
        adapter = self._adapters[model]
        assert adapter is not None
        self._rounds[model] = self._rounds.get(model, 0) + 1
        chunks = split_by_limits(adapter, requests)
        for index, chunk in enumerate(chunks):
            record = self._record_intent(adapter, chunk)
            try:
                await self._bring_to_submitted(_Open(record, adapter, fresh=True),
                                               {p.key: p.request for p in chunk})
            except BatchUnavailable as exc:
                self._unavailable(model, str(exc))
                return [p for rest in chunks[index:] for p in rest]
        return []

    def _record_intent(self, adapter: BatchAdapter, chunk: list[PlannedRequest]) -> BatchRecord:
        spec = adapter.spec
        costs = estimate_cost([(spec, p.request) for p in chunk])
        online_cost = float(costs["cost_usd"].iloc[0]) if len(costs) else None
        factor = adapter.price_factor
        batch_cost = online_cost * factor if online_cost is not None and factor is not None else None
        keys = [p.key for p in chunk]
        sent_before = records.times_sent(self.store, keys)
        return records.record_intent(
            self.store, provider=spec.provider, endpoint=spec.endpoint_key, model=spec.id,
            api_model=spec.api_model, keys=keys, custom_ids=[custom_id(k, sent_before.get(k, 0)) for k in keys],
            run_id=self.run_id,
            cost_usd=_finite(batch_cost), online_cost_usd=_finite(online_cost))

    async def _bring_to_submitted(self, item: _Open, requests: dict[str, ChatRequest] | None = None) -> bool:
        """Upload and create as needed; after a kill, find what the provider already has first."""
        record, adapter = item.record, item.adapter
        if record.state == "submitted":
            return True
        requests = requests or self._requests_for(record)
        if requests is None:
            self._abandon(record, "never sent, and its requests are no longer in the store")
            return False
        cid_to_key = records.keys_of(self.store, record.id)
        lines = [adapter.line(cid, self._lessons.as_sent(record.model, requests[key]))
                 for cid, key in cid_to_key.items()]
        try:
            if adapter.uploads_file and record.input_file_id is None and record.model not in self._batch_models:
                self._abandon(record, "never uploaded; asked online instead")
                return False  # (a file uploaded by the killed run is never used: it costs nothing)
            file_id = await self._uploaded(item, lines)
            remote = await self._created(item, file_id, lines)
            if remote is None:
                return False
            records.record_submission(self.store, record.id, remote.id, remote.status)
        except BackendError as exc:
            return self._not_submitted(item, exc)
        item.record, item.remote = records.get(self.store, record.id), remote
        return True

    async def _uploaded(self, item: _Open, lines: list) -> str | None:
        """The batch's input file at the provider (found again after a kill, else uploaded now); None where the
        provider takes the lines with the batch itself."""
        record, adapter = item.record, item.adapter
        file_id = record.input_file_id
        if adapter.uploads_file and file_id is None:
            if not item.fresh:
                file_id = await self._with_retries(adapter.find_upload, record.label)
            if file_id is None:
                file_id = await self._with_retries(adapter.upload, record.label, lines)
            records.record_upload(self.store, record.id, file_id)
        return file_id

    async def _created(self, item: _Open, file_id: str | None, lines: list):
        """The batch at the provider (found again after a kill, else created now), or None when a killed run
        left it unsent and this run asks its model online (--no-batch): then it is dropped."""
        record, adapter = item.record, item.adapter
        remote = None
        if not item.fresh:
            remote = await self._with_retries(adapter.find, record.label, file_id, record.n_requests,
                                              _timestamp(record.created_at), records.labels_claimed(self.store))
        if remote is None and record.model not in self._batch_models:
            self._abandon(record, "never created; asked online instead")
            return None
        if remote is None:
            remote = await self._with_retries(adapter.create, record.label, file_id, lines)
        return remote

    def _not_submitted(self, item: _Open, exc: BackendError) -> bool:
        """A provider error on the way to submitting: left for the next run (retryable), the endpoint has no batch
        API (BatchUnavailable), or refused (its requests go back to the plan). Always False (not submitted)."""
        record = item.record
        if exc.retryable:
            self.notes.append(f"{record.model}: batch {record.label} not submitted yet ({exc}); "
                              "the next run finishes submitting it")
            return False
        if item.fresh and exc.status in NO_BATCH_API_STATUSES:  # no /files or /batches here: nothing made
            records.record_end(self.store, record.id, "abandoned", f"the endpoint has no batch API: {exc}")
            raise BatchUnavailable(f"the endpoint answered {exc}") from None
        self._abandon(record, f"the provider refused it: {exc}")
        self.notes.append(f"{record.model}: batch refused by the provider ({exc}); its requests go back "
                          "to the plan (run without --batch to ask them online)")
        return False

    def _abandon(self, record: BatchRecord, detail: str) -> None:
        """A batch that never reached the provider: its keys go back to the plan."""
        records.record_end(self.store, record.id, "abandoned", detail)
        self._back_to_plan |= set(records.keys_of(self.store, record.id).values())

    def _requests_for(self, record: BatchRecord) -> dict[str, ChatRequest] | None:
        keys = set(records.keys_of(self.store, record.id).values())
        planned = {p.key: p.request for requests in self._plan.values() for p in requests if p.key in keys}
        missing = keys - set(planned)
        if missing:
            planned.update({p.key: p.request for p in planned_from_store(self.store, missing).values()})
        return planned if keys <= set(planned) else None

    # ------------------------------------------------------------------ step 3: poll and collect

    async def collect(self) -> dict[str, list[PlannedRequest]]:
        """Poll every open batch of the study's models until it ends; store its lines; resend failures.

        Returns the lines that failed for models not asked in batch mode this time: they go online."""
        while True:
            items = self._open_items()
            if not items:
                break
            await self._poll(items)
            if self.stopped:
                return {}
            if not await self._resubmit_failures():
                break
        if not self._back_to_plan:
            return {}
        answered = self.store.answered_keys()
        again = self._back_to_plan - answered - records.keys_in_open_batches(self.store)
        online = {model: [p for p in requests if p.key in again]
                  for model, requests in self._plan.items() if model not in self._batch_models}
        return {model: requests for model, requests in online.items() if requests}

    def _open_items(self) -> list[_Open]:
        items: list[_Open] = []
        for record in records.all_batches(self.store, open_only=True, models=set(self.backends)):
            adapter = self._adapter_for_resume(record)
            if adapter is not None:
                items.append(_Open(record, adapter))
        return items

    def _adapter_for_resume(self, record: BatchRecord) -> BatchAdapter | None:
        if self._adapters.get(record.model) is not None:
            return self._adapters[record.model]
        backend = self.backends[record.model]
        if backend.spec.endpoint_key != record.endpoint:
            self.notes.append(f"{record.model}: batch {record.remote_id or record.label} was sent to another "
                              f"endpoint ({record.endpoint}); not polled (cancel it with `whosevalues batches`)")
            return None
        try:
            adapter = batch_adapter(backend)
        except BatchUnavailable:
            return None
        self._adapters[record.model] = adapter
        self._lessons.load(record.model)
        return adapter

    async def _poll(self, items: list[_Open]) -> None:
        live = [item for item in items if await self._bring_to_submitted(item)]
        if not live:
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGINT, stop.set)
            handler = True
        except (NotImplementedError, RuntimeError):
            handler = False
        self.console.print(
            f"[bold]{len(live)} batch(es) submitted and recorded in the store.[/] They run at the provider "
            "(up to 24 h). You may stop now (Ctrl-C) and run the same command later to collect the results: "
            "nothing is sent twice.")
        try:
            await self._poll_loop(live, stop)
        finally:
            if handler:
                loop.remove_signal_handler(signal.SIGINT)
        if stop.is_set():
            self.stopped = True
            self.stats.interrupted = True
            self.console.print("[yellow]Stopped polling. The batches keep running at the provider; run the same "
                               "command again to collect them (`whosevalues batches` lists them).")

    async def _poll_loop(self, live: list[_Open], stop: asyncio.Event) -> None:
        progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=self.console,
                            disable=not self.show_progress)
        polls = 0
        with progress:
            tasks = {item.record.id: progress.add_task(f"{item.record.model} {item.record.remote_id}",
                                                       total=item.record.n_requests, status="submitted")
                     for item in live}
            while live and not stop.is_set():
                for item in list(live):
                    done = await self._poll_once(item, progress, tasks[item.record.id])
                    if done:
                        live.remove(item)
                if live:
                    try:
                        await asyncio.wait_for(stop.wait(), timeout=poll_interval(polls))
                    except asyncio.TimeoutError:
                        pass
                    polls += 1

    async def _poll_once(self, item: _Open, progress: Progress, task: Any) -> bool:
        """One poll; collect when ended. True when this batch needs no more polling in this run."""
        record = item.record
        try:
            remote = await self._with_retries(item.adapter.retrieve, record.remote_id)
        except BackendError as exc:
            self.notes.append(f"{record.model}: could not poll batch {record.remote_id} ({exc}); "
                              "run again later to collect it")
            self.stats.interrupted = True
            return True
        records.record_status(self.store, record.id, remote.status, remote.completed, remote.failed)
        progress.update(task, completed=remote.completed + remote.failed,
                        total=remote.total or record.n_requests, status=remote.status)
        if not remote.ended:
            return False
        try:
            await self._collect(item, remote)
        except BackendError as exc:
            self.notes.append(f"{record.model}: could not read the results of batch {record.remote_id} "
                              f"({exc}); run again later to collect them")
            self.stats.interrupted = True
        return True

    async def _collect(self, item: _Open, remote: RemoteBatch) -> None:
        record, adapter = item.record, item.adapter
        results = await self._with_retries(adapter.results, remote)
        key_by_cid = records.keys_of(self.store, record.id)
        pending = records.pending_keys(self.store, record.id)
        planned = planned_from_store(self.store, pending)
        seen: set[str] = set()
        for result in results:
            key = key_by_cid.get(result.custom_id)
            if key is None or key not in pending or key in seen or key not in planned:
                continue
            seen.add(key)
            self._store_line(record, planned[key], result)
        reason = f"no result for this line (batch {remote.status})"
        for key in sorted(pending - seen):
            if key in planned:
                self._store_line(record, planned[key], LineResult(custom_id(key), error=reason))
        records.record_end(self.store, record.id, "collected", remote.results_ref.get("errors"))

    def _store_line(self, record: BatchRecord, planned: PlannedRequest, result: LineResult) -> None:
        """Store one line exactly as an online answer (raw first, then parsed) or as a failure."""
        error = result.error
        adapter = self._adapters[record.model]
        assert adapter is not None, "lines come only from open batches, which have an adapter (_Open)"
        if error is None:
            try:
                reply = adapter.reply(result, planned.request)
            except BackendError as exc:
                error = f"batch line unreadable: {exc}"
            else:
                outcome = decide_planned(planned, reply, **self.parse_options)
                error = self._lessons.budget_ran_out(record.model, planned.request, outcome, reply)
                if error is None:
                    status = self.store.save_answer(planned, reply, outcome, self.run_id, attempts=1, latency_s=None)
                    records.mark_outcome_committed(self.store, record.id, planned.key, "answered")
                    self.stats.asked += 1
                    self.stats.statuses[status] += 1
                    return
        if result.http_status == 400:
            self._lessons.rejected(record.model, planned.request, result.raw)
        self.store.save_failure(planned, self.run_id, error, result.raw, 1, result.http_status, True)
        records.mark_outcome_committed(self.store, record.id, planned.key, "failed")
        self._back_to_plan.add(planned.key)
        self.stats.statuses["batch_failed"] += 1

    async def _resubmit_failures(self) -> bool:
        """Send the lines that failed again in a new batch. True when something was sent."""
        answered = self.store.answered_keys()
        in_open = records.keys_in_open_batches(self.store)
        sent = False
        for model in sorted(self._batch_models):
            retry = [p for p in self._plan.get(model, []) if p.key not in answered and p.key not in in_open]
            if retry and self._rounds.get(model, 0) < MAX_ROUNDS and self._usable(model):
                self.console.print(f"{model}: {len(retry)} line(s) failed in the batch; sending them again")
                await self._submit_model(model, retry)  # refused ones: online, by collect()
                sent = True
        return sent

    # ------------------------------------------------------------------ helpers

    async def _with_retries(self, call, *args):
        """A provider call, retried on transient errors. An SDK surprise counts as transient: the batch
        then stays open for the next run, which is safe (nothing is created twice by waiting)."""
        for attempt in range(1, CALL_ATTEMPTS + 1):
            try:
                return await call(*args)
            except BackendError as exc:
                error = exc
            except BatchUnavailable:
                raise
            except Exception as exc:
                error = BackendError(f"{type(exc).__name__}: {exc}", retryable=True)
            if not error.retryable or attempt == CALL_ATTEMPTS:
                raise error
            await asyncio.sleep(backoff_delay(attempt, 0.5, 20.0, error.retry_after, self._rng))


def _timestamp(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _finite(value: float | None) -> float | None:
    return value if value is not None and value == value else None
