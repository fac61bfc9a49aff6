"""The SQLite store: every request, every raw answer, its parsed value and status.

Standard library sqlite3 in WAL mode. The schema grows only by named, append-only migrations (``MIGRATIONS``:
one function each, recorded in the store by name); a store written by a newer whosevalues (a migration this
version does not know) is refused rather than misread. An answer row is written in one transaction with its raw
body; a reply whose deciding raised is kept as ``unparsed`` (asked again once the parser changed), so a parse
failure never loses what the model said, and a process killed at any moment loses at most the requests in flight.
API keys never reach this module: requests hold prompts and settings only.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from whosevalues.elicit.facts import PARSER_VERSION, RunFacts
from whosevalues.elicit.outcome import Outcome
from whosevalues.elicit.plan import PlannedRequest
from whosevalues.errors import WhosevaluesError
from whosevalues.models.base import ProviderReply
from whosevalues.models.keys import redact_keys

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd

MIGRATIONS: list[tuple[str, Callable[[sqlite3.Connection], None]]] = []


def migration(name: str) -> Callable:
    """Append the decorated function to ``MIGRATIONS`` under ``name``, the name recorded in the store (so
    names never change: a store migrated by an earlier version opens unchanged)."""
    def register(apply: Callable[[sqlite3.Connection], None]) -> Callable[[sqlite3.Connection], None]:
        MIGRATIONS.append((name, apply))
        return apply
    return register


def _execute_all(db: sqlite3.Connection, sql: str) -> None:
    """Each statement of ``sql`` inside the caller's transaction (``executescript`` would commit it)."""
    for statement in sql.split(";"):
        if statement.strip():
            db.execute(statement)


@migration("001_initial")
def m001_initial(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            version TEXT,
            command TEXT,
            study_json TEXT,
            status TEXT
        );
        CREATE TABLE requests (
            key TEXT PRIMARY KEY,
            model TEXT NOT NULL, origin TEXT NOT NULL, survey TEXT NOT NULL, item TEXT NOT NULL,
            language TEXT NOT NULL, persona TEXT NOT NULL, sample INTEGER NOT NULL, mode TEXT NOT NULL,
            temperature REAL, max_tokens INTEGER, seed INTEGER,
            system TEXT NOT NULL, user TEXT NOT NULL,
            first_run INTEGER REFERENCES runs(id)
        );
        CREATE INDEX requests_by_cell ON requests (model, survey, language, persona, item);
        CREATE TABLE answers (
            key TEXT PRIMARY KEY REFERENCES requests(key),
            run_id INTEGER REFERENCES runs(id),
            raw_text TEXT, raw_body TEXT, distribution TEXT, valid_mass REAL,
            value REAL, status TEXT NOT NULL, detail TEXT, error TEXT,
            finish_reason TEXT, attempts INTEGER, latency_s REAL,
            input_tokens INTEGER, output_tokens INTEGER,
            answered_at TEXT NOT NULL
        );
        CREATE TABLE failures (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL, run_id INTEGER, error TEXT, raw_body TEXT, attempts INTEGER, at TEXT NOT NULL
        );
        CREATE TABLE capabilities (
            model TEXT NOT NULL, api_model TEXT, capability TEXT NOT NULL, value TEXT NOT NULL,
            probed_at TEXT NOT NULL, PRIMARY KEY (model, capability)
        );
    """)


# Tell "gave up on something a rerun may get" from "the provider rejected it" (e.g. a 400).
@migration("002_failure_status")
def m002_failure_status(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        ALTER TABLE failures ADD COLUMN http_status INTEGER;
        ALTER TABLE failures ADD COLUMN retryable INTEGER;
    """)


# Reasoning kept apart from the answer, what the provider says it ran, and what each endpoint accepts.
@migration("003_reasoning")
def m003_reasoning(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        ALTER TABLE answers ADD COLUMN reasoning_text TEXT;
        ALTER TABLE answers ADD COLUMN reasoning_tokens INTEGER;
        ALTER TABLE answers ADD COLUMN reasoned INTEGER;
        ALTER TABLE answers ADD COLUMN model_version TEXT;
        ALTER TABLE answers ADD COLUMN system_fingerprint TEXT;
        ALTER TABLE answers ADD COLUMN seed_honoured INTEGER;
        ALTER TABLE answers ADD COLUMN max_tokens_used INTEGER;
        ALTER TABLE answers ADD COLUMN adaptations TEXT;
        CREATE TABLE endpoint_settings (
            endpoint TEXT NOT NULL, setting TEXT NOT NULL, value TEXT NOT NULL, note TEXT,
            learned_at TEXT NOT NULL, PRIMARY KEY (endpoint, setting)
        );
    """)


# A store may hold several studies (designs); analysis never mixes them. Requests shared by two studies
# (the same key) are linked to both.
@migration("004_studies")
def m004_studies(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        CREATE TABLE studies (id TEXT PRIMARY KEY, study_json TEXT NOT NULL, created_at TEXT NOT NULL);
        CREATE TABLE study_requests (
            study_id TEXT NOT NULL REFERENCES studies(id), key TEXT NOT NULL REFERENCES requests(key),
            PRIMARY KEY (study_id, key)
        ) WITHOUT ROWID;
        ALTER TABLE runs ADD COLUMN study_id TEXT;
    """)
    _link_legacy_runs(db)


def _link_legacy_runs(db: sqlite3.Connection) -> None:
    """Stores from before 004: each run's study (from its saved design) gets the requests it planned first."""
    from whosevalues.study import Study  # the store module is imported by study's dependents

    for run_id, study_json in db.execute("SELECT id, study_json FROM runs").fetchall():
        try:
            study_id = Study.model_validate_json(study_json).study_id
        except (ValueError, TypeError):
            study_id = f"run-{run_id}"
        db.execute("INSERT OR IGNORE INTO studies VALUES (?, ?, ?)", (study_id, study_json or "{}", utc_now()))
        db.execute("UPDATE runs SET study_id = ? WHERE id = ?", (study_id, run_id))
        db.execute("INSERT OR IGNORE INTO study_requests SELECT ?, key FROM requests WHERE first_run = ?",
                   (study_id, run_id))


# Provider batch APIs (elicit/batch): a batch is recorded with every request key it carries before
# anything is sent, then its uploaded file and its provider id as each exists, so a killed run finds
# it again and never sends a request twice. ``state``: intended | uploaded | submitted | collected |
# abandoned; ``remote_status`` is the provider's own word. ``outcome`` per line: NULL while pending,
# then answered | failed (failed lines go back to the plan).
@migration("005_batches")
def m005_batches(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        CREATE TABLE batches (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            label TEXT NOT NULL UNIQUE,
            provider TEXT NOT NULL, endpoint TEXT NOT NULL, model TEXT NOT NULL, api_model TEXT,
            state TEXT NOT NULL, remote_status TEXT, input_file_id TEXT, remote_id TEXT,
            n_requests INTEGER NOT NULL, n_completed INTEGER NOT NULL DEFAULT 0,
            n_failed INTEGER NOT NULL DEFAULT 0, cost_usd REAL, online_cost_usd REAL,
            run_id INTEGER REFERENCES runs(id), created_at TEXT NOT NULL, submitted_at TEXT,
            updated_at TEXT, ended_at TEXT, detail TEXT
        );
        CREATE TABLE batch_requests (
            batch_id INTEGER NOT NULL REFERENCES batches(id),
            key TEXT NOT NULL REFERENCES requests(key),
            custom_id TEXT NOT NULL,
            outcome TEXT,
            PRIMARY KEY (batch_id, key),
            UNIQUE (batch_id, custom_id)
        );
        CREATE INDEX batch_requests_by_key ON batch_requests (key);
    """)


# Question formats (instruments/variants.py): the format each request asked in. Requests stored before
# formats existed asked the paper's prompt, which is ``original``.
@migration("006_variants")
def m006_variants(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        ALTER TABLE requests ADD COLUMN variant TEXT NOT NULL DEFAULT 'original';
    """)


# Raw first, truly: the version of the rules that decided an answer (elicit/facts.PARSER_VERSION). An
# answer whose deciding raised is stored as 'unparsed' and asked again once that version changes.
@migration("007_parser_version")
def m007_parser_version(db: sqlite3.Connection) -> None:
    _execute_all(db, """
        ALTER TABLE answers ADD COLUMN parser_version TEXT;
    """)


# Why a distribution was kept or sampled instead, as a field (elicit/outcome: ``Outcome.reason``): the run notes
# count by it. Answers stored before it get theirs from the words their detail said it with then (frozen here).
_LEGACY_REASONS = (
    ("kept_weak", "valid", "kept below the minimum valid mass"),
    ("below_min_mass", "sampled_instead", "below the minimum"),
    ("no_token_probabilities", "sampled_instead", "no token probabilities"),
    ("unsplit_prefix", "sampled_instead", "does not tell which"),
    ("letter_began_word", "sampled_instead", "the letter '"),
    ("text_variant", "sampled_instead", "answers by the option's words (a text variant) cannot be read"),
)


@migration("008_answer_reason")
def m008_answer_reason(db: sqlite3.Connection) -> None:
    db.execute("ALTER TABLE answers ADD COLUMN reason TEXT")
    for reason, status, words in _LEGACY_REASONS:
        db.execute("UPDATE answers SET reason = ? WHERE reason IS NULL AND status = ? AND instr(detail, ?) > 0",
                   (reason, status, words))


SQLITE_HEADER = b"SQLite format 3\x00"


def _bool_or_none(value) -> int | None:
    return None if value is None else int(bool(value))


class StoreError(WhosevaluesError, RuntimeError):
    """The store cannot be opened or used. The message says why and what to do."""


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def check_store_path(path: Path, *, must_exist: bool) -> None:
    """Refuse, before connecting, what cannot be a whosevalues store: a directory, a file of another kind."""
    if path.is_dir():
        raise StoreError(f"--db {path} is a directory; give a file path such as {path / 'whosevalues.sqlite'}")
    if not path.exists():
        if must_exist:
            raise StoreError(f"--db {path}: no store there; give the --db path that `whosevalues run` wrote")
        return
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        raise StoreError(f"--db {path}: cannot read it ({exc.strerror or exc}); check its permissions") from None
    if header and header != SQLITE_HEADER:
        raise StoreError(f"--db {path} is not a whosevalues store (not even a SQLite database; whosevalues never "
                         f"overwrites it); give a new path or an existing store")
    if not header and must_exist:
        raise StoreError(f"--db {path} is an empty file, not a whosevalues store; give the path `whosevalues run` "
                         f"wrote")


def _connect_read_only(path: Path) -> sqlite3.Connection:
    """Open a store so nothing can change it. In a directory we cannot write, SQLite cannot make the files a WAL
    reader needs (-shm), so the file is opened as immutable: nobody can be writing it there either."""
    uri = path.resolve().as_uri()
    if not os.access(path.resolve().parent, os.W_OK):
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, timeout=30)
    return sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=30)


def _refuse_read_only_file(path: Path) -> None:
    """A store we may read but not write: say so now, not later as a failed write mistaken for a full disk."""
    if path.exists() and not os.access(path, os.W_OK):
        raise StoreError(f"the store {path} is read-only (no write permission), so answers cannot be added to it; "
                         f"make it writable (chmod u+w), or give another --db path (`whosevalues analyze --db` "
                         f"reads a read-only store)")
    if not os.access(path.resolve().parent, os.W_OK):
        raise StoreError(f"the store {path} is in a read-only directory, where SQLite cannot write its journal; "
                         f"make {path.resolve().parent} writable or give another --db path")


def _has_content(db: sqlite3.Connection) -> bool:
    """Any schema object (view, index, trigger) or a version stamp another program set."""
    objects = db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()[0]
    stamps = db.execute("PRAGMA user_version").fetchone()[0] or db.execute("PRAGMA application_id").fetchone()[0]
    return bool(objects or stamps)


class Store:
    def __init__(self, path: str | Path, *, read_only: bool = False):
        """Open (and create or migrate) a store; ``read_only``: an existing store, opened so nothing can change."""
        self.path = Path(path)
        self.read_only = read_only
        check_store_path(self.path, must_exist=read_only)
        try:
            if read_only:
                self.db = _connect_read_only(self.path)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _refuse_read_only_file(self.path)
                self.db = sqlite3.connect(self.path, timeout=30)
            self._refuse_foreign_database()
            if not read_only:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=NORMAL")
                self.db.execute("PRAGMA foreign_keys=ON")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open the store {self.path} ({exc}): it is not writable or not a whosevalues "
                             f"store; choose another path with --db") from None
        self._migrate()

    # -- schema --------------------------------------------------------------------------------
    def _refuse_foreign_database(self) -> None:
        """Another program's SQLite file (tables, none of ours) is never written into."""
        try:
            tables = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise StoreError(f"{self.path} is not a whosevalues store ({exc}); use another --db path") from None
        if tables and "schema_migrations" not in tables:
            self.db.close()
            some = ", ".join(sorted(tables)[:3])
            raise StoreError(f"{self.path} is a SQLite database of another program (tables {some}"
                             f"), not a whosevalues store; whosevalues leaves it untouched: give another --db path")
        if not tables and _has_content(self.db):
            # no tables, but views, indexes or a version stamp: someone's database, never turned into a store
            self.db.close()
            raise StoreError(f"{self.path} is a SQLite database of another program (it has no whosevalues tables); "
                             f"whosevalues leaves it untouched: give another --db path")
        if self.read_only and not tables:
            self.db.close()
            raise StoreError(f"{self.path} is an empty database, not a whosevalues store; give the --db path "
                             f"that `whosevalues run` wrote")

    def _migrate(self) -> None:
        try:
            if not self.read_only:
                self.db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
            applied = {row[0] for row in self.db.execute("SELECT name FROM schema_migrations")}
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"{self.path} is not a whosevalues store ({exc}); use another --db path") from None
        known = {name for name, _ in MIGRATIONS}
        unknown = sorted(applied - known)
        if unknown:
            raise StoreError(f"{self.path} was written by a newer whosevalues (schema migration {unknown[-1]}); "
                             f"upgrade whosevalues (pip install -U whosevalues) or use another --db")
        pending = [name for name, _ in MIGRATIONS if name not in applied]
        if self.read_only and pending:
            self._read_upgraded_copy()
            return
        for name, apply in MIGRATIONS:
            if name not in applied:
                with self.db:  # one transaction: the migration and its record, or neither
                    self.db.execute("BEGIN")
                    apply(self.db)
                    self.db.execute("INSERT INTO schema_migrations VALUES (?, ?)", (name, utc_now()))

    def _read_upgraded_copy(self) -> None:
        """An older store opened read-only: read a private, upgraded copy; the user's file stays as it was."""
        import tempfile

        handle, copy_path = tempfile.mkstemp(prefix="whosevalues-upgraded-", suffix=".sqlite")
        os.close(handle)
        copy = sqlite3.connect(copy_path)
        try:
            self.db.backup(copy)
        finally:
            self.db.close()
        self.db = copy
        self._copy_path = Path(copy_path)
        self.read_only = False  # the copy is ours to migrate
        try:
            self._migrate()
        finally:
            self.read_only = True

    # -- runs ----------------------------------------------------------------------------------
    def start_run(self, command: str, study_json: str, version: str, study_id: str | None = None) -> int:
        with self.db:
            cursor = self.db.execute(
                "INSERT INTO runs (started_at, version, command, study_json, status, study_id) "
                "VALUES (?, ?, ?, ?, 'running', ?)", (utc_now(), version, command, study_json, study_id))
            if study_id:
                self.db.execute("INSERT OR IGNORE INTO studies VALUES (?, ?, ?)", (study_id, study_json, utc_now()))
        assert cursor.lastrowid is not None  # set by the INSERT just made
        return cursor.lastrowid

    # -- studies -------------------------------------------------------------------------------
    def study_design(self, study_id: str) -> str | None:
        """The design (study JSON) a study was first run with, or None for a study the store does not hold."""
        row = self.db.execute("SELECT study_json FROM studies WHERE id = ?", (study_id,)).fetchone()
        return row[0] if row else None

    def link_study(self, study_id: str, keys) -> None:
        """Record that these request keys belong to the study (after their requests rows exist)."""
        with self.db:
            self.db.executemany("INSERT OR IGNORE INTO study_requests VALUES (?, ?)",
                                ((study_id, key) for key in keys))

    def studies(self) -> pd.DataFrame:
        """One row per study: id, requests linked, answers stored (not errors), first and last run started."""
        import pandas as pd
        return pd.read_sql_query(
            "SELECT s.id AS study, "
            " (SELECT COUNT(*) FROM study_requests sr WHERE sr.study_id = s.id) AS requests, "
            " (SELECT COUNT(*) FROM study_requests sr JOIN answers a ON a.key = sr.key "
            "   WHERE sr.study_id = s.id AND a.status != 'error') AS answers, "
            " (SELECT MIN(started_at) FROM runs WHERE study_id = s.id) AS first_run, "
            " (SELECT MAX(started_at) FROM runs WHERE study_id = s.id) AS last_run "
            "FROM studies s ORDER BY first_run, s.id", self.db)

    def finish_run(self, run_id: int, status: str) -> None:
        with self.db:
            self.db.execute("UPDATE runs SET finished_at = ?, status = ? WHERE id = ?", (utc_now(), status, run_id))

    # -- requests and answers ------------------------------------------------------------------
    def answered_keys(self, include_errors: bool = False) -> set[str]:
        """Keys with a stored answer. Errors are not 'answered': a rerun asks them again; nor are answers left
        ``unparsed`` by a parser that has changed since (the new one may read them)."""
        if include_errors:
            return {row[0] for row in self.db.execute("SELECT key FROM answers")}
        return {row[0] for row in self.db.execute(
            "SELECT key FROM answers WHERE status != 'error' AND NOT (status = 'unparsed' AND "
            "COALESCE(parser_version, '') != ?)", (PARSER_VERSION,))}

    def add_requests(self, planned: Iterable[PlannedRequest], run_id: int) -> None:
        rows = ((p.key, p.model_id, p.origin, p.survey, p.item, p.language, p.persona, p.sample, p.request.mode,
                 p.request.temperature, p.request.max_tokens, p.request.seed, p.request.system, p.request.user, run_id,
                 p.variant)
                for p in planned)  # a generator: a million rows are never all in memory
        with self.db:
            self.db.executemany(
                "INSERT OR IGNORE INTO requests (key, model, origin, survey, item, language, persona, sample, mode, "
                "temperature, max_tokens, seed, system, user, first_run, variant) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)

    def save_answer(self, planned: PlannedRequest, reply: ProviderReply, outcome: Outcome, run_id: int, *,
                    attempts: int, latency_s: float | None, facts: RunFacts | None = None) -> str:
        """Store one reply (the raw body, the answer and reasoning apart), what it means and the run's facts,
        in one transaction. Returns the status. A reply whose deciding raised arrives with status ``unparsed``
        (``elicit.answering.decide_safely``): its raw body is kept all the same."""
        facts = facts or RunFacts()
        distribution = reply.distribution if reply.distribution is not None else outcome.distribution
        valid_mass = reply.valid_mass if reply.distribution is not None else outcome.valid_mass
        with self.db:
            self.db.execute(
                "INSERT OR REPLACE INTO answers (key, run_id, raw_text, raw_body, distribution, valid_mass, value, "
                "status, detail, finish_reason, attempts, latency_s, input_tokens, output_tokens, answered_at, "
                "reasoning_text, reasoning_tokens, reasoned, model_version, system_fingerprint, seed_honoured, "
                "max_tokens_used, adaptations, parser_version, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (planned.key, run_id, reply.answer_text, redact_keys(reply.raw),  # no key is ever stored

                 json.dumps(distribution) if distribution is not None else None, valid_mass, outcome.value,
                 outcome.status, redact_keys(outcome.detail), reply.finish_reason, attempts, latency_s,
                 reply.input_tokens,
                 reply.output_tokens, utc_now(), reply.reasoning_text, reply.reasoning_tokens, int(reply.reasoned),
                 reply.model_version, reply.system_fingerprint, _bool_or_none(facts.seed_honoured), facts.max_tokens,
                 json.dumps(list(facts.adaptations)) if facts.adaptations else None, PARSER_VERSION,
                 outcome.reason or None))
        return outcome.status

    def save_failure(self, planned: PlannedRequest, run_id: int, error: str, raw: str | None, attempts: int,
                     http_status: int | None = None, retryable: bool | None = None) -> None:
        """A request that failed after every attempt: recorded as status 'error' (retried on the next run)."""
        error, raw = redact_keys(error) or "", redact_keys(raw)  # no key is ever stored, whatever the SDK echoed
        with self.db:
            self.db.execute(
                "INSERT INTO failures (key, run_id, error, raw_body, attempts, at, http_status, retryable) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (planned.key, run_id, error, raw, attempts, utc_now(), http_status,
                 None if retryable is None else int(retryable)))
            self.db.execute(
                "INSERT OR REPLACE INTO answers (key, run_id, raw_body, status, error, attempts, answered_at) "
                "VALUES (?, ?, ?, 'error', ?, ?, ?)", (planned.key, run_id, raw, error, attempts, utc_now()))

    def transient_failure_keys(self, run_id: int) -> set[str]:
        """Keys this run left as ``error`` whose last failure was retryable (a sweep may still get them)."""
        return {row[0] for row in self.db.execute(
            "SELECT a.key FROM answers a JOIN failures f ON f.key = a.key AND f.run_id = a.run_id "
            "WHERE a.run_id = ? AND a.status = 'error' AND f.retryable = 1 "
            "AND f.id = (SELECT MAX(id) FROM failures WHERE key = a.key)", (run_id,))}

    # -- capabilities (probed once per model) --------------------------------------------------
    def capability(self, model: str, capability: str) -> str | None:
        row = self.db.execute("SELECT value FROM capabilities WHERE model = ? AND capability = ?",
                              (model, capability)).fetchone()
        return row[0] if row else None

    def set_capability(self, model: str, api_model: str | None, capability: str, value: str) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO capabilities VALUES (?, ?, ?, ?, ?)",
                            (model, api_model, capability, value, utc_now()))

    # -- what an endpoint accepts (learned adaptations, budgets, probe verdicts) ------------------
    def endpoint_settings(self, endpoint: str) -> dict[str, tuple[str, str | None]]:
        """setting -> (value, note) learned for one endpoint (``ModelSpec.endpoint_key``)."""
        rows = self.db.execute("SELECT setting, value, note FROM endpoint_settings WHERE endpoint = ?", (endpoint,))
        return {setting: (value, note) for setting, value, note in rows}

    def set_endpoint_setting(self, endpoint: str, setting: str, value: str, note: str | None = None) -> None:
        with self.db:
            self.db.execute("INSERT OR REPLACE INTO endpoint_settings VALUES (?, ?, ?, ?, ?)",
                            (endpoint, setting, value, note, utc_now()))

    def answer_meta(self, keys: set[str]) -> pd.DataFrame:
        """Reasoning, model version, fingerprint, seed, adaptations and the reason a distribution was kept or
        sampled instead (``Outcome.reason``) of stored answers (run notes)."""
        import pandas as pd
        frame = pd.read_sql_query(
            "SELECT r.key, r.model, r.mode, a.status, a.detail, a.reason, a.reasoned, a.reasoning_tokens, "
            "a.model_version, a.system_fingerprint, a.seed_honoured, a.max_tokens_used, a.adaptations "
            "FROM requests r JOIN answers a ON a.key = r.key", self.db)
        return _rows_with_keys(frame, keys).reset_index(drop=True)

    # -- reading -------------------------------------------------------------------------------
    def answers_frame(self, keys: set[str] | None = None, study: str | None = None) -> pd.DataFrame:
        """One row per stored answer joined with its request (the input of ``elicit.aggregate``).

        ``study``: only that study's requests (a store may hold several; analysis never mixes them)."""
        import pandas as pd
        where = ""
        params: tuple[str, ...] = ()
        if study is not None:
            where, params = " WHERE r.key IN (SELECT key FROM study_requests WHERE study_id = ?)", (study,)
        frame = pd.read_sql_query(
            "SELECT r.key, r.model, r.origin, r.survey, r.item, r.language, r.persona, r.variant, r.sample, r.mode, "
            "r.temperature, a.raw_text, a.value, a.status, a.detail, a.error, a.distribution, a.valid_mass, "
            "a.attempts, a.finish_reason FROM requests r JOIN answers a ON a.key = r.key" + where, self.db,
            params=params)
        if keys is not None:
            frame = _rows_with_keys(frame, keys)
        frame["distribution"] = frame["distribution"].map(
            lambda text: {int(k): v for k, v in json.loads(text).items()} if isinstance(text, str) else None)
        return frame.reset_index(drop=True)

    def close(self) -> None:
        self.db.close()
        copy = getattr(self, "_copy_path", None)
        if copy is not None:
            copy.unlink(missing_ok=True)


def _rows_with_keys(frame: pd.DataFrame, keys: set[str]) -> pd.DataFrame:
    """The rows whose key is in keys. A set lookup per row: pandas' ``isin`` on an Arrow string column converts
    every wanted key to an Arrow scalar in Python first (0.14 s against 0.03 s for 7,200 keys, pandas 3.1)."""
    return frame.loc[[key in keys for key in frame["key"]]]  # .loc: an empty list selects no rows, not no columns
