"""A figure is drawn again only when what it shows changed: its data, or the code and labels that draw it."""

from __future__ import annotations

import shutil

import pandas as pd
import pytest

from test_report_fixtures import needs_shared
from whosevalues.report.figures import read_figure_index, write_figures
from whosevalues.report.figures.common import inputs_hash

pytestmark = needs_shared


@pytest.fixture(scope="module")
def drawn(two_model_mfq2_report):
    """Two of the paper's models on MFQ-2, analysed and reported (shared, read only: conftest.py); each test
    works on a copy."""
    return two_model_mfq2_report


def _stamps(out) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in (out / "figures").glob("*.png")}


def test_a_rerun_that_changes_nothing_draws_nothing(drawn, tmp_path):
    out = shutil.copytree(drawn, tmp_path / "copy", copy_function=shutil.copy2)
    before = _stamps(out)
    assert before
    results = write_figures(out, workers=1)
    assert _stamps(out) == before
    assert [r.name for r in results] == [r.name for r in read_figure_index(drawn)]
    assert all(r.skipped_reason or len(r.paths) == 2 for r in results)


def test_changed_answers_redraw_only_the_figures_that_show_them(drawn, tmp_path):
    out = shutil.copytree(drawn, tmp_path / "changed", copy_function=shutil.copy2)
    before = _stamps(out)
    means = pd.read_csv(out / "item_means.csv", dtype={"item": str})
    # reverse one model's persona-none answers: Figure 2 plots item means; the similarity files (Figures 1,
    # 3-5) and the validity counts are not recomputed here, so those figures must not be drawn again
    flip = (means["model"] == "gpt-4o") & (means["persona"] == "none")
    means.loc[flip, "mean"] = 6 - means.loc[flip, "mean"]
    means.to_csv(out / "item_means.csv", index=False)
    write_figures(out, workers=1)
    after = _stamps(out)
    assert {name for name in before if after[name] != before[name]} == {"fig2_mfq2.png"}


def test_the_hash_covers_data_and_survey_labels():
    data = pd.DataFrame({"a": [1.0, 2.0]})
    assert inputs_hash("fig1_mfq2", data, "mfq2") == inputs_hash("fig1_mfq2", data.copy(), "mfq2")
    assert inputs_hash("fig1_mfq2", data, "mfq2") != inputs_hash("fig1_mfq2", data + 1e-9, "mfq2")
    assert inputs_hash("fig1_mfq2", data, "mfq2") != inputs_hash("fig1_mfq2", data, "wvs7")


def test_the_report_is_rewritten_only_when_an_analysis_file_changed(drawn, tmp_path):
    from whosevalues.report.write import write_report

    out = shutil.copytree(drawn, tmp_path / "report", copy_function=shutil.copy2)
    for name in ("report.html", "report.inputs"):  # start from the figures alone, as before a first report
        (out / name).unlink()
    report = write_report(out)
    written = report.stat().st_mtime_ns
    assert write_report(out) == report and report.stat().st_mtime_ns == written  # nothing changed
    (out / "whosevalues.sqlite").write_bytes(b"SQLite format 3\0 a store kept here is not an input")
    assert write_report(out) == report and report.stat().st_mtime_ns == written
    exclusions = pd.read_csv(out / "exclusions.csv")
    row = {"survey": "mfq2", "analysis": "rq1", "model": "gpt-4o", "language": "en", "persona": "none",
           "reason": "a reason the analysis recorded"}
    pd.concat([exclusions, pd.DataFrame([row])]).to_csv(out / "exclusions.csv", index=False)
    write_report(out)
    assert report.stat().st_mtime_ns != written
    assert "a reason the analysis recorded" in report.read_text(encoding="utf-8")


def test_the_terminal_summary_is_saved_and_reprinted_only_while_the_files_are_the_same(drawn, tmp_path, monkeypatch):
    import io

    from rich.console import Console

    from whosevalues.report import reuse, terminal

    out = shutil.copytree(drawn, tmp_path / "summary", copy_function=shutil.copy2)
    (out / reuse.SUMMARY_CACHE).unlink(missing_ok=True)

    def printed() -> str:
        buffer = io.StringIO()
        terminal.print_summary(out, Console(file=buffer, width=160))
        return buffer.getvalue()

    first = printed()
    assert "mean cosine similarity" in first and (out / reuse.SUMMARY_CACHE).is_file()
    computed = terminal._computed_summary
    monkeypatch.setattr(terminal, "_computed_summary", lambda out: pytest.fail("computed again"))
    assert printed() == first  # the saved summary, printed as it was computed
    means = pd.read_csv(out / "model_means_mfq2.csv")
    means.to_csv(out / "model_means_mfq2.csv", index=False, float_format="%.3f")  # an analysis file changed
    calls = []
    monkeypatch.setattr(terminal, "_computed_summary", lambda out: calls.append(1) or computed(out))
    printed()
    assert calls == [1]  # never the summary of other files


@pytest.mark.slow
def test_prewarmed_workers_draw_a_relative_directory_after_a_chdir(drawn, tmp_path, monkeypatch):
    """Workers forked by prewarm() keep the working directory of the moment: the figures of a relative "out"
    named after a chdir must still be found (CI once failed on the README's example this way)."""
    from whosevalues.report.figures.render import prewarm

    shutil.copytree(drawn, tmp_path / "out", copy_function=shutil.copy2)
    shutil.rmtree(tmp_path / "out" / "figures")
    prewarm(workers=2)  # forked here, in the test runner's working directory
    monkeypatch.chdir(tmp_path)
    results = write_figures("out", workers=2)
    assert not [r for r in results if r.skipped_reason and "could not be drawn" in r.skipped_reason]
    assert (tmp_path / "out" / "figures" / "fig2_mfq2.png").is_file()
