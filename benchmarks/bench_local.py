"""Throughput of the embedded local model (SmolLM2-135M-Instruct via llama-cpp-python).

Prints prompts/second in distribution mode with and without prefix reuse (the default study's 330
prompts: 55 items x 2 languages x 3 personas, rendered by whosevalues.instruments, in plan order so
items of one condition follow each other; the two settings alternate condition by condition so
that load from other processes hits both alike), samples/second in sample mode one at a time and side by
side (as the runner asks them: the requests in flight answered together), and the peak RSS.

    python benchmarks/bench_local.py [--samples 96] [--limit N]

Expect minutes: without prefix reuse every prompt is evaluated in full (about 48k tokens).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from whosevalues.instruments import load_instrument
from whosevalues.models.base import ChatRequest
from whosevalues.models.catalog import EMBEDDED_MODEL, resolve_model
from whosevalues.models.local_llama import LocalLlamaBackend

LANGUAGES = ("en", "zh")
PERSONAS = ("none", "CHN", "USA")


def default_study_prompts(mode: str = "distribution", temperature: float | None = None) -> list[ChatRequest]:
    requests = []
    for survey in ("mfq2", "wvs7"):
        instrument = load_instrument(survey)
        for language in LANGUAGES:
            for persona in PERSONAS:
                for item in instrument.item_ids:
                    prompt = instrument.render(item, language, persona)
                    key = f"{survey}/{language}/{persona}/{item}"
                    requests.append(ChatRequest(key=key, system=prompt.system, user=prompt.user, mode=mode,
                                                scale_min=instrument.scale.min, scale_max=instrument.scale.max,
                                                temperature=temperature, max_tokens=10, seed=len(requests)))
    return requests


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux (bytes on macOS)
    scale = 1 / 1024 if sys.platform != "darwin" else 1 / 1024 / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale


CPU = {"seconds": 0.0}  # process CPU time spent in timed(), to compare on a shared machine


def timed(backend: LocalLlamaBackend, requests: list[ChatRequest]) -> tuple[float, list]:
    start, cpu = time.perf_counter(), time.process_time()
    results = [backend.complete_sync(r) for r in requests]
    CPU["seconds"] += time.process_time() - cpu
    return time.perf_counter() - start, results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=96, help="sample-mode requests to time")
    parser.add_argument("--limit", type=int, default=None, help="time only the first N distribution prompts")
    args = parser.parse_args()

    backend = LocalLlamaBackend(resolve_model(EMBEDDED_MODEL), prefix_reuse=True)
    start = time.perf_counter()
    engine = backend.engine
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (compare CPU times on a shared machine)")
    print(f"model load: {time.perf_counter() - start:.2f} s ({engine.model_path.name}, "
          f"{engine.llama.n_threads} threads)", flush=True)

    prompts = default_study_prompts()[: args.limit]
    # Alternate the two settings block by block (one block = one survey x language x persona), so that
    # load from other processes on a shared machine hits both alike.
    blocks: dict[str, list[ChatRequest]] = {}
    for req in prompts:
        blocks.setdefault(req.key.rsplit("/", 1)[0], []).append(req)
    seconds = {True: 0.0, False: 0.0}
    results: dict[bool, list] = {True: [], False: []}
    for block in blocks.values():
        for reuse in (True, False):
            engine.prefix_reuse = reuse
            engine.reset()
            elapsed, done = timed(backend, block)
            seconds[reuse] += elapsed
            results[reuse] += done
    engine.prefix_reuse = True
    warm, cold = results[True], results[False]
    reused = sum(c.extra["reused_tokens"] for c in warm)
    total = sum(c.input_tokens for c in warm)
    max_diff = max(abs(a.distribution[v] - b.distribution[v]) for a, b in zip(warm, cold) for v in a.distribution)
    print(f"distribution, prefix reuse:    {len(prompts) / seconds[True]:7.1f} prompts/s  ({len(prompts)} prompts, "
          f"{seconds[True]:.2f} s; {reused}/{total} prompt tokens reused)")
    print(f"distribution, no prefix reuse: {len(prompts) / seconds[False]:7.1f} prompts/s  ({seconds[False]:.2f} s)")
    print(f"speed-up from prefix reuse:    {seconds[False] / seconds[True]:7.2f}x  "
          f"(max |diff| between the two distributions: {max_diff:.2e})", flush=True)

    print(f"CPU time of all distribution prompts (both settings): {CPU['seconds']:.1f} s")
    samples = default_study_prompts(mode="sample")[: args.samples]
    CPU["seconds"] = 0.0
    sample_s, done = timed(backend, samples)
    tokens = sum(c.output_tokens or 0 for c in done)
    print(f"sample mode, one at a time:    {len(samples) / sample_s:7.1f} samples/s  ({len(samples)} samples, "
          f"{tokens} tokens generated, {CPU['seconds']:.1f} s CPU, temperature {backend.temperature_for(samples[0])})")
    # As the runner asks them: the requests in flight (default_concurrency) answered side by side.
    start, cpu = time.perf_counter(), time.process_time()
    together: dict[int, object] = {}
    width = backend.default_concurrency
    for first in range(0, len(samples), width):
        batch: dict[int, object] = {}
        backend.answer_many(samples[first:first + width], batch.__setitem__)
        together.update({first + i: reply for i, reply in batch.items()})
    side_s, side_cpu = time.perf_counter() - start, time.process_time() - cpu
    print(f"sample mode, side by side:     {len(samples) / side_s:7.1f} samples/s  (batches of {width}, "
          f"{side_cpu:.1f} s CPU; {sample_s / side_s:.1f}x)")
    print(f"peak RSS:                      {peak_rss_mib():7.0f} MiB")


if __name__ == "__main__":
    main()
