"""Helpers for the SDK tests that run against recorded exchanges on a loopback ReplayServer."""

from __future__ import annotations

import asyncio
from pathlib import Path

from whosevalues.testing import load_exchanges

RECORDINGS_ROOT = Path(__file__).parent / "recordings"


def load_recorded(folder: Path, *names: str) -> list[dict]:
    """The exchanges ``folder/<name>.json``, in order (bind ``folder`` with functools.partial)."""
    return load_exchanges(*(folder / f"{name}.json" for name in names))


def complete(backend, req):
    """One request in its own event loop, closing the SDK client before the loop ends."""
    async def go():
        try:
            return await backend.complete(req)
        finally:
            await backend.aclose()
    return asyncio.run(go())
