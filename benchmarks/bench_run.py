"""The default study end to end: `whosevalues run` with no options, on a fresh store, then again.

Prints wall time and peak memory of the first run (the embedded model answering 55 items x 2 languages x
3 personas in distribution mode, then analysis and report), and the wall time of a second run, which must
ask the model nothing. Targets on a 2-core machine: first run < 60 s, peak memory < 1 GiB.

    python benchmarks/bench_run.py
"""

from __future__ import annotations

import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed_run(workdir: Path, *args: str) -> tuple[float, str]:
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", *args], cwd=workdir,
                            capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"whosevalues run failed:\n{result.stderr[-2000:]}")
    return elapsed, result.stderr


def asking_seconds(stderr: str) -> str:
    for line in stderr.splitlines():
        if line.startswith("Asked "):
            return line.split(";")[0]
    return "?"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        first, stderr = timed_run(workdir)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        second, stderr_again = timed_run(workdir, "--no-analysis")
    print(f"default study, first run : {first:6.1f} s wall ({asking_seconds(stderr)}), "
          f"peak memory {peak_mib:.0f} MiB   [target < 60 s, < 1024 MiB]")
    print(f"default study, second run: {second:6.1f} s wall ({asking_seconds(stderr_again)})   "
          f"[target: asks nothing]")


if __name__ == "__main__":
    main()
