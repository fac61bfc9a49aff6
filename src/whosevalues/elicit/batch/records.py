"""The store's record of every provider batch (tables ``batches`` and ``batch_requests``, migration 005).

The write order is what makes a kill at any moment safe:

1. ``record_intent``: one transaction writes the batch (state ``intended``, a unique ``label``) and every
   request key it will carry. From here on those keys belong to this batch: no other batch and no online
   worker sends them while it lives.
2. ``record_upload``: the uploaded file's id (state ``uploaded``), as soon as the provider returns it.
3. ``record_submission``: the provider's batch id (state ``submitted``), as soon as creation returns.

A run killed between 1 and 2 looks the file up by its name (the label) before uploading again; between
2 and 3 it looks the batch up by its metadata / input file before creating one. Lines that came back are
marked ``answered`` or ``failed`` in the transaction that stores them; a failed line goes back to the
plan. A batch ends ``collected`` (every line read) or ``abandoned`` (never reached the provider).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from whosevalues.elicit.store import Store, utc_now
from whosevalues.models.keys import redact_keys

#: batches that still hold their keys (a provider may still answer them)
OPEN_STATES = ("intended", "uploaded", "submitted")


@dataclass
class BatchRecord:
    id: int
    label: str
    provider: str
    endpoint: str
    model: str
    api_model: str | None
    state: str
    remote_status: str | None
    input_file_id: str | None
    remote_id: str | None
    n_requests: int
    n_completed: int
    n_failed: int
    cost_usd: float | None
    online_cost_usd: float | None
    run_id: int | None
    created_at: str
    submitted_at: str | None
    updated_at: str | None
    ended_at: str | None
    detail: str | None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES


_COLUMNS = ("id, label, provider, endpoint, model, api_model, state, remote_status, input_file_id, remote_id, "
            "n_requests, n_completed, n_failed, cost_usd, online_cost_usd, run_id, created_at, submitted_at, "
            "updated_at, ended_at, detail")


def new_label(model: str) -> str:
    """A unique handle sent with the batch (metadata, display name, file name) so it can be found again."""
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in model)[:40]
    return f"whosevalues-{safe}-{secrets.token_hex(6)}"


def record_intent(store: Store, *, provider: str, endpoint: str, model: str, api_model: str | None,
                  keys: list[str], custom_ids: list[str], run_id: int, cost_usd: float | None,
                  online_cost_usd: float | None) -> BatchRecord:
    """Write the batch and the keys it carries in one transaction, before anything is sent."""
    label = new_label(model)
    with store.db:
        cursor = store.db.execute(
            "INSERT INTO batches (label, provider, endpoint, model, api_model, state, n_requests, cost_usd, "
            "online_cost_usd, run_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?, 'intended', ?, ?, ?, ?, ?, ?)",
            (label, provider, endpoint, model, api_model, len(keys), cost_usd, online_cost_usd, run_id, utc_now(),
             utc_now()))
        assert cursor.lastrowid is not None  # set by the INSERT just made
        batch_id = cursor.lastrowid
        store.db.executemany("INSERT INTO batch_requests (batch_id, key, custom_id) VALUES (?, ?, ?)",
                             [(batch_id, key, custom_id) for key, custom_id in zip(keys, custom_ids)])
    return get(store, batch_id)


def record_upload(store: Store, batch_id: int, file_id: str) -> None:
    with store.db:
        store.db.execute("UPDATE batches SET input_file_id = ?, state = 'uploaded', updated_at = ? WHERE id = ?",
                         (file_id, utc_now(), batch_id))


def record_submission(store: Store, batch_id: int, remote_id: str, remote_status: str) -> None:
    with store.db:
        store.db.execute(
            "UPDATE batches SET remote_id = ?, remote_status = ?, state = 'submitted', submitted_at = ?, "
            "updated_at = ? WHERE id = ?", (remote_id, remote_status, utc_now(), utc_now(), batch_id))


def record_status(store: Store, batch_id: int, remote_status: str, completed: int, failed: int) -> None:
    with store.db:
        store.db.execute(
            "UPDATE batches SET remote_status = ?, n_completed = ?, n_failed = ?, updated_at = ? WHERE id = ?",
            (remote_status, completed, failed, utc_now(), batch_id))


def record_end(store: Store, batch_id: int, state: str, detail: str | None = None) -> None:
    """``collected`` (every line read and stored) or ``abandoned`` (the provider never got it)."""
    detail = redact_keys(detail)  # a provider's error may echo the key
    with store.db:
        store.db.execute("UPDATE batches SET state = ?, detail = COALESCE(?, detail), ended_at = ?, "
                         "updated_at = ? WHERE id = ?", (state, detail, utc_now(), utc_now(), batch_id))


def mark_outcome_committed(store: Store, batch_id: int, key: str, outcome: str) -> None:
    """``answered`` or ``failed``, right after the line's answer or failure is stored. A kill between
    the two leaves the line pending: the next run reads it again and stores the same answer (same key)."""
    with store.db:
        store.db.execute("UPDATE batch_requests SET outcome = ? WHERE batch_id = ? AND key = ?",
                         (outcome, batch_id, key))


def get(store: Store, batch_id: int) -> BatchRecord:
    row = store.db.execute(f"SELECT {_COLUMNS} FROM batches WHERE id = ?", (batch_id,)).fetchone()
    return BatchRecord(*row)


def find(store: Store, reference: str) -> BatchRecord | None:
    """A batch by its local number, its label or the provider's id."""
    row = store.db.execute(f"SELECT {_COLUMNS} FROM batches WHERE CAST(id AS TEXT) = ? OR label = ? "
                           f"OR remote_id = ?", (reference, reference, reference)).fetchone()
    return BatchRecord(*row) if row else None


def all_batches(store: Store, *, open_only: bool = False, models: set[str] | None = None) -> list[BatchRecord]:
    sql = f"SELECT {_COLUMNS} FROM batches"
    if open_only:
        sql += f" WHERE state IN ({', '.join(repr(s) for s in OPEN_STATES)})"
    records = [BatchRecord(*row) for row in store.db.execute(sql + " ORDER BY id")]
    return [r for r in records if models is None or r.model in models]


def keys_of(store: Store, batch_id: int) -> dict[str, str]:
    """custom_id -> request key for one batch."""
    return {custom_id: key for custom_id, key in store.db.execute(
        "SELECT custom_id, key FROM batch_requests WHERE batch_id = ? ORDER BY rowid", (batch_id,))}


def pending_keys(store: Store, batch_id: int) -> set[str]:
    return {row[0] for row in store.db.execute(
        "SELECT key FROM batch_requests WHERE batch_id = ? AND outcome IS NULL", (batch_id,))}


def times_sent(store: Store, keys: list[str]) -> dict[str, int]:
    """How many batches have carried each key so far."""
    counts: dict[str, int] = {}
    for start in range(0, len(keys), 500):
        part = keys[start:start + 500]
        counts.update(store.db.execute(
            f"SELECT key, count(*) FROM batch_requests WHERE key IN ({', '.join('?' * len(part))}) GROUP BY key",
            part).fetchall())
    return counts


def keys_in_open_batches(store: Store) -> set[str]:
    """Keys a live (or about to be) batch carries: never asked again elsewhere while it lives."""
    return {row[0] for row in store.db.execute(
        "SELECT r.key FROM batch_requests r JOIN batches b ON b.id = r.batch_id "
        f"WHERE b.state IN ({', '.join(repr(s) for s in OPEN_STATES)}) AND r.outcome IS NULL")}


def labels_claimed(store: Store) -> set[str]:
    return {row[0] for row in store.db.execute("SELECT remote_id FROM batches WHERE remote_id IS NOT NULL")}
