"""``whosevalues batches``: every batch in a store (provider, model, status, counts, age, cost); cancel them.

Cancelling asks the provider to stop a batch; lines it already answered are still collected by the next
``whosevalues run`` (the batch stays open until then), and the rest go back to the plan.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pandas as pd

from whosevalues.elicit.batch import records
from whosevalues.elicit.batch.records import BatchRecord
from whosevalues.elicit.store import Store
from whosevalues.models.base import BackendError, ConfigurationError
from whosevalues.models.batch_base import BatchUnavailable, batch_adapter
from whosevalues.models.catalog import load_catalog
from whosevalues.models.registry import create_backend
from whosevalues.models.spec import ModelSpec

COLUMNS = ["batch", "provider", "model", "state", "status", "requests", "done", "failed", "age", "cost $",
           "online $", "provider id"]


def age(iso: str, now: datetime | None = None) -> str:
    """``3d 4h``, ``2h 5m``, ``12m`` or ``40s`` since ``iso``."""
    now = now or datetime.now(timezone.utc)
    seconds = max(int((now - datetime.fromisoformat(iso)).total_seconds()), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m" if minutes else f"{secs}s"


def batches_frame(store: Store) -> pd.DataFrame:
    """One row per batch, oldest first."""
    rows = [[r.id, r.provider, r.model, r.state, r.remote_status or "", r.n_requests, r.n_completed, r.n_failed,
             age(r.created_at), _money(r.cost_usd), _money(r.online_cost_usd), r.remote_id or ""]
            for r in records.all_batches(store)]
    return pd.DataFrame(rows, columns=COLUMNS)


def spec_for(record: BatchRecord, custom: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """The model a batch was sent with: a study file's block, the catalog's entry, or what the store kept."""
    for source in (custom or {}, dict(load_catalog())):
        spec = source.get(record.model)
        if spec is not None and spec.endpoint_key == record.endpoint:
            return spec
    provider, base_url, api_model = (record.endpoint.split("|") + ["", "", ""])[:3]
    return ModelSpec(id=record.model, provider=provider, base_url=base_url or None,
                     api_model=record.api_model or api_model or None)


def cancel(store: Store, targets: list[BatchRecord], custom: dict[str, ModelSpec] | None = None) -> list[str]:
    """Ask each provider to cancel; one message per batch."""
    return asyncio.run(_cancel_all(store, targets, custom))


async def _cancel_all(store: Store, targets: list[BatchRecord], custom) -> list[str]:
    messages = []
    for record in targets:
        messages.append(await _cancel_one(store, record, custom))
    return messages


async def _cancel_one(store: Store, record: BatchRecord, custom) -> str:
    name = f"batch {record.id} ({record.model}, {record.remote_id or record.label})"
    if not record.is_open:
        return f"{name}: already {record.state}"
    if record.remote_id is None:
        records.record_end(store, record.id, "abandoned", "cancelled before it was submitted")
        return (f"{name}: never reached the provider; dropped (if a killed run had created it, the provider's "
                "console still lists it)")
    backend = create_backend(spec_for(record, custom))
    try:
        adapter = batch_adapter(backend)
        remote = await adapter.cancel(record.remote_id)
    except (BackendError, BatchUnavailable, ConfigurationError) as exc:
        return f"{name}: could not cancel ({exc})"
    finally:
        await backend.aclose()
    records.record_status(store, record.id, remote.status, remote.completed, remote.failed)
    return (f"{name}: {remote.status}; run `whosevalues run` again to collect what it answered, "
            "the rest goes back to the plan")


def _money(value: float | None) -> float:
    return float("nan") if value is None else value
