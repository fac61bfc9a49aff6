"""Wall time and peak memory of the complete analysis (RQ1+RQ2+RQ3, both surveys) at the paper's scale, and the
same work done by the paper's own R pipeline, side by side in one run (issue 16: at least 20x faster than R).

LLM answers: the paper's published files. Humans: the bundled MFQ-2 respondents (517 CHN, 515 USA; byte-identical
to the paper's human_mfq_responses.csv) and, as no WVS microdata may be shipped, 2,808 CHN + 2,357 USA WVS
respondents synthesized from the bundled per-item answer distributions (items drawn independently: right scale,
not real respondents). WVS RQ3 is then 5,165 respondents x 14 models x 20 levels = ~1.4 million rows.

whosevalues is timed twice: as a user meets it (`python -m whosevalues.cli analyze` in a subprocess: imports,
loading, analysis, tables, figures, report.html; MFQ-2 and WVS-7 in one call, the synthesized respondents given
as an official-format WVS-7 file) and in-process (`analyze` alone, as before). Target of the in-process analysis:
< 5 s, < 2 GiB; issue 10's model-level columns (wild cluster bootstrap by model with 9,999 replicates, exact
permutations of origin labels, CR2, the bootstrap over models at 1,999 replicates, RQ3's family adjustments) within
2x of the analysis before them.

The R side (with --r-scripts, a clone of Lkh97/Made_in_China or its Scripts/Analysis folder, and R installed):
each of the authors' nine Rmd scripts (MFQ2: rq1, rq1_followup, rq2, rq3, rq3_with_persona; WVS: rq1, rq2, rq3,
rq3_with_persona), unmodified, is rendered to HTML as the authors did (`Rscript -e 'rmarkdown::render(...)'`, one
fresh R process each; `knitr::purl` then `Rscript` when pandoc is missing), in a temporary directory holding the
input files it reads by name: the paper's published files and the same synthesized WVS respondents written as
semicolon-separated WVS-7 files (human_wvs_china.csv, human_wvs_usa.csv). Chunks are rendered with error=TRUE, so
a chunk that fails (rq1's last figure orders models by a `Release` column that the published llm_info.csv lacks)
is reported and the script goes on, as knitting a notebook chunk by chunk would. The `lsa` package (for
`cosine()`) is not in Debian: when it is not installed, a stand-in providing only
cosine(x, y) = sum(x*y) / sqrt(sum(x^2) * sum(y^2)) is built in a temporary R library, and the output says so.
Nothing is written outside temporary directories.

    python benchmarks/bench_analysis.py [--r-scripts DIR] [--bootstrap 1999] [--no-paper-compatible]

R on Debian: apt-get install --no-install-recommends r-base-core r-cran-tidyverse r-cran-ggpubr r-cran-rmarkdown
r-cran-knitr r-cran-hmisc pandoc (Hmisc for ggplot2's mean_cl_normal).
"""

from __future__ import annotations

import argparse
import os
from html import unescape

# The analysis's matrices are small (cells x terms); multi-threaded BLAS only thrashes on a shared 2-core box.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import whosevalues
from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.humans import load_populations
from whosevalues.humans.population import Population

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
PAPER = SHARED / "made_in_china_paper"
WVS_N = {"CHN": 2808, "USA": 2357}
WVS_ITEMS = [f"Q{number}" for number in range(177, 196)]
ANSWER_FILES = ["llm_mfq_responses.csv", "llm_wvs_responses.csv", "llm_wvs_persona_responses.csv"]
TARGET_RATIO = 20

# The authors' scripts, in the order they must run (mfq_rq1_followup reads mfq_rq1's output), and their inputs.
R_SCRIPTS = {"MFQ2": ["mfq_rq1", "mfq_rq1_followup", "mfq_rq2", "mfq_rq3", "mfq_rq3_with_persona"],
             "WVS": ["wvs_rq1", "wvs_rq2", "wvs_rq3", "wvs_rq3_with_persona"]}
R_INPUTS = {"MFQ2": ["human_mfq_responses.csv", "llm_mfq_responses.csv", "llm_info.csv"],
            "WVS": ["llm_wvs_responses.csv", "llm_wvs_persona_responses.csv", "llm_info.csv"]}
R_PACKAGES = {"tidyverse": "r-cran-tidyverse", "ggpubr": "r-cran-ggpubr", "purrr": "r-cran-purrr",
              "Hmisc": "r-cran-hmisc", "rmarkdown": "r-cran-rmarkdown", "knitr": "r-cran-knitr"}
R_INSTALL = ("apt-get install --no-install-recommends r-base-core r-cran-tidyverse r-cran-ggpubr r-cran-rmarkdown "
             "r-cran-knitr r-cran-hmisc pandoc")
LSA_COSINE = "cosine <- function(x, y) sum(x * y) / sqrt(sum(x^2) * sum(y^2))\n"


def synthetic_wvs7_populations(seed: int = 0) -> list[Population]:
    """WVS-7 respondents drawn item by item from the bundled CHN/USA answer distributions."""
    table = pd.read_csv(SHARED / "wvs7_values_to_country" / "derived_wvs7_chn_usa_q177_q195_distributions.csv")
    rng = np.random.default_rng(seed)
    populations = []
    for country, n in WVS_N.items():
        rows = table[table["B_COUNTRY_ALPHA"] == country]
        columns = {}
        for row in rows.itertuples():
            p = np.array([getattr(row, f"prop_{v}") for v in range(1, 11)])
            columns[row.qid] = rng.choice(np.arange(1, 11), size=n, p=p / p.sum()).astype(float)
        responses = pd.DataFrame(columns, index=[f"{country}-{i + 1}" for i in range(n)])
        populations.append(Population("wvs7", country, "synthesized from bundled WVS-7 distributions",
                                      responses=responses))
    return populations


def wvs7_official_format(populations: list[Population]) -> pd.DataFrame:
    """The synthesized respondents laid out like the official WVS-7 file: B_COUNTRY_ALPHA, D_INTERVIEW, Q254
    (1: all nationals) and Q177..Q195 as integers."""
    numbers = {"CHN": 156, "USA": 840}
    frames = []
    for population in populations:
        answers = population.responses[WVS_ITEMS].astype(int).reset_index(drop=True)
        frame = pd.DataFrame({"B_COUNTRY_ALPHA": population.country,
                              "D_INTERVIEW": numbers[population.country] * 100_000 + answers.index + 1,
                              "Q254": 1}, index=answers.index)
        frames.append(pd.concat([frame, answers], axis=1))
    return pd.concat(frames, ignore_index=True)


def child_times(command: list[str], **kwargs) -> tuple[float, float, subprocess.CompletedProcess]:
    """(wall, CPU of the finished children, the result) of running command, output captured."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), result


def load_line() -> str:
    return "load average %.2f %.2f %.2f (1, 5, 15 min)" % os.getloadavg()


# --- whosevalues ---------------------------------------------------------------------------------------------

def ours_subprocess(wvs_file: Path, args: argparse.Namespace) -> tuple[float, float]:
    """`python -m whosevalues.cli analyze` on both surveys, as a user runs it: (wall, CPU)."""
    with tempfile.TemporaryDirectory(prefix="whosevalues-bench-") as out:
        command = [sys.executable, "-m", "whosevalues.cli", "analyze", "--out", out, "--humans", f"wvs7={wvs_file}",
                   "--bootstrap", str(args.bootstrap)]
        for name in ANSWER_FILES:
            command += ["--llm-responses", str(PAPER / name)]
        if args.paper_compatible:
            command.append("--paper-compatible")
        env = dict(os.environ)  # the whosevalues this script imported, however it was found
        package_root = str(Path(whosevalues.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        wall, cpu, result = child_times(command, env=env)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
        return wall, cpu


def ours_in_process(populations: dict, args: argparse.Namespace) -> tuple[float, float, dict]:
    item_means = load_llm_responses([PAPER / name for name in ANSWER_FILES])
    with tempfile.TemporaryDirectory(prefix="whosevalues-bench-") as out:
        start, cpu_start = time.perf_counter(), time.process_time()
        summary = analyze(item_means, populations, paper_compatible=args.paper_compatible, out_dir=Path(out),
                          bootstrap=args.bootstrap)
        return time.perf_counter() - start, time.process_time() - cpu_start, summary


# --- the paper's R pipeline ----------------------------------------------------------------------------------

def find_r_scripts(directory: Path | None) -> tuple[Path | None, str]:
    """The folder holding MFQ2/ and WVS/ with the nine Rmd scripts, or (None, why it is skipped)."""
    get = ("clone Lkh97/Made_in_China from GitHub and pass --r-scripts CLONE (or CLONE/Scripts/Analysis); "
           "its scripts are not part of whosevalues")
    if directory is None:
        return None, f"no --r-scripts: {get}"
    for candidate in (directory / "Scripts" / "Analysis", directory):
        missing = [f"{survey}/{name}.Rmd" for survey, names in R_SCRIPTS.items() for name in names
                   if not (candidate / survey / f"{name}.Rmd").is_file()]
        if not missing:
            return candidate, ""
    return None, f"{directory} lacks the paper's scripts (e.g. MFQ2/mfq_rq1.Rmd): {get}"


def r_preflight(rscript: str, env: dict) -> dict[str, str]:
    """R's version, pandoc's availability and the missing packages, asked of R once."""
    names = ", ".join(f'"{name}"' for name in [*R_PACKAGES, "lsa"])
    code = ('cat("version=", R.version.string, "\\n", sep=""); '
            'cat("pandoc=", rmarkdown::pandoc_available(), "\\n", sep=""); '
            f'for (p in c({names})) if (!requireNamespace(p, quietly = TRUE)) cat("missing=", p, "\\n", sep="")')
    result = subprocess.run([rscript, "-e", code], capture_output=True, text=True, env=env)
    info: dict[str, str] = {"missing": ""}
    if result.returncode != 0 and "rmarkdown" in result.stderr:
        info["missing"] = "rmarkdown"
    for line in result.stdout.splitlines():
        key, _, value = line.partition("=")
        info[key] = f"{info['missing']} {value}".strip() if key == "missing" else value
    return info


def build_lsa_standin(library: Path, rscript: str, env: dict) -> None:
    """A package `lsa` exporting only cosine(), the textbook definition, installed into ``library``."""
    source = library.parent / "lsa-standin" / "lsa"
    (source / "R").mkdir(parents=True)
    (source / "DESCRIPTION").write_text(
        "Package: lsa\nVersion: 0.0.0.9000\nTitle: Stand-in for lsa::cosine (whosevalues benchmark)\n"
        "Description: Only cosine(x, y) = sum(x*y) / sqrt(sum(x^2) * sum(y^2)).\nLicense: MIT\n"
        "Author: whosevalues\nMaintainer: whosevalues <dev@whosevalues.invalid>\n")
    (source / "NAMESPACE").write_text("export(cosine)\n")
    (source / "R" / "cosine.R").write_text(LSA_COSINE)
    r = str(Path(rscript).with_name("R"))
    result = subprocess.run([r, "CMD", "INSTALL", "--no-docs", "--no-html", f"--library={library}", str(source)],
                            capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit(f"building the lsa stand-in failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")


def write_r_inputs(work: Path, survey: str, wvs_table: pd.DataFrame) -> None:
    work.mkdir(parents=True)
    for name in R_INPUTS[survey]:
        shutil.copyfile(PAPER / name, work / name)
    if survey == "WVS":
        for country, name in (("CHN", "human_wvs_china.csv"), ("USA", "human_wvs_usa.csv")):
            wvs_table[wvs_table["B_COUNTRY_ALPHA"] == country].to_csv(work / name, sep=";", index=False)


def r_command(rscript: str, name: str, pandoc: bool) -> list[str]:
    if pandoc:
        return [rscript, "-e", "f <- rmarkdown::html_document(); f$knitr$opts_chunk$error <- TRUE; "
                               f'invisible(rmarkdown::render("{name}.Rmd", output_format = f, quiet = TRUE, '
                               "envir = new.env()))"]
    return [rscript, f"{name}.R"]


def run_r_side(scripts: Path, rscript: str, wvs_table: pd.DataFrame, root: Path) -> tuple[float, float]:
    """Runs the nine scripts, printing each one's wall and CPU time; returns the total (wall, CPU)."""
    env = dict(os.environ, TZ=os.environ.get("TZ", "UTC"))  # TZ: R asks timedatectl otherwise
    info = r_preflight(rscript, env)
    missing = info.get("missing", "").split()
    if "version" not in info or missing and missing != ["lsa"]:
        packages = " ".join(R_PACKAGES.get(name, name) for name in missing if name != "lsa")
        print(f"R side skipped: R packages missing ({', '.join(missing) or 'R did not start'}); "
              f"install them: apt-get install --no-install-recommends {packages or 'r-base-core'}")
        return 0.0, 0.0
    if "lsa" in missing:
        library = root / "rlib"
        library.mkdir(parents=True)
        build_lsa_standin(library, rscript, env)
        env["R_LIBS"] = os.pathsep.join(filter(None, [str(library), env.get("R_LIBS")]))
        print("R: package lsa is not installed (not in Debian); substituted a stand-in built in a temporary "
              "library, providing only lsa::cosine(x, y) = sum(x*y)/sqrt(sum(x^2)*sum(y^2))")
    pandoc = info.get("pandoc") == "TRUE"
    how = ("rmarkdown::render() to HTML, one Rscript process per script, chunks with error=TRUE" if pandoc else
           "pandoc missing: knitr::purl() (untimed) then Rscript on the extracted code, one process per script")
    print(f"R: {info['version']}; the authors' scripts, unmodified, from {scripts}; {how}")
    total_wall = total_cpu = 0.0
    for survey, names in R_SCRIPTS.items():
        work = root / survey
        write_r_inputs(work, survey, wvs_table)
        for name in names:
            shutil.copyfile(scripts / survey / f"{name}.Rmd", work / f"{name}.Rmd")
            if not pandoc:
                subprocess.run([rscript, "-e", f'knitr::purl("{name}.Rmd", output = "{name}.R", quiet = TRUE)'],
                               cwd=work, capture_output=True, env=env, check=True)
            wall, cpu, result = child_times(r_command(rscript, name, pandoc), cwd=work, env=env)
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            print(f"R {survey}/{name}.Rmd: wall {wall:.1f} s, CPU {cpu:.1f} s{r_outcome(work, name, result)}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024 ** 2
    count = sum(map(len, R_SCRIPTS.values()))
    print(f"R total ({count} scripts): wall {total_wall:.1f} s, CPU {total_cpu:.1f} s; largest R process "
          f"{peak:.2f} GiB; {load_line()}")
    return total_wall, total_cpu


def r_outcome(work: Path, name: str, result: subprocess.CompletedProcess) -> str:
    """'' when the script ran through cleanly; else what failed (a chunk error kept by error=TRUE, or the exit)."""
    if result.returncode != 0:
        last = [line for line in result.stderr.splitlines() if line.strip()][-3:]
        return f"; FAILED (exit {result.returncode}): {' | '.join(last)}"
    html = work / f"{name}.html"
    text = html.read_text(errors="replace") if html.exists() else ""
    errors = [" ".join(line.removeprefix("## ").strip() for line in block.splitlines())
              for block in re.findall(r"## Error.*?(?=</code>)", text, flags=re.S)]
    if errors:
        return f"; {len(errors)} chunk error(s), kept in the HTML: {unescape(errors[0])[:160]}"
    return ""


# --- main ----------------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--r-scripts", type=Path, metavar="DIR",
                        help="a clone of Lkh97/Made_in_China (or its Scripts/Analysis folder): also time the R side")
    parser.add_argument("--bootstrap", type=int, default=1999)
    parser.add_argument("--paper-compatible", action=argparse.BooleanOptionalAction, default=True,
                        help="do what the paper's scripts did (default; the R comparison is only fair with it)")
    args = parser.parse_args(argv)
    if not PAPER.exists():
        print(f"skipped: {PAPER} not found")
        return 0
    scripts, why = find_r_scripts(args.r_scripts)
    rscript = shutil.which("Rscript")
    if scripts is not None and rscript is None:
        scripts, why = None, f"Rscript not found: install R ({R_INSTALL})"
    if scripts is None:
        print(f"R side skipped ({why}); timing whosevalues only")
    print(f"start: {load_line()}; paper-compatible: {args.paper_compatible}")
    wvs = synthetic_wvs7_populations()
    wvs_table = wvs7_official_format(wvs)
    with tempfile.TemporaryDirectory(prefix="whosevalues-bench-") as temp:
        root = Path(temp)
        wvs_file = root / "wvs7_synthesized.csv"
        wvs_table.to_csv(wvs_file, sep=";", index=False)
        runs = []  # (wall, CPU) of each `whosevalues analyze`
        wall, cpu = ours_subprocess(wvs_file, args)
        runs.append((wall, cpu))
        print(f"whosevalues analyze (subprocess, both surveys, report included): wall {wall:.1f} s, CPU {cpu:.1f} s; "
              f"{load_line()}")
        r_wall, r_cpu = run_r_side(scripts, rscript, wvs_table, root / "r") if scripts else (0.0, 0.0)
        if r_wall:
            wall, cpu = ours_subprocess(wvs_file, args)
            runs.append((wall, cpu))
            print(f"whosevalues analyze again after R: wall {wall:.1f} s, CPU {cpu:.1f} s; {load_line()}")
    populations = {"mfq2": load_populations("mfq2"), "wvs7": wvs}
    elapsed, in_process_cpu, summary = ours_in_process(populations, args)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB -> GiB on Linux
    for survey, result in summary["surveys"].items():
        rows = {name: a.get("rows", a.get("skipped")) for name, a in result["analyses"].items()}
        print(f"{survey}: rows {rows}")
        permutations = {name: a["model_inference"]["permutation"] for name, a in result["analyses"].items()
                        if "model_inference" in a}
        print(f"{survey}: origin-label permutations {permutations}")
    inference = summary["inference"]
    print(f"model-level columns on every RQ table: wild cluster bootstrap {inference['wild_bootstrap_replicates']} "
          f"replicates, bootstrap over models {inference['bootstrap_replicates']}, CR2; RQ3 families adjusted")
    print(f"analysis wall time (in-process): {elapsed:.2f} s (target < 5 s), CPU time {in_process_cpu:.2f} s; "
          f"peak memory (process): {peak:.2f} GiB (target < 2 GiB); bootstrap replicates: {args.bootstrap}")
    if r_wall:
        slowest, most_cpu = max(wall for wall, _ in runs), max(cpu for _, cpu in runs)
        verdict = "met" if r_wall / slowest >= TARGET_RATIO else "NOT met"
        print(f"R / whosevalues, wall: {r_wall / slowest:.1f}x (R {r_wall:.1f} s / whosevalues analyze "
              f"{slowest:.1f} s, the slower of its runs; target {TARGET_RATIO}x: {verdict}), "
              f"{r_wall / elapsed:.1f}x against the in-process analysis ({elapsed:.2f} s)")
        print(f"R / whosevalues, CPU (steadier than wall on a shared machine): {r_cpu / most_cpu:.1f}x "
              f"(R {r_cpu:.1f} s / whosevalues analyze {most_cpu:.1f} s), "
              f"{r_cpu / in_process_cpu:.1f}x against the in-process analysis ({in_process_cpu:.2f} s)")
    print(f"end: {load_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
