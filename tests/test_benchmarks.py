"""The benchmark the throughput target is measured with still runs and reports what it claims to measure
(benchmarks/bench_throughput.py --hostile): a tiny run, not a measurement."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow  # starts a server process and a client process
@pytest.mark.needs("openai")
def test_the_hostile_throughput_benchmark_stores_every_answer_and_splits_the_start_up():
    ran = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_throughput.py"), "--hostile", "--runs",
                          "1", "--samples", "2", "--rate", "30"], capture_output=True, text=True, timeout=300)
    assert ran.returncode == 0, ran.stderr[-2000:]
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("whosevalues' bytecode compiled first")
    run = next(line for line in lines if line.strip().startswith("run 1:"))
    assert "72 valid answers stored (72 stored, 72 planned)" in run  # 36 MFQ-2 prompts x 2 samples, faults retried
    parts = re.search(r"start-up ([\d.]+) s \(launch and our imports ([\d.]+) s, the openai SDK's import "
                      r"([\d.]+) s, study, store and plan ([\d.]+) s\)", run)
    assert parts, run
    total, *split = map(float, parts.groups())
    assert all(part > 0 for part in split) and abs(sum(split) - total) < 0.02  # the parts add up to the whole
    assert re.search(r"server outcomes \{.*'ok': 72", run) and re.search(r"'http_429': [1-9]", run)  # 429s met, retried
    assert re.search(r"^minimum of 1: [\d.]+ answers/s", lines[-1])
