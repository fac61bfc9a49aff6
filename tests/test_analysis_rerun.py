"""A rerun that changes nothing reuses the analysis's files (analysis/rerun.py); any change analyses again."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from rich.console import Console

from shared_paths import PAPER
from test_report_fixtures import needs_shared

pytestmark = needs_shared

MODELS = ["gpt-4o", "deepseek-chat", "claude-3-5-sonnet-20241022", "qwen2.5-72b-instruct", "glm-4-plus", "gpt-4.1"]


@pytest.fixture
def calls(monkeypatch):
    """Each call of the analysis proper; the report (tested elsewhere) is not written."""
    from whosevalues.analysis import pipeline
    from whosevalues.report import write

    made = []
    real = pipeline.analyze

    def counted(*args, **kwargs):
        made.append(kwargs.get("bootstrap"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pipeline, "analyze", counted)
    monkeypatch.setattr(write, "write_report", lambda out_dir, **kwargs: None)
    return made


def _means() -> pd.DataFrame:
    from whosevalues.analysis.llm_responses import load_llm_responses

    means = load_llm_responses([PAPER / "llm_mfq_responses.csv"])
    return means[means["model"].isin(MODELS)].reset_index(drop=True)


def _analyze(means, out, **options) -> tuple[dict, str]:
    from whosevalues.analysis.study_analysis import analyze

    console = Console(record=True, width=120, file=open("/dev/null", "w"))
    summary = analyze(means, out, countries=["CHN", "USA"], bootstrap=options.pop("bootstrap", 0),
                      console=console, **options)
    return summary, console.export_text()


def _files(out) -> dict[str, bytes]:
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.name != "analysis.inputs"}


def test_a_rerun_that_changes_nothing_reuses_the_files_and_says_the_same(calls, tmp_path):
    means = _means()
    first, printed = _analyze(means, tmp_path)
    files = _files(tmp_path)
    assert calls == [0] and (tmp_path / "analysis.inputs").is_file()
    again, printed_again = _analyze(means.copy(), tmp_path)
    assert calls == [0]  # not analysed again
    assert printed_again == printed  # the same warnings and notes
    assert again == json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert again["surveys"].keys() == first["surveys"].keys()
    assert _files(tmp_path) == files


def test_any_change_analyses_again(calls, tmp_path):
    means = _means()
    _analyze(means, tmp_path)
    _analyze(means, tmp_path, bootstrap=5)  # an option
    assert calls == [0, 5]
    changed = means.copy()
    changed.loc[0, "mean"] += 0.25  # an answer
    _analyze(changed, tmp_path, bootstrap=5)
    assert len(calls) == 3
    table = tmp_path / "tables" / "rq1_mfq2.csv"  # an output edited or deleted since
    written = table.read_bytes()
    table.write_text("edited\n")
    _analyze(changed, tmp_path, bootstrap=5)
    assert len(calls) == 4 and table.read_bytes() == written
    (tmp_path / "reliability_mfq2.csv").unlink()
    _analyze(changed, tmp_path, bootstrap=5)
    assert len(calls) == 5 and (tmp_path / "reliability_mfq2.csv").is_file()
    (tmp_path / "run_notes.json").write_text(json.dumps({"models": {"gpt-4o": {"temperature": 0.3}}}))
    _analyze(changed, tmp_path, bootstrap=5)  # a file the analysis reads beside the answers
    assert len(calls) == 6
    _analyze(changed, tmp_path, bootstrap=5, paper_compatible=True)  # other populations (Participant labels)
    assert len(calls) == 7
    _analyze(changed, tmp_path, bootstrap=5, paper_compatible=True)
    assert len(calls) == 7


def test_an_interrupted_analysis_leaves_no_stamp(calls, tmp_path, monkeypatch):
    from whosevalues.analysis import pipeline

    means = _means()
    _analyze(means, tmp_path)

    def fails(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "analyze", fails)
    with pytest.raises(KeyboardInterrupt):
        _analyze(means, tmp_path, bootstrap=3)
    assert not (tmp_path / "analysis.inputs").exists()


RERUN = """
import sys
import pandas as pd
from rich.console import Console
from whosevalues import analyze
from whosevalues.report import reuse

passes = []  # each pass over the analysis files (hashing them)
real = reuse.analysis_files
reuse.analysis_files = lambda out_dir: passes.append(out_dir) or real(out_dir)
quiet = Console(file=open("/dev/null", "w"))
analyze(pd.read_pickle(sys.argv[1]), sys.argv[2], countries=["CHN", "USA"], bootstrap=0, write_means=False,
        console=quiet, summary_to=Console(width=160))
heavy = {"whosevalues.analysis.pipeline", "matplotlib", "whosevalues.analysis.ols", "jinja2", "scipy",
         "whosevalues.report.html"}
print(sorted(m for m in sys.modules if m in heavy), len(passes))
"""


@pytest.mark.slow  # starts a Python process, and writes a report first
def test_a_rerun_imports_neither_the_analysis_nor_matplotlib(tmp_path):
    """A rerun that changes nothing analyses, draws and renders nothing, so it loads none of the analysis,
    scipy, matplotlib, jinja2 or the report's page: they are most of a fresh analysis's start-up, and a rerun
    has 3 s in all (issue 16). It reads the analysis files once: the analysis's stamp hands their digest to the
    report and the summary (a large study's similarity files are hundreds of megabytes)."""
    import io
    import subprocess
    import sys

    from whosevalues.analysis.study_analysis import analyze

    means = _means()
    first = io.StringIO()
    analyze(means, tmp_path, countries=["CHN", "USA"], bootstrap=0, console=Console(file=open("/dev/null", "w")),
            summary_to=Console(file=first, width=160))
    means.to_pickle(tmp_path.parent / "means.pkl")  # exactly these means again (the inputs' hash sees dtypes)
    ran = subprocess.run([sys.executable, "-c", RERUN, str(tmp_path.parent / "means.pkl"), str(tmp_path)],
                         capture_output=True, text=True, check=True).stdout
    summary, last = ran.rsplit("\n", 2)[0], ran.strip().splitlines()[-1]
    assert last == "[] 1"  # nothing heavy loaded; one pass over the files
    assert "mean cosine similarity" in first.getvalue() and summary + "\n" == first.getvalue()
