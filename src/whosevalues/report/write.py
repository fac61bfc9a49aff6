"""``write_report(out_dir)``: the figures, the formatted tables and report.html of an analysis output directory,
or nothing when they are current (report/reuse.py). Light to import: a rerun whose report is current loads
neither the page's modules (report/html.py) nor matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from whosevalues.report import reuse
from whosevalues.report.outdir import OutputDir

if TYPE_CHECKING:
    from rich.console import Console


def write_report(out_dir: Path | str, *, files: str | None = None, summary_to: Console | None = None) -> Path:
    """Draw the figures, write the tables, and write out_dir/report.html; returns its path. Nothing is
    redone when the directory's analysis files and the report's code are those of the last report.

    ``files``: the analysis files' digest (``reuse.files_digest``) when the caller has it (the analysis's
    stamp), so a rerun reads them once; ``summary_to``: print the terminal summary there too, on the same
    fingerprint (report/terminal.py)."""
    out = OutputDir(out_dir)
    path = out.path / "report.html"
    fingerprint = reuse.directory_fingerprint(out.path, out.surveys(), files)
    if not reuse.report_is_current(out.path, fingerprint):
        _write_page(out, path, fingerprint)
    if summary_to is not None:
        from whosevalues.report.terminal import print_summary

        print_summary(out, summary_to, fingerprint=fingerprint)
    return path


def _write_page(out: OutputDir, path: Path, fingerprint: str) -> None:
    from whosevalues.outfiles import atomic_write
    from whosevalues.report.figures import write_figures
    from whosevalues.report.html import render_report
    from whosevalues.report.tables import write_tables

    figures = write_figures(out)
    write_tables(out)
    page = render_report(out, figures)
    atomic_write(path, page)  # never leave a half-written report behind
    reuse.record(out.path, fingerprint)
