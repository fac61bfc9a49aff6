"""``write_report(out_dir)``: the figures, the formatted tables and report.html of an analysis output directory,
or nothing when they are current (report/reuse.py). Light to import: a rerun whose report is current loads
neither the page's modules (report/html.py) nor matplotlib.
"""

from __future__ import annotations

from pathlib import Path

from whosevalues.report import reuse
from whosevalues.report.outdir import OutputDir


def write_report(out_dir: Path | str) -> Path:
    """Draw the figures, write the tables, and write out_dir/report.html; returns its path. Nothing is
    redone when the directory's analysis files and the report's code are those of the last report."""
    out = OutputDir(out_dir)
    path = out.path / "report.html"
    fingerprint = reuse.directory_fingerprint(out.path, out.surveys())
    if reuse.report_is_current(out.path, fingerprint):
        return path
    from whosevalues.outfiles import atomic_write
    from whosevalues.report.figures import write_figures
    from whosevalues.report.html import render_report
    from whosevalues.report.tables import write_tables

    figures = write_figures(out)
    write_tables(out)
    page = render_report(out, figures)
    atomic_write(path, page)  # never leave a half-written report behind
    reuse.record(out.path, fingerprint)
    return path
