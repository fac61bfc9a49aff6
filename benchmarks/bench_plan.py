"""Planning at scale: time and memory to plan a million requests (target: under 10 s and under 500 MB).

    python benchmarks/bench_plan.py                      # 1,000,000 requests (one model, the paper's 330 prompts)
    python benchmarks/bench_plan.py --requests 3300000   # e.g. --samples 10000 for one model

What is measured is what a run does before it asks anything: build the plan (one compact cell per prompt),
compute every request's stable key, find what the store does not hold yet (here: nothing), and hand the
runner its queue; then, separately, making every request object once, as the runner does one at a time.
Memory is the peak resident set of this process (``ru_maxrss``) minus what it held before planning.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from whosevalues.elicit.plan import RequestQueue
from whosevalues.pipeline import plan_study
from whosevalues.study import Study

PROMPTS_PER_MODEL = (36 + 19) * 2 * 3  # MFQ-2 + WVS-7 items x languages x personas


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1_000_000, help="requests to plan (about)")
    args = parser.parse_args()
    samples = max(1, round(args.requests / PROMPTS_PER_MODEL))
    study = Study(samples=samples, mode="sample")
    study.instruments()  # survey files parsed and cached before the clock starts, like the run's validation
    model = study.model_specs()[0].id
    before = peak_mb()

    started = time.perf_counter()
    plan = plan_study(study, {model: "sample"})
    all_keys = {key for model_plan in plan.values() for key in model_plan.keys()}
    missing = {name: model_plan.missing(set()) for name, model_plan in plan.items()}
    queues = {name: RequestQueue(requests) for name, requests in missing.items()}
    planned = time.perf_counter() - started
    planned_peak = peak_mb() - before
    total = sum(len(model_plan) for model_plan in plan.values())
    assert len(all_keys) == total == sum(len(queue) for queue in queues.values())

    started = time.perf_counter()
    for queue in queues.values():
        while len(queue):
            queue.pop()
    made = time.perf_counter() - started

    print(f"planned {total:,} requests (1 model x {PROMPTS_PER_MODEL} prompts x {samples:,} samples)")
    print(f"  plan + every key + what is missing: {planned:6.2f} s   (target < 10 s)")
    print(f"  memory above the start:             {planned_peak:6.0f} MB  (target < 500 MB)")
    print(f"  making every request object once (the runner, one at a time): {made:.2f} s, "
          f"{total / made:,.0f} per second; peak now {peak_mb() - before:.0f} MB above the start")


if __name__ == "__main__":
    main()
