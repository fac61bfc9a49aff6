"""A seeded fault-injecting reverse proxy for OpenAI-compatible servers.

    with StubOpenAIServer() as upstream, FaultProxy(upstream.url, latency=0.1, rate_limit=50,
                                                   faults={"http_500": 0.05, "drop": 0.02}, seed=1) as proxy:
        ... point a model's base_url at proxy.base_url ...
        proxy.stats  # Counter of outcomes

Each request gets one outcome: the next scripted one (``proxy.script([...])``) if any, else ``http_429``
when it exceeds ``rate_limit`` requests per second (sliding one-second window; the 429 carries
``Retry-After`` and ``retry-after-ms``), else a fault drawn with the given probabilities from a seeded
RNG, else ``ok``. Every request not refused by the rate limit counts in its window, faults included (as at
a real provider, whose errors use up the quota too), so ``rate_limit x (1 - fault share)`` good answers per
second is the ceiling. ``first_request`` / ``last_request`` bound the server's window. Outcomes (``FAULTS``):

    ok              forwarded unchanged (after ``latency``)
    http_429        429 rate_limit_exceeded with Retry-After (immediately, like real providers)
    http_500        500 server_error JSON body
    http_503        503 with an HTML body (a load balancer, not the API)
    drop            the connection is closed without any response
    hang            nothing is sent for ``hang_seconds``, then the connection is closed (client timeout)
    truncate        the upstream JSON body cut in half (valid HTTP, malformed JSON)
    malformed       200 with a non-JSON body
    empty_choices   the upstream body with ``"choices": []``
    content_filter  the upstream body with finish_reason ``content_filter`` and empty content
    echo_key_401    401 whose message quotes the Authorization header (as some providers do)
"""

from __future__ import annotations

import collections
import http.client
import json
import math
import random
import threading
import time
from urllib.parse import urlparse

from whosevalues.testing._server import LoopbackServer, QuietHandler

FAULTS = ("ok", "http_429", "http_500", "http_503", "drop", "hang", "truncate", "malformed", "empty_choices",
          "content_filter", "echo_key_401")
_FORWARDED = {"ok", "truncate", "empty_choices", "content_filter"}


class _ProxyHandler(QuietHandler):
    def do_GET(self) -> None:
        status, headers, body = self.owner.forward("GET", self.path, b"", dict(self.headers))
        self.send_bytes(status, body, content_type=headers.get("content-type", "application/json"))

    def do_POST(self) -> None:
        request_body = self.read_body()
        proxy: FaultProxy = self.owner
        outcome, retry_after = proxy.decide()
        if outcome == "http_429":
            payload = {"error": {"message": "Rate limit reached for requests (injected)", "type": "requests",
                                 "code": "rate_limit_exceeded"}}
            self.send_json(429, payload, {"Retry-After": str(max(1, math.ceil(retry_after))),
                                          "retry-after-ms": str(int(retry_after * 1000))})
        elif outcome == "http_500":
            self.send_json(500, {"error": {"message": "The server had an error (injected)",
                                           "type": "server_error"}})
        elif outcome == "http_503":
            self.send_bytes(503, b"<html><body><h1>503 Service Unavailable</h1></body></html>",
                            content_type="text/html")
        elif outcome == "echo_key_401":
            key = (self.headers.get("Authorization") or "").removeprefix("Bearer ")
            self.send_json(401, {"error": {"message": f"Incorrect API key provided: {key}.",
                                           "type": "invalid_request_error", "code": "invalid_api_key"}})
        elif outcome == "malformed":
            self.send_bytes(200, b"upstream exploded: <!doctype html>", content_type="application/json")
        elif outcome in ("drop", "hang"):
            if outcome == "hang":
                time.sleep(proxy.hang_seconds)
            self.close_connection = True  # say nothing: the client sees a dropped connection
        else:
            self._forward_post(outcome, request_body)

    def _forward_post(self, outcome: str, request_body: bytes) -> None:
        proxy: FaultProxy = self.owner
        if proxy.latency:
            time.sleep(proxy.latency)
        status, headers, body = proxy.forward("POST", self.path, request_body, dict(self.headers))
        if status == 200 and outcome != "ok":
            body = _mangle(outcome, body)
        self.send_bytes(status, body, content_type=headers.get("content-type", "application/json"))


def _mangle(outcome: str, body: bytes) -> bytes:
    if outcome == "truncate":
        return body[: max(len(body) // 2, 1)]
    data = json.loads(body)
    if outcome == "empty_choices":
        data["choices"] = []
    elif outcome == "content_filter":
        for choice in data.get("choices", []):
            choice["finish_reason"] = "content_filter"
            choice.setdefault("message", {})["content"] = ""
            choice.pop("logprobs", None)
    return json.dumps(data).encode()


class FaultProxy(LoopbackServer):
    handler = _ProxyHandler

    def __init__(self, upstream: str, *, latency: float = 0.0, rate_limit: float | None = None,
                 faults: dict[str, float] | None = None, seed: int = 0, hang_seconds: float = 5.0,
                 port: int = 0):
        super().__init__(port)
        parsed = urlparse(upstream)
        self.upstream_host = parsed.hostname or "127.0.0.1"
        self.upstream_port = parsed.port or 80
        self.latency = latency
        self.rate_limit = rate_limit
        self.hang_seconds = hang_seconds
        self.faults = dict(faults or {})
        unknown = set(self.faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown fault(s) {sorted(unknown)}: use some of {', '.join(FAULTS)}")
        self.stats: collections.Counter[str] = collections.Counter()
        self.accepted_times: list[float] = []  # arrival time of every request let through to the model
        self.first_request: float | None = None  # time.monotonic() of the first and last POST, any outcome
        self.last_request: float | None = None
        self._rng = random.Random(seed)
        self._script: collections.deque[str] = collections.deque()
        self._window: collections.deque[float] = collections.deque()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def script(self, outcomes: list[str]) -> None:
        """Force the outcomes of the next requests, in order (then back to random draws)."""
        unknown = set(outcomes) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown outcome(s) {sorted(unknown)}: use some of {', '.join(FAULTS)}")
        with self._lock:
            self._script.extend(outcomes)

    def decide(self) -> tuple[str, float]:
        """The outcome for the request arriving now, and the Retry-After it should carry."""
        with self._lock:
            now = time.monotonic()
            self.first_request = now if self.first_request is None else self.first_request
            self.last_request = now
            while self._window and now - self._window[0] >= 1.0:
                self._window.popleft()
            refused = False
            if self._script:
                outcome = self._script.popleft()
            elif self.rate_limit is not None and len(self._window) >= self.rate_limit:
                outcome, refused = "http_429", True
            else:
                outcome = self._draw()
            retry_after = 1.0 - (now - self._window[0]) if self._window else 1.0
            if not refused:  # the quota counts every request it let in, whatever went wrong after
                self._window.append(now)
            if outcome in _FORWARDED:
                self.accepted_times.append(now)
            self.stats[outcome] += 1
            return outcome, max(retry_after, 0.05)

    def _draw(self) -> str:
        roll = self._rng.random()
        for name, probability in self.faults.items():
            if roll < probability:
                return name
            roll -= probability
        return "ok"

    def forward(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict, bytes]:
        connection = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=600)
        try:
            send_headers = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
            connection.request(method, path, body=body or None, headers=send_headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, data
        except OSError as exc:
            return 502, {}, json.dumps({"error": {"message": f"proxy: upstream unreachable: {exc}"}}).encode()
        finally:
            connection.close()

    def per_second(self) -> list[int]:
        """Accepted requests in each whole second since the first one (to see the steady state)."""
        times = sorted(self.accepted_times)
        counts = collections.Counter(int(t - times[0]) for t in times) if times else collections.Counter()
        return [counts[i] for i in range(max(counts) + 1)] if counts else []

    def rate(self, skip_first: float = 0.0) -> float:
        """Accepted requests per second between the first (after ``skip_first`` s) and the last."""
        times = sorted(self.accepted_times)
        if skip_first and times:
            times = [t for t in times if t - times[0] >= skip_first]
        if len(times) < 2:
            return 0.0
        return (len(times) - 1) / (times[-1] - times[0])
