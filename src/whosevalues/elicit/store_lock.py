"""One writer per store: a run holds an exclusive lock beside the store; a second run on it waits.

Why wait rather than share: a run that waits, then plans against what the first one stored, asks only
what is still missing, so no request is ever asked twice and no claim bookkeeping can go stale after a
crash (the operating system releases the lock when a process dies, even on SIGKILL). Readers
(``analyze --db``, ``--dry-run``) take no lock: SQLite's WAL mode lets them read while a run writes.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Iterator

from rich.console import Console

fcntl: ModuleType | None
try:
    import fcntl as _fcntl
    fcntl = _fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks; one run per store is then the user's care
    fcntl = None


def lock_path(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def exclusive_run(db_path: Path, console: Console | None = None) -> Iterator[None]:
    """Hold the store's run lock for the block; if another process holds it, say so and wait for it."""
    if fcntl is None:
        yield
        return
    with open(lock_path(db_path), "a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            (console or Console(stderr=True)).print(
                f"Another whosevalues run ({holder}) is using {db_path}; waiting for it to finish, then asking "
                "only what it left (Ctrl-C to stop waiting).")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}")
        handle.flush()
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
