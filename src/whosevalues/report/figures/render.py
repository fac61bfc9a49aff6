"""Draw every figure of every survey (in worker processes), and the figures/figures.json index."""

from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from whosevalues.report.figures.common import STYLE, FigureResult, _skip, pyplot
from whosevalues.report.figures.distributions import figure_distributions
from whosevalues.report.figures.formats import figure_formats
from whosevalues.report.figures.ratings import figure2
from whosevalues.report.figures.regressions import figure4, figure5
from whosevalues.report.figures.similarity import figure1, figure3
from whosevalues.report.figures.validity import figure_validity
from whosevalues.report.figures.world import figure_countries, figure_steerability
from whosevalues.report.outdir import OutputDir

# == all of them =================================================================================

FIGURES = (figure1, figure2, figure3, figure4, figure5, figure_validity, figure_distributions, figure_countries,
           figure_steerability, figure_formats)


# Rough cost of each figure (CPU time, WVS scale), to hand the two workers the largest first: with the
# dearest figures left for last, one worker would still be drawing while the other idles.
COST = {figure1: 2, figure2: 3, figure3: 4, figure4: 5, figure5: 5, figure_validity: 4, figure_distributions: 3,
        figure_countries: 3, figure_steerability: 2, figure_formats: 2}

_pool: ProcessPoolExecutor | None = None  # started by prewarm(), used by the next write_figures()


def _worker_count(workers: int | None) -> int:
    workers = workers or int(os.environ.get("WHOSEVALUES_FIGURE_WORKERS", 0)) or min(2, os.cpu_count() or 1)
    return workers if "fork" in multiprocessing.get_all_start_methods() else 1


def prewarm(workers: int | None = None) -> None:
    """Start the figure workers now: they import matplotlib and load its fonts (about a second of CPU time)
    while this process goes on analysing, which leaves the second core idle; the next ``write_figures`` draws
    with them at once. Forked before the analysis, they read its files when asked to draw, as always."""
    global _pool
    workers = _worker_count(workers)
    if _pool is not None or workers < 2:
        return
    _pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"),
                                initializer=_warm_up)
    _pool.submit(int)  # a fork pool starts all its workers at the first task


def discard_prewarm() -> None:
    """Stop workers prewarm() started when no figures follow (the analysis failed)."""
    global _pool
    pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=False, cancel_futures=True)


def _warm_up() -> None:
    """In a new worker: matplotlib, its font cache and the text machinery, loaded by one tiny drawing."""
    plt = pyplot()
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(1, 1), layout="constrained")
        ax.set_title("0.5 CHN USA")
        ax.bar([0, 1], [0.2, 0.4])
        fig.canvas.draw()
        plt.close(fig)


def write_figures(out_dir: OutputDir | Path | str, workers: int | None = None) -> list[FigureResult]:
    """Draw every figure for every survey into out_dir/figures; skipped figures carry the reason.

    Figures are independent, and rendering dozens of panels to PNG and SVG is most of a report's time, so they
    are drawn by up to two forked worker processes (``workers=1``, or WHOSEVALUES_FIGURE_WORKERS=1, draws in
    this process), the dearest first; each worker reads the directory's files once for all its figures.
    """
    global _pool
    out = out_dir if isinstance(out_dir, OutputDir) else OutputDir(out_dir)
    token = f"{os.getpid()}-{time.monotonic_ns()}"  # one reading of the directory per call and worker
    # An absolute path: a worker forked by prewarm() keeps the working directory it was forked in, which a
    # caller may have left since (a relative "out" would then name another directory, or none).
    folder = out.path.resolve()
    tasks = [(folder, survey, index, token) for survey in out.surveys() for index in range(len(FIGURES))]
    workers = _worker_count(workers)
    if workers > 1 and len(tasks) > 1:
        pool, _pool = _pool, None
        pool = pool or ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        with pool:
            order = sorted(range(len(tasks)), key=lambda k: -COST.get(FIGURES[tasks[k][2]], 1))
            futures = {k: pool.submit(_draw, tasks[k]) for k in order}
            results = [futures[k].result() for k in range(len(tasks))]
    else:
        discard_prewarm()  # drawn here: prewarmed workers are not needed
        results = [_draw(task, out) for task in tasks]
    _write_index(out.path, results)
    return results


_directories: dict[tuple[Path, str], OutputDir] = {}  # in a worker: the directory read for the current call


def _draw(task: tuple[Path, str, int, str], out: OutputDir | None = None) -> FigureResult:
    out_path, survey, index, token = task
    if out is None:
        if (out_path, token) not in _directories:
            _directories.clear()
            _directories[(out_path, token)] = OutputDir(out_path)
        out = _directories[(out_path, token)]
    make = FIGURES[index]
    plt = pyplot()
    with plt.rc_context(STYLE):
        try:
            return make(out, survey)
        except Exception as exc:
            plt.close("all")
            name = make.__name__.replace("figure", "fig").replace("fig_", "") + f"_{survey}"
            return _skip(name, "", f"could not be drawn ({type(exc).__name__}: {exc})")


def _write_index(out_dir: Path, results: list[FigureResult]) -> None:
    """figures/figures.json: every figure's name, files, caption and skip reason (read by tests and tools)."""
    import json

    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    index = [{"name": r.name, "paths": [p.name for p in r.paths], "caption": r.caption,
              "skipped_reason": r.skipped_reason} for r in results]
    (out_dir / "figures" / "figures.json").write_text(json.dumps(index, indent=1), encoding="utf-8")


def read_figure_index(out_dir: Path | str) -> list[FigureResult]:
    """The figures ``write_figures`` last wrote into out_dir, without drawing them again."""
    import json

    folder = Path(out_dir) / "figures"
    entries = json.loads((folder / "figures.json").read_text(encoding="utf-8"))
    return [FigureResult(e["name"], [folder / p for p in e["paths"]], e["caption"], e["skipped_reason"])
            for e in entries]
