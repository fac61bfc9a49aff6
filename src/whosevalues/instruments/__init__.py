"""Surveys as data files. ``load_instrument("mfq2")`` or ``load_instrument("path/to/my_survey.toml")``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from whosevalues.datafiles import describe_validation_error, read_toml
from whosevalues.errors import WhosevaluesError
from whosevalues.instruments.schema import NO_PERSONA, Instrument, Item, RenderedPrompt, Scale

BUILTIN_DIR = Path(__file__).parent / "data"

__all__ = ["Instrument", "Item", "Scale", "RenderedPrompt", "NO_PERSONA", "InstrumentError",
           "load_instrument", "available_instruments", "read_instrument_file"]


class InstrumentError(WhosevaluesError, ValueError):
    """A survey file is missing or malformed. The message names the file, the field and the fix."""


def available_instruments() -> dict[str, Path]:
    """Built-in survey ids -> their data files."""
    return {path.stem: path for path in sorted(BUILTIN_DIR.glob("*.toml"))}


def read_instrument_file(path: Path) -> Instrument:
    data = read_toml(path, "survey file", InstrumentError, "the path")
    try:
        return Instrument.model_validate(data)
    except ValidationError as exc:
        raise InstrumentError(f"{path}: {describe_validation_error(exc)}") from None


# Surveys loaded from a file, by their id: later stages (aggregation, analysis, report) name a survey by id.
_LOADED_BY_PATH: dict[str, Instrument] = {}


@lru_cache(maxsize=None)
def load_instrument(survey: str) -> Instrument:
    """A built-in survey by id (``mfq2``, ``wvs7``), any survey file by path, or a file-loaded survey by its id."""
    builtin = available_instruments()
    if survey in builtin:
        return read_instrument_file(builtin[survey])
    if survey in _LOADED_BY_PATH:
        return _LOADED_BY_PATH[survey]
    path = Path(survey)
    if path.suffix == ".toml" and path.exists():
        instrument = read_instrument_file(path)
        if instrument.id in builtin:
            raise InstrumentError(f"{path}: field id: {instrument.id!r} is a built-in survey's id; give the file "
                                  f"its own id")
        _LOADED_BY_PATH[instrument.id] = instrument
        return instrument
    raise InstrumentError(f"unknown survey {survey!r}: use one of {', '.join(builtin)} "
                          "or the path of a survey .toml file")
