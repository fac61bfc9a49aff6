"""Wall and CPU time of `whosevalues analyze` for one survey at the paper's scale, figures and report included,
on a fresh output directory and again on the same directory (nothing changed: every figure is reused); with
--default-study, also a rerun of the default study (`whosevalues run` with no options) that changes nothing.

Surveys: MFQ-2 from the paper's published answers and the bundled respondents (1,030); WVS-7 from the paper's
published answers (none and persona files) and an official-format file of the paper's size (2,808 CHN, 2,357
USA respondents) synthesized from the bundled distributions, since no WVS microdata may be shipped.
Then where the time goes, in one process: imports, analysis, figures (cold, then reused), tables, HTML.

Targets on this 2-core machine: under 2 s per survey (aim), a rerun of the default study under 10 s.

    python benchmarks/bench_report.py [--repeat 2] [--default-study]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT.parent / "shared" / "data" / "made_in_china_paper"
ANSWERS = {"mfq2": ["llm_mfq_responses.csv"], "wvs7": ["llm_wvs_responses.csv", "llm_wvs_persona_responses.csv"]}


def timed(command: list[str], cwd: Path | None = None) -> tuple[float, float]:
    """(wall, CPU of the child) for one command; exits with its stderr if it fails."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if result.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def analyze_command(survey: str, out: Path, wvs_file: Path | None) -> list[str]:
    command = [sys.executable, "-m", "whosevalues.cli", "analyze", "--out", str(out)]
    for name in ANSWERS[survey]:
        command += ["--llm-responses", str(PAPER / name)]
    if survey == "wvs7" and wvs_file is not None:
        command += ["--humans", f"wvs7={wvs_file}"]
    return command


def paper_size_wvs(directory: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from wvs_fixtures import paper_size_wvs_file

    return paper_size_wvs_file(directory).path


def stages(survey: str, out: Path, wvs_file: Path | None) -> dict[str, float]:
    """Seconds per stage of analyze + report in this process (imports are this process's first)."""
    times, start = {}, time.perf_counter()
    from whosevalues.analysis import analyze, load_llm_responses
    from whosevalues.humans import load_populations
    from whosevalues.report.figures import write_figures
    from whosevalues.report.html import render_report
    from whosevalues.report.outdir import OutputDir
    from whosevalues.report.tables import write_tables

    times["imports"] = time.perf_counter() - start
    start = time.perf_counter()
    means = load_llm_responses([PAPER / name for name in ANSWERS[survey]])
    source = str(wvs_file) if survey == "wvs7" and wvs_file else "bundled"
    populations = {survey: load_populations(survey, source)}
    out.mkdir(parents=True, exist_ok=True)
    means.to_csv(out / "item_means.csv", index=False)
    times["loading"] = time.perf_counter() - start
    start = time.perf_counter()
    analyze(means, populations, out_dir=out)
    times["analysis"] = time.perf_counter() - start
    for label in ("figures (drawn)", "figures (reused)"):
        start = time.perf_counter()
        figures = write_figures(out)
        times[label] = time.perf_counter() - start
    start = time.perf_counter()
    directory = OutputDir(out)
    write_tables(directory)
    times["tables"] = time.perf_counter() - start
    start = time.perf_counter()
    render_report(directory, figures)
    times["HTML"] = time.perf_counter() - start
    return times


def default_study(tmp: Path, repeat: int) -> None:
    workdir = tmp / "default"
    workdir.mkdir()
    command = [sys.executable, "-m", "whosevalues.cli", "run"]
    wall, cpu = timed(command, cwd=workdir)
    print(f"default study, first run: {wall:6.1f} s wall, {cpu:5.1f} s CPU")
    for k in range(repeat):
        wall, cpu = timed(command, cwd=workdir)
        print(f"default study, rerun {k + 1}:  {wall:6.1f} s wall, {cpu:5.1f} s CPU   [target < 10 s]")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="reruns on the same directory")
    parser.add_argument("--default-study", action="store_true",
                        help="also run the default study (about 90 s of model work), then rerun it")
    args = parser.parse_args(argv)
    if not PAPER.is_dir():
        print(f"skipped: {PAPER} not found")
        return 0
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        wvs_file = paper_size_wvs(tmp)
        for survey in ANSWERS:
            out = tmp / survey
            wall, cpu = timed(analyze_command(survey, out, wvs_file))
            print(f"{survey}: analyze, fresh directory: {wall:5.2f} s wall, {cpu:5.2f} s CPU   [aim < 2 s]")
            for k in range(args.repeat):
                wall, cpu = timed(analyze_command(survey, out, wvs_file))
                print(f"{survey}: analyze, rerun {k + 1}:        {wall:5.2f} s wall, {cpu:5.2f} s CPU")
            shutil.rmtree(out)
        for survey in ANSWERS:
            times = stages(survey, tmp / f"{survey}-stages", wvs_file)
            print(f"{survey} stages: " + ", ".join(f"{label} {seconds:.2f} s" for label, seconds in times.items()))
        if args.default_study:
            default_study(tmp, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
