"""A paper-sized model's study through a batch: 55 items x 2 languages x 3 personas x 20 samples = 6,600 lines.

Runs `whosevalues run --batch` against the loopback files + batches server (batches take 3 s, 3% of lines fail
and are sent again) and prints the wall time of the run and the client's own time beside the server's waiting
(building, uploading, collecting and storing every line; start-up and the 0.5 s polls included). Measured on
the shared 2-core development machine: about 13 s of the client's own time for 6,600 lines, i.e. about 2 ms a
line (each answer is stored and parsed in its own transaction, as online); the 20 paper models' 132,000 lines
would take about 4 minutes of client time beside the hours the providers take.

    python benchmarks/bench_batch.py
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from whosevalues.testing.stub_batches import StubBatchServer

STUDY = """
samples = 20
mode = "sample"

[[models]]
id = "stub-batch"
provider = "openai-compatible"
base_url = "{base_url}"
api_model = "stub-model"
origin = "USA"
batch = true
"""


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, StubBatchServer(duration=3.0, fail_rate=0.03) as server:
        workdir = Path(tmp)
        (workdir / "study.toml").write_text(STUDY.format(base_url=server.base_url))
        env = dict(os.environ, WHOSEVALUES_BATCH_POLL_SECONDS="0.5")
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", "--config", "study.toml",
                                 "--out", "out", "--no-analysis"], cwd=workdir, env=env, capture_output=True,
                                text=True)
        wall = time.perf_counter() - started
        if result.returncode != 0:
            sys.exit(f"whosevalues run failed:\n{result.stderr[-2000:]}")
        with sqlite3.connect(workdir / "out" / "whosevalues.sqlite") as db:
            answers = db.execute("SELECT count(*) FROM answers WHERE status = 'valid'").fetchone()[0]
        waiting = sum(batch.duration + server.validating for batch in server.batches.values())
        print(f"{answers} answers stored valid from {len(server.batches)} batches "
              f"(first: {len(min(server.batches.values(), key=lambda b: b.created).lines)} lines)")
        print(f"wall time {wall:.1f} s, of which about {waiting:.1f} s the server's batches running; "
              f"client's own time about {max(wall - waiting, 0):.1f} s")


if __name__ == "__main__":
    main()
