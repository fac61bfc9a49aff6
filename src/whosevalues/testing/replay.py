"""Answer HTTP requests with recorded exchanges, in order, and remember what the client sent.

A recording is a JSON file ``{"status": 200, "headers": {...}, "body": {...}}`` (``body`` may also be
a string for non-JSON bodies). The SDKs under test are pointed at ``server.url`` with their ``base_url``
option, so requests go through the real SDK and real HTTP on loopback. (respx would be lighter, but the
installed anthropic/openai SDKs use httpx2, which respx does not intercept.)
"""

from __future__ import annotations

import collections
import json
import threading
from pathlib import Path
from typing import Any

from whosevalues.testing._server import LoopbackServer, QuietHandler


def load_exchanges(*paths: Path | str) -> list[dict[str, Any]]:
    return [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]


class _ReplayHandler(QuietHandler):
    def _answer(self) -> None:
        raw = self.read_body()
        server: ReplayServer = self.owner
        exchange = server.record(self.command, self.path, dict(self.headers), raw)
        if exchange is None:
            self.send_json(500, {"error": {"message": "replay: no recorded exchange left"}})
            return
        body = exchange.get("body", "")
        data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
        headers = {k: v for k, v in (exchange.get("headers") or {}).items() if k.lower() != "content-type"}
        content_type = (exchange.get("headers") or {}).get("content-type", "application/json")
        self.send_bytes(int(exchange.get("status", 200)), data, headers, content_type=content_type)

    do_GET = _answer
    do_POST = _answer


class ReplayServer(LoopbackServer):
    handler = _ReplayHandler

    def __init__(self, exchanges: list[dict[str, Any]] | None = None, port: int = 0):
        super().__init__(port)
        self._queue: collections.deque[dict[str, Any]] = collections.deque(exchanges or [])
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def queue(self, *exchanges: dict[str, Any]) -> None:
        with self._lock:
            self._queue.extend(exchanges)

    def record(self, method: str, path: str, headers: dict[str, str], body: bytes) -> dict[str, Any] | None:
        try:
            parsed: Any = json.loads(body) if body else None
        except ValueError:
            parsed = body.decode(errors="replace")
        with self._lock:
            self.received.append({"method": method, "path": path, "body": parsed,
                                  "headers": {k.lower(): v for k, v in headers.items()}})
            return self._queue.popleft() if self._queue else None
