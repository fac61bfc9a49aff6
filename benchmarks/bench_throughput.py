"""Requests per second against a local OpenAI-compatible server with fixed latency, one at a time (the
paper's scripts) and at whosevalues' default concurrency, and the projected wall time of the paper's
full design (20 models x 55 items x 2 languages x 3 personas x 20 samples = 132,000 requests).

    python benchmarks/bench_throughput.py                 # 100 ms latency, stub server in a subprocess
    python benchmarks/bench_throughput.py --latency 0.3 --requests 1500
    python benchmarks/bench_throughput.py --hostile       # five whole runs against a limited, faulty server
    python benchmarks/bench_throughput.py --hostile --rate 5 --samples 6   # a loaded machine: a lower limit

``--hostile`` measures valid answers *stored* per second by real runs (``run_study``: plan, runner, retries,
store, sweeps) against a server that allows 100 requests/s and answers 20% of requests with a fault
(500, truncated body, dropped connection, 429 with Retry-After), each drawn at random. Faults use up the
quota too, so the ceiling is 80 good answers/s; the target is 90% of it (72/s) on the minimum of five runs.
Each run is a fresh client process (so its start-up, imports included, is measured: from launch to the
server's first request, with whosevalues' bytecode compiled first as an installed package has it) against a
fresh server process; the rate is over the server's window, from its first request to its last.

The server is the project's stub (``whosevalues.testing.stub_openai``) run as a separate process so it
does not share the client's interpreter lock; the client is the real stack a run uses: the
openai-compatible backend (official SDK, real HTTP), ``ModelGate`` and ``call_with_retries``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from whosevalues.elicit.limits import ModelGate, call_with_retries
from whosevalues.models.base import ChatRequest
from whosevalues.models.catalog import PAPER_MODELS, resolve_model
from whosevalues.models.openai_compatible import OpenAICompatibleBackend
from whosevalues.models.spec import ModelSpec

FULL_DESIGN = 20 * 55 * 2 * 3 * 20
PER_MODEL = FULL_DESIGN // 20


def start_stub(latency: float) -> tuple[subprocess.Popen, str]:
    process = subprocess.Popen([sys.executable, "-m", "whosevalues.testing.stub_openai", "--latency", str(latency)],
                               stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")})
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


def hostile_ceiling(rate: float) -> float:
    """Good answers per second the hostile server can give at most: every request it lets in uses its
    quota, faults included, so rate x (1 - fault share)."""
    return rate * (1 - sum(HOSTILE_FAULTS.values()))


def serve_hostile(latency: float, rate: float) -> None:
    """In the server process: the stub behind the fault proxy; prints the proxy's port, serves until its
    stdin closes, then prints its outcomes and the window it saw (first and last request) as JSON."""
    from whosevalues.testing import FaultProxy, StubOpenAIServer

    stub = StubOpenAIServer(latency=latency).start()
    proxy = FaultProxy(stub.url, rate_limit=rate, faults=HOSTILE_FAULTS, seed=1).start()
    print(f"PORT {proxy.port}", flush=True)
    sys.stdin.read()
    print(json.dumps({"outcomes": dict(proxy.stats), "first": proxy.first_request, "last": proxy.last_request}),
          flush=True)


def hostile_client(base_url: str, samples: int) -> None:
    """In the client process: one real run (one model, MFQ-2 in English with no persona: 36 prompts x
    samples); prints what it stored and when its imports ended, as JSON (time.monotonic is system-wide)."""
    import sqlite3
    import tempfile

    from rich.console import Console

    from whosevalues.pipeline import run_study
    from whosevalues.study import Study

    imported = time.monotonic()
    import openai  # noqa: F401  what run_study would import first thing (models/remote.py): timed apart

    sdk_imported = time.monotonic()
    study = Study.from_dict({"models": [{"id": "hostile", "provider": "openai-compatible", "base_url": base_url,
                                         "api_model": "stub-model", "origin": "USA"}],
                             "surveys": ["mfq2"], "languages": ["en"], "personas": ["none"],
                             "samples": samples, "mode": "sample", "variants": ["original"]})
    with tempfile.TemporaryDirectory() as tmp:
        cpu_started = time.process_time()
        result = run_study(study, tmp, console=Console(stderr=True, quiet=True), show_progress=False)
        cpu = time.process_time() - cpu_started
        with sqlite3.connect(result.db_path) as db:
            stored, valid = db.execute("SELECT COUNT(*), SUM(status = 'valid') FROM answers").fetchone()
    print(json.dumps({"imported": imported, "sdk_imported": sdk_imported, "stored": stored, "valid": valid,
                      "ended": time.monotonic(), "statuses": dict(result.stats.statuses),
                      "asking": result.stats.seconds, "cpu": cpu}))


def _child(*args: str, **popen: object) -> subprocess.Popen:
    src = str(Path(__file__).resolve().parents[1] / "src")
    return subprocess.Popen([sys.executable, __file__, *args], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": src}, **popen)


def hostile_once(latency: float, samples: int, rate: float) -> dict:
    """One run in a fresh client process against a fresh server process; the figures of that run."""
    server = _child("--serve-hostile", "--latency", str(latency), "--rate", str(rate), stdin=subprocess.PIPE)
    line = server.stdout.readline().strip() if server.stdout else ""
    try:
        if not line.startswith("PORT "):
            raise RuntimeError(f"hostile server did not start (said {line!r})")
        launched = time.monotonic()
        client = _child("--hostile-client", f"http://127.0.0.1:{line.split()[1]}/v1", "--samples", str(samples))
        ran = json.loads(client.communicate()[0].strip().splitlines()[-1])
    finally:
        seen = json.loads((server.communicate(input="")[0] or "{}").strip().splitlines()[-1])
    window = seen["last"] - seen["first"]
    return {**ran, "outcomes": seen["outcomes"], "window": window, "rate": ran["valid"] / window,
            "startup": seen["first"] - launched, "imports": ran["imported"] - launched,
            "sdk": ran["sdk_imported"] - ran["imported"], "prepare": seen["first"] - ran["sdk_imported"],
            "wall": ran["ended"] - launched}


def compile_bytecode() -> str:
    """Compile the package's modules, as pip does when it installs a package: a start-up is a user's, not an
    editable checkout's under PYTHONDONTWRITEBYTECODE=1 (this project's machines set it), which would compile
    every module of whosevalues again at every launch (about 0.1 s here). Says what it did."""
    import compileall

    src = Path(__file__).resolve().parents[1] / "src" / "whosevalues"
    compileall.compile_dir(src, quiet=1)  # writes __pycache__ whatever PYTHONDONTWRITEBYTECODE says
    setting = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return (f"whosevalues' bytecode compiled first, as pip does at install (PYTHONDONTWRITEBYTECODE is "
            f"{'set' if setting else 'not set'} here)")


def hostile_runs(latency: float, samples: int, runs: int, rate: float) -> None:
    """``runs`` whole runs; each run's figures, then the minimum (the target is on every run)."""
    print(compile_bytecode())
    ceiling = hostile_ceiling(rate)
    print(f"hostile server: {rate:g} requests/s allowed (faults use the quota too), faults "
          f"{HOSTILE_FAULTS}, latency {latency * 1000:.0f} ms: ceiling {ceiling:.0f} good answers/s, "
          f"target {0.9 * ceiling:.0f}/s on every run; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} CPUs")
    rates = []
    for number in range(1, runs + 1):
        run = hostile_once(latency, samples, rate)
        rates.append(run["rate"])
        print(f"  run {number}: {run['valid']:,} valid answers stored ({run['stored']:,} stored, "
              f"{36 * samples:,} planned) over the server's window of {run['window']:.1f} s (first to last "
              f"request) -> {run['rate']:5.1f} answers/s ({run['rate'] / ceiling:.0%} of the ceiling); "
              f"start-up {run['startup']:.2f} s (launch and our imports {run['imports']:.2f} s, the openai SDK's "
              f"import {run['sdk']:.2f} s, study, store and plan {run['prepare']:.2f} s) of {run['wall']:.1f} s wall, "
              f"client CPU {run['cpu']:.1f} s; server outcomes {run['outcomes']}; load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    print(f"minimum of {runs}: {min(rates):.1f} answers/s ({min(rates) / ceiling:.0%} of the ceiling, "
          f"target >= 90%); median {statistics.median(rates):.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="server latency per request, seconds")
    parser.add_argument("--requests", type=int, default=1200, help="requests at default concurrency")
    parser.add_argument("--concurrency", type=int, default=OpenAICompatibleBackend.default_concurrency)
    parser.add_argument("--hostile", action="store_true", help="a whole run against a limited, faulty server")
    parser.add_argument("--samples", type=int, default=100, help="--hostile: samples of 36 prompts [100]")
    parser.add_argument("--rate", type=float, default=HOSTILE_RATE,
                        help="--hostile: requests/s the server allows (lower it on a loaded machine) [100]")
    parser.add_argument("--runs", type=int, default=5, help="--hostile: runs; the minimum is reported [5]")
    parser.add_argument("--serve-hostile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hostile-client", metavar="BASE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_hostile:
        serve_hostile(args.latency, args.rate)
        return
    if args.hostile_client:
        hostile_client(args.hostile_client, args.samples)
        return
    if args.hostile:
        hostile_runs(args.latency, args.samples, args.runs, args.rate)
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
