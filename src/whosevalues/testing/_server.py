"""A ThreadingHTTPServer on 127.0.0.1 run in a daemon thread, usable as a context manager."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class QuietHandler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive handler that does not log every request to stderr."""

    protocol_version = "HTTP/1.1"
    server: "LoopbackServer._Server"

    def log_message(self, format: str, *args: Any) -> None:
        return

    @property
    def owner(self) -> Any:
        return self.server.owner

    def read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def send_bytes(self, status: int, body: bytes, headers: dict[str, str] | None = None,
                   content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self.send_bytes(status, json.dumps(payload).encode(), headers)


class LoopbackServer:
    """Subclasses set ``handler`` (a QuietHandler subclass); the handler reaches us as ``self.owner``."""

    handler: type[QuietHandler]

    class _Server(ThreadingHTTPServer):
        daemon_threads = True
        request_queue_size = 256
        owner: Any

    def __init__(self, port: int = 0):
        self._requested_port = port
        self._httpd: LoopbackServer._Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started: use it as a context manager or call start()")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "LoopbackServer":
        self._httpd = self._Server(("127.0.0.1", self._requested_port), self.handler)
        self._httpd.owner = self
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True, name=type(self).__name__)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "LoopbackServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def serve_until_interrupted(self) -> None:
        """Start, print ``PORT <n>`` (what the scripts that spawn a stub read), serve until Ctrl-C."""
        self.start()
        print(f"PORT {self.port}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            self.stop()
