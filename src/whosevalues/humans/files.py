"""Reading human data files (CSV with ';' or ',', Parquet, SPSS .sav, Stata .dta, or a .zip holding one of
them), only the columns needed: the official WVS-7 file has hundreds of columns and ~100,000 rows."""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from whosevalues.humans.population import PopulationError

CSV_SUFFIXES = {".csv", ".txt", ".tsv", ".dat"}
SUFFIXES = CSV_SUFFIXES | {".parquet", ".pq", ".sav", ".zsav", ".dta"}

# Chooses the columns to read from the file's column names; may raise PopulationError (wrong columns).
ColumnChooser = Callable[[list[str]], list[str]]


def _pyreadstat():
    try:
        import pyreadstat
    except ImportError:  # pragma: no cover - pyreadstat is in the test extras
        raise PopulationError("reading SPSS/Stata files needs pyreadstat: pip install 'whosevalues[wvs]' "
                              "(or export the file as CSV)") from None
    return pyreadstat


def _csv_separator(path: Path) -> str:
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        header = handle.readline()
    counts = {sep: header.count(sep) for sep in (";", ",", "\t")}
    return max(counts, key=lambda sep: counts[sep])


def csv_columns(path: Path) -> tuple[list[str], str]:
    sep = _csv_separator(path)
    columns = pd.read_csv(path, sep=sep, nrows=0, encoding_errors="replace").columns
    return [str(column) for column in columns], sep


def column_names(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return csv_columns(path)[0]
    if suffix in {".parquet", ".pq"}:
        import pyarrow.parquet as pq
        return list(pq.read_schema(path).names)
    if suffix in {".sav", ".zsav"}:
        return list(_pyreadstat().read_sav(str(path), metadataonly=True)[1].column_names)
    if suffix == ".dta":
        return list(_pyreadstat().read_dta(str(path), metadataonly=True)[1].column_names)
    raise PopulationError(f"{path}: unknown file type {suffix!r}; "
                          "give a .csv (';' or ','), .parquet, .sav or .dta file")


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        sep = csv_columns(path)[1]
        # Columns with any text stay text: the loaders check the types and say which column is wrong.
        return pd.read_csv(path, sep=sep, usecols=columns, encoding_errors="replace", low_memory=False)
    if suffix in {".parquet", ".pq"}:
        return pd.read_parquet(path, columns=columns)
    reader = _pyreadstat().read_sav if suffix in {".sav", ".zsav"} else _pyreadstat().read_dta
    frame, _ = reader(str(path), usecols=columns, apply_value_formats=False)
    return frame


def read_columns(path: Path, choose: ColumnChooser) -> pd.DataFrame:
    """The columns ``choose`` picks from the file's column names, in the file's row order."""
    path = Path(path)
    if not path.exists():
        raise PopulationError(f"{path}: no such file; check the path (or use the bundled data)")
    if path.is_dir():
        raise PopulationError(f"{path} is a directory; give the data file inside it")
    if path.suffix.lower() == ".zip":
        return _read_zip(path, choose)
    if path.suffix.lower() not in SUFFIXES:
        raise PopulationError(f"{path}: unknown file type {path.suffix!r}; give a .csv (';' or ','), .parquet, "
                              ".sav or .dta file")
    try:
        columns = choose(column_names(path))
        return _read(path, columns)
    except PopulationError:
        raise
    except Exception as exc:  # a corrupt or mislabelled file: say so in one line
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PopulationError(f"{path}: cannot read it as a {path.suffix} file ({detail}); check that the file is "
                              "complete and its extension matches its format") from None


def _read_zip(path: Path, choose: ColumnChooser) -> pd.DataFrame:
    """WVS downloads come zipped: read the one data file inside."""
    if not zipfile.is_zipfile(path):
        raise PopulationError(f"{path}: not a zip archive, although its name ends in .zip; give the data file "
                              f"itself (.csv, .sav, .dta, .parquet) or the zip as downloaded")
    with zipfile.ZipFile(path) as archive:
        members = [name for name in archive.namelist()
                   if Path(name).suffix.lower() in SUFFIXES and not name.startswith("__MACOSX")]
        if len(members) != 1:
            raise PopulationError(f"{path}: expected one data file (.csv, .sav, .dta, .parquet) inside the zip, "
                                  f"found {len(members)}; unzip it and pass the data file")
        with tempfile.TemporaryDirectory() as folder:
            extracted = Path(archive.extract(members[0], folder))
            return read_columns(extracted, choose)
