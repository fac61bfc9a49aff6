"""Skipping an analysis whose inputs did not change (``whosevalues run`` on a complete store, ``analyze`` on the
same answers): its files are already in the output directory, byte for byte what it would write again.

``analysis.inputs`` (in the output directory) holds two hashes, written after a complete analysis:

- ``inputs``: the item means, the populations (every respondent, distribution and mean, and their audits), the
  options (paper-compatible, replicates, seed, minimum valid samples, which populations go where), the files of
  the output directory the analysis reads besides its own (``item_distributions.csv``, ``run_notes.json``),
  the analysis code (every module of the package but the report's, the surveys' files) and the versions of
  numpy, pandas and pyarrow;
- ``outputs``: every file the analysis wrote (report/reuse.py's ``files_digest``: all but the report's own
  outputs and a store), so a file deleted or edited since means the analysis runs again. The report and the
  terminal summary are handed this digest rather than reading the files again.

When both match, ``summary.json`` stands for the analysis's return value, and the caller prints from it what
the analysis would have printed (its warnings depend on nothing else).
"""

from __future__ import annotations

import hashlib
import json
import pickle
from functools import lru_cache
from pathlib import Path

import pandas as pd

from whosevalues.report.reuse import files_digest, hash_files

STAMP = "analysis.inputs"
READ_FROM_OUT_DIR = ("item_distributions.csv", "run_notes.json")  # what the analysis reads there, besides its own


@lru_cache(maxsize=1)
def _code_fingerprint() -> str:
    from importlib.metadata import PackageNotFoundError, version

    import whosevalues

    root = Path(whosevalues.__file__).parent
    digest = hashlib.sha256()
    for package in ("numpy", "pandas", "pyarrow"):
        try:
            digest.update(f"{package} {version(package)}\0".encode())
        except PackageNotFoundError:  # pragma: no cover
            digest.update(f"{package} missing\0".encode())
    files = sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                   and p.suffix not in (".pyc", ".gguf", ".bin") and p.relative_to(root).parts[0] != "report")
    hash_files(digest, root, files)
    return digest.hexdigest()


def _update_frame(digest, frame: pd.DataFrame | pd.Series | None) -> None:
    if frame is None:
        digest.update(b"none\0")
        return
    if isinstance(frame, pd.DataFrame):
        digest.update(repr((list(map(str, frame.columns)), list(map(str, frame.dtypes)), frame.shape)).encode())
    else:
        digest.update(repr((str(frame.name), str(frame.dtype), frame.shape)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=True).to_numpy().tobytes())
    digest.update(pickle.dumps(list(map(str, frame.index))))


def _update_populations(digest, populations: dict[str, list]) -> None:
    for survey in sorted(populations):
        for population in populations[survey]:
            digest.update(repr((survey, population.survey, population.country, population.source,
                                population.steps)).encode())
            digest.update(json.dumps(population.audit, sort_keys=True, default=repr).encode())
            for frame in (population.responses, population.distributions, population.means,
                          population.dimension_means):
                _update_frame(digest, frame)


def inputs_hash(item_means: pd.DataFrame, populations: dict[str, list], country_populations: dict[str, list],
                options: dict, out_dir: Path) -> str:
    digest = hashlib.sha256(_code_fingerprint().encode())
    digest.update(json.dumps(options, sort_keys=True, default=repr).encode())
    _update_frame(digest, item_means)
    _update_populations(digest, populations)
    digest.update(b"\0countries\0")
    _update_populations(digest, country_populations)
    for name in READ_FROM_OUT_DIR:
        file = out_dir / name
        digest.update(name.encode() + (b"\0" + file.read_bytes() if file.is_file() else b"\0absent"))
    return digest.hexdigest()


def reusable_summary(out_dir: Path, inputs: str) -> tuple[dict, str] | None:
    """summary.json when the last complete analysis in ``out_dir`` had these inputs and its files are intact,
    with the files' digest (report/reuse.py's ``files_digest``: the report and the summary reuse it)."""
    stamp, summary = out_dir / STAMP, out_dir / "summary.json"
    if not (stamp.is_file() and summary.is_file()):
        return None
    try:
        recorded = json.loads(stamp.read_text(encoding="utf-8"))
        if recorded.get("inputs") != inputs:
            return None
        outputs = files_digest(out_dir)
        if recorded.get("outputs") != outputs:
            return None
        return json.loads(summary.read_text(encoding="utf-8")), outputs
    except (OSError, ValueError):
        return None


def forget(out_dir: Path) -> None:
    """Before an analysis starts: a run stopped half-way must not leave a stamp that vouches for its files."""
    (out_dir / STAMP).unlink(missing_ok=True)


def record(out_dir: Path, inputs: str) -> str:
    """After a complete analysis: the stamp; returns the files' digest it vouches for."""
    from whosevalues.outfiles import atomic_write

    outputs = files_digest(out_dir)
    atomic_write(out_dir / STAMP, json.dumps({"inputs": inputs, "outputs": outputs}, indent=1))
    return outputs
