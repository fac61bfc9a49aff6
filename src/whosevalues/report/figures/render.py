"""Draw every figure of every survey (in worker processes), and the figures/figures.json index."""

from __future__ import annotations

import multiprocessing
import os
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


def write_figures(out_dir: OutputDir | Path | str, workers: int | None = None) -> list[FigureResult]:
    """Draw every figure for every survey into out_dir/figures; skipped figures carry the reason.

    Figures are independent, and rendering dozens of panels to PNG and SVG is most of a report's time, so they
    are drawn by up to two forked worker processes (``workers=1``, or WHOSEVALUES_FIGURE_WORKERS=1, draws in
    this process).
    """
    out = out_dir if isinstance(out_dir, OutputDir) else OutputDir(out_dir)
    tasks = [(out.path, survey, index) for survey in out.surveys() for index in range(len(FIGURES))]
    workers = workers or int(os.environ.get("WHOSEVALUES_FIGURE_WORKERS", 0)) or min(2, os.cpu_count() or 1)
    if workers > 1 and len(tasks) > 1 and "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            results = list(pool.map(_draw, tasks))
    else:
        results = [_draw(task, out) for task in tasks]
    _write_index(out.path, results)
    return results


def _draw(task: tuple[Path, str, int], out: OutputDir | None = None) -> FigureResult:
    out_path, survey, index = task
    make = FIGURES[index]
    plt = pyplot()
    with plt.rc_context(STYLE):
        try:
            return make(out or OutputDir(out_path), survey)
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
