"""Skipping report work whose inputs did not change.

A rerun that changes nothing (``whosevalues run`` on a complete store, ``analyze`` on the same answers)
rewrites the analysis files byte for byte, so the report can tell from their content alone that it is
current. Two levels:

- the whole report: ``report.inputs`` holds a hash of every analysis file in the directory (everything but
  the report's own outputs and a store kept there: so robustness_<survey>.csv, the null respondents of
  baselines_<survey>.csv, countries_<survey>.csv and tables/conclusions.csv count as they change), of the
  code that draws and writes the report, of the
  surveys' texts and of the model catalog; when it matches, figures, tables and report.html are kept as they are;
- each figure (figures/common.py): ``figures/<name>.inputs`` holds a hash of the data it plots, so a change
  that touches one figure redraws only that one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from functools import lru_cache
from pathlib import Path

STAMP = "report.inputs"
SUMMARY_CACHE = "report.summary.json"  # the terminal summary's content (report/terminal.py), with its fingerprint
# The report's own outputs, and a whosevalues store kept in the output directory (the report never reads it).
OUTPUT_DIRS = {"figures"}
OUTPUT_FILES = {"report.html", "report.html.tmp", STAMP, SUMMARY_CACHE, f"{SUMMARY_CACHE}.tmp",
                "analysis.inputs"}  # the last: analysis/rerun.py
OUTPUT_SUFFIXES = {".md", ".tex"}  # under tables/: formatted by the report from the analysis's CSVs
STORE_SUFFIXES = (".sqlite", ".sqlite3", ".db", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal", ".db-wal",
                  ".db-shm", ".db-journal", ".lock")


@lru_cache(maxsize=1)
def code_fingerprint() -> str:
    """What the report's content depends on besides the directory: the report package's code and templates,
    the bundled surveys (labels, prompts, variants), the model catalog (names, companies, which model is the
    embedded one), the data provenance files, the run notes' wording of answer modes, and the versions of
    whosevalues and matplotlib."""
    from importlib.metadata import PackageNotFoundError, version

    import whosevalues

    try:  # the installed version, without importing matplotlib (half a second) when no figure is drawn
        matplotlib_version = version("matplotlib")
    except PackageNotFoundError:  # pragma: no cover
        matplotlib_version = "unknown"

    root = Path(whosevalues.__file__).parent
    files = sorted([*(root / "report").rglob("*.py"), *(root / "report").rglob("*.j2"),
                    *(root / "instruments").rglob("*"), *(root / "data").rglob("PROVENANCE.md"),
                    root / "models" / "catalog.toml",
                    root / "elicit" / "run_notes.py"])  # its qualified_mode_reason words the report's modes
    digest = hashlib.sha256(f"{matplotlib_version}\0{_version()}".encode())
    hash_files(digest, root, (file for file in files if file.is_file() and "__pycache__" not in file.parts))
    return digest.hexdigest()


def hash_files(digest, root: Path, files: Iterable[Path]) -> None:
    """Feed ``digest`` each file's path relative to ``root``, a NUL and its bytes (read in blocks: the
    similarity files of a large study are hundreds of megabytes). The code and directory fingerprints here and
    the analysis's (analysis/rerun.py) are all made this way."""
    for file in files:
        digest.update(file.relative_to(root).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)


def analysis_files(out_dir: Path) -> Iterator[Path]:
    """The analysis's files under ``out_dir`` in path order: everything but the report's outputs, the stamps
    and a store kept there."""
    return (file for file in sorted(out_dir.rglob("*")) if file.is_file() and _is_input(file.relative_to(out_dir)))


def _version() -> str:
    try:
        from whosevalues.version import __version__
    except ImportError:  # pragma: no cover
        return "dev"
    return __version__


def _is_input(relative: Path) -> bool:
    if relative.parts[0] in OUTPUT_DIRS or relative.name in OUTPUT_FILES:
        return False
    if relative.parts[0] == "tables" and relative.suffix in OUTPUT_SUFFIXES:
        return False
    return not relative.name.endswith(STORE_SUFFIXES)


def files_digest(out_dir: Path) -> str:
    """A hash of every analysis file under out_dir, path and bytes: the one pass over the directory's files that
    a rerun makes. The analysis's stamp (analysis/rerun.py) records it and hands it on to the report and the
    summary (``write_report(files=...)``), which add the code and the surveys to it; they take it as given,
    since they write none of these files."""
    digest = hashlib.sha256()
    hash_files(digest, out_dir, analysis_files(out_dir))
    return digest.hexdigest()


def directory_fingerprint(out_dir: Path, surveys: list[str], files: str | None = None) -> str:
    """A hash of the analysis files under out_dir (``files``: their ``files_digest``, computed here when not
    given), the code fingerprint, and the texts of the surveys the directory holds (a study's own survey file
    can change its prompts)."""
    from whosevalues.instruments import load_instrument

    digest = hashlib.sha256(code_fingerprint().encode())
    digest.update((files or files_digest(out_dir)).encode())
    for survey in surveys:
        try:
            digest.update(repr(load_instrument(survey)).encode())
        except Exception:
            digest.update(f"unknown survey {survey}".encode())
    return digest.hexdigest()


def report_is_current(out_dir: Path, fingerprint: str) -> bool:
    """True when report.html and the figures were written from exactly these inputs."""
    stamp = out_dir / STAMP
    return (stamp.is_file() and (out_dir / "report.html").is_file()
            and (out_dir / "figures" / "figures.json").is_file()
            and stamp.read_text(encoding="utf-8").strip() == fingerprint)


def record(out_dir: Path, fingerprint: str) -> None:
    (out_dir / STAMP).write_text(fingerprint + "\n", encoding="utf-8")
