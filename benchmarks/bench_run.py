"""The default study end to end: `whosevalues run` with no options, on a fresh store, then again.

Measured from outside, as a user would: wall time, CPU time (the child process's user + system) and peak
memory of the first run (the embedded model answering every item x language x persona x variant in
distribution mode, the sample check, then analysis and report), the time per prompt and per sample (from
the store's answer times), the sample check's size (from run_notes.json), and the machine's load average
before and after (the CPU time is what to compare on a shared machine). Then a second run, which must ask
the model nothing. Targets on a 2-core machine: first run < 60 s wall on a quiet machine, < 1 GiB.

    python benchmarks/bench_run.py [--repeat N] [-- extra `whosevalues run` arguments]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed_run(workdir: Path, *args: str) -> dict:
    load_before = os.getloadavg()[0]
    cpu_before, started = children_cpu(), time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", *args], cwd=workdir,
                            capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"whosevalues run failed:\n{result.stderr[-2000:]}")
    return {"wall": wall, "cpu": children_cpu() - cpu_before, "load": (load_before, os.getloadavg()[0]),
            "asked": asking_line(result.stderr)}


def asking_line(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("Asked "):
            return line.split(";")[0]
    return "?"


def per_request_times(out: Path) -> dict[str, tuple[int, float]]:
    """(answers, wall seconds per answer) per mode: the span of their answer times over their number. Not the
    stored latencies: the embedded model answers the requests in flight together, so a request's latency
    includes its wait behind the others of its batch."""
    with sqlite3.connect(out / "whosevalues.sqlite") as db:
        rows = db.execute("SELECT r.mode, a.answered_at FROM answers a JOIN requests r ON r.key = a.key").fetchall()
    times: dict[str, list[float]] = {}
    for mode, answered_at in rows:
        times.setdefault(mode, []).append(datetime.fromisoformat(answered_at).timestamp())
    return {mode: (len(t), (max(t) - min(t)) / max(len(t) - 1, 1)) for mode, t in times.items()}


def sample_check(out: Path) -> str:
    notes = json.loads((out / "run_notes.json").read_text()).get("models", {})
    checks = [m.get("sample_check") for m in notes.values() if isinstance(m, dict) and m.get("sample_check")]
    if not checks:
        return "no sample check"
    check = checks[0]
    return (f"{check['items']} cells x {check['samples_per_item']} samples, "
            f"{'DISAGREES' if check['disagree'] else 'agrees'}{'' if check.get('clear') else ' (not clear)'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1, help="fresh first runs to time")
    parser.add_argument("run_args", nargs="*", help="extra arguments for `whosevalues run` (after --)")
    args = parser.parse_args()
    print(f"{os.cpu_count()} CPUs; load average now {os.getloadavg()[0]:.2f}", flush=True)
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            first = timed_run(workdir, *args.run_args)
            peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            times = per_request_times(workdir / "whosevalues-out")
            check = sample_check(workdir / "whosevalues-out")
            second = timed_run(workdir, "--no-analysis", *args.run_args)
        per = "; ".join(f"{count} {mode} at {mean * 1000:.0f} ms apart"
                        for mode, (count, mean) in sorted(times.items()))
        print(f"first run : {first['wall']:6.1f} s wall, {first['cpu']:6.1f} s CPU, peak {peak_mib:.0f} MiB, load "
              f"{first['load'][0]:.1f} -> {first['load'][1]:.1f}   [target < 60 s wall, < 1024 MiB]")
        print(f"            {first['asked']}: {per}; sample check {check}")
        print(f"second run: {second['wall']:6.1f} s wall, {second['cpu']:6.1f} s CPU ({second['asked']})   "
              f"[target: asks nothing]", flush=True)


if __name__ == "__main__":
    main()
