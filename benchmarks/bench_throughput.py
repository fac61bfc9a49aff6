"""Requests per second against a local OpenAI-compatible server with fixed latency, one at a time (the
paper's scripts) and at whosevalues' default concurrency, and the projected wall time of the paper's
full design (20 models x 55 items x 2 languages x 3 personas x 20 samples = 132,000 requests).

    python benchmarks/bench_throughput.py                 # 100 ms latency, stub server in a subprocess
    python benchmarks/bench_throughput.py --latency 0.3 --requests 1500
    python benchmarks/bench_throughput.py --hostile       # a whole run against a limited, faulty server

``--hostile`` measures answers *stored* per second by a real run (``run_study``: plan, runner, retries,
store, sweeps) against a server that allows 100 requests/s and answers 20% of requests with a fault
(500, truncated body, dropped connection, 429 with Retry-After), each drawn at random (target >= 75/s).
The server and the fault proxy run in another process, off the client's interpreter lock.

The server is the project's stub (``whosevalues.testing.stub_openai``) run as a separate process so it
does not share the client's interpreter lock; the client is the real stack a run uses: the
openai-compatible backend (official SDK, real HTTP), ``ModelGate`` and ``call_with_retries``.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from whosevalues.elicit.limits import ModelGate, call_with_retries  # noqa: E402
from whosevalues.models.base import ChatRequest  # noqa: E402
from whosevalues.models.catalog import PAPER_MODELS, resolve_model  # noqa: E402
from whosevalues.models.openai_compatible import OpenAICompatibleBackend  # noqa: E402
from whosevalues.models.spec import ModelSpec  # noqa: E402

FULL_DESIGN = 20 * 55 * 2 * 3 * 20
PER_MODEL = FULL_DESIGN // 20


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "whosevalues.testing.stub_openai", "--latency", str(latency)],
                               stdout=subprocess.PIPE, text=True,
                               env={**__import__("os").environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
    line = process.stdout.readline().strip() if process.stdout else ""
    if not line.startswith("PORT "):
        process.kill()
        raise RuntimeError(f"stub server did not start (said {line!r})")
    return process, f"http://127.0.0.1:{line.split()[1]}/v1"


def make_request(i: int) -> ChatRequest:
    return ChatRequest(key=f"bench|{i}", system="You are a survey respondent.",
                       user=f"Item {i}: how much do you agree? Answer with a number from 1 to 5.", mode="sample",
                       scale_min=1, scale_max=5, temperature=0.7, max_tokens=10, seed=i)


async def measure(base_url: str, concurrency: int, n: int) -> float:
    """Requests per second for ``n`` requests through one gate of ``concurrency``."""
    spec = ModelSpec(id="bench", provider="openai-compatible", base_url=base_url, api_model="stub-model", timeout=30)
    backend = OpenAICompatibleBackend(spec)
    gate = ModelGate(concurrency)
    await call_with_retries(backend, make_request(-1), gate)  # warm the connection pool and imports
    queue = list(range(n))

    async def worker() -> None:  # the runner's shape: one worker per slot pulling from a queue
        while queue:
            await call_with_retries(backend, make_request(queue.pop()), gate)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await backend.aclose()
    return n / elapsed


def hours(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"


HOSTILE_FAULTS = {"http_500": 0.05, "truncate": 0.05, "drop": 0.05, "http_429": 0.05}
HOSTILE_RATE = 100


def serve_hostile(latency: float) -> None:
    """In the server process: the stub behind the fault proxy; prints the proxy's port, serves until killed."""
    from whosevalues.testing import FaultProxy, StubOpenAIServer

    stub = StubOpenAIServer(latency=latency).start()
    proxy = FaultProxy(stub.url, rate_limit=HOSTILE_RATE, faults=HOSTILE_FAULTS, seed=1).start()
    print(f"PORT {proxy.port}", flush=True)
    try:
        while True:
            time.sleep(1)
            print(f"STATS {dict(proxy.stats)}", flush=True)
    except KeyboardInterrupt:
        pass


def hostile_run(latency: float, samples: int) -> None:
    """A real run (one model, MFQ-2 in English with no persona: 36 prompts x samples) against the hostile server."""
    import os
    import sqlite3
    import tempfile

    from rich.console import Console

    from whosevalues.pipeline import run_study
    from whosevalues.study import Study

    src = str(Path(__file__).resolve().parents[1] / "src")
    server = subprocess.Popen([sys.executable, __file__, "--serve-hostile", "--latency", str(latency)],
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": src})
    line = server.stdout.readline().strip() if server.stdout else ""
    try:
        if not line.startswith("PORT "):
            raise RuntimeError(f"hostile server did not start (said {line!r})")
        base_url = f"http://127.0.0.1:{line.split()[1]}/v1"
        study = Study.from_dict({"models": [{"id": "hostile", "provider": "openai-compatible", "base_url": base_url,
                                             "api_model": "stub-model", "origin": "USA"}],
                                 "surveys": ["mfq2"], "languages": ["en"], "personas": ["none"],
                                 "samples": samples, "mode": "sample"})
        with tempfile.TemporaryDirectory() as tmp:
            started, cpu_started = time.perf_counter(), time.process_time()
            result = run_study(study, tmp, console=Console(stderr=True, quiet=True), show_progress=False)
            wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
            with sqlite3.connect(result.db_path) as db:
                stored, valid = db.execute("SELECT COUNT(*), SUM(status = 'valid') FROM answers").fetchone()
    finally:
        server.terminate()
        remaining = server.communicate()[0] or ""
    outcomes = [line for line in remaining.splitlines() if line.startswith("STATS ")]
    asked = result.stats.seconds
    print(f"hostile server: {HOSTILE_RATE} requests/s allowed, faults {HOSTILE_FAULTS}, latency "
          f"{latency * 1000:.0f} ms; machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"  {stored:,} answers stored ({valid:,} valid) of {36 * samples:,} planned; statuses "
          f"{dict(result.stats.statuses)}")
    if outcomes:
        print(f"  server outcomes: {outcomes[-1].removeprefix('STATS ')}")
    print(f"  asking: {asked:.1f} s -> {stored / asked:6.1f} answers stored per second (target >= 75); "
          f"whole run incl. planning and aggregation {wall:.1f} s, client CPU {cpu:.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--requests", type=int, default=1200, help="requests at default concurrency")
    parser.add_argument("--concurrency", type=int, default=OpenAICompatibleBackend.default_concurrency)
    parser.add_argument("--hostile", action="store_true", help="a whole run against a limited, faulty server")
    parser.add_argument("--samples", type=int, default=100, help="--hostile: samples of 36 prompts [100]")
    parser.add_argument("--serve-hostile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hostile:
        serve_hostile(args.latency)
        return
    if args.hostile:
        hostile_run(args.latency, args.samples)
        return
    process, base_url = start_stub(args.latency)
    try:
        one = asyncio.run(measure(base_url, 1, max(20, int(3 / args.latency))))
        many = asyncio.run(measure(base_url, args.concurrency, args.requests))
    finally:
        process.terminate()
        process.wait()
    print(f"server latency {args.latency * 1000:.0f} ms (stub OpenAI-compatible server, real HTTP, official SDK)")
    print(f"  concurrency 1 (the paper's way): {one:8.1f} req/s")
    print(f"  concurrency {args.concurrency} (default):     {many:8.1f} req/s   speed-up {many / one:.1f}x "
          f"(target >= 20x)")
    print(f"projected wall time of the full design ({FULL_DESIGN:,} requests) at this latency:")
    print(f"  one request at a time:                      {hours(FULL_DESIGN / one)}")
    print(f"  default concurrency, one model after another: {hours(FULL_DESIGN / many)}")
    slowest = max(PER_MODEL / min(many, (resolve_model(m).requests_per_minute or float("inf")) / 60)
                  for m in PAPER_MODELS)
    print(f"  default concurrency, 20 models in parallel, each within its catalog requests_per_minute: "
          f"{hours(slowest)} (the slowest model bounds it)")


if __name__ == "__main__":
    main()
