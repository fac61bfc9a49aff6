"""Reading the project's TOML data files (surveys, studies, the catalog) with one-line, fixable errors."""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: Path, what: str, error: type[Exception], fix_path: str) -> dict:
    """The parsed file, or ``error`` naming the file and how to fix it (``what``: "survey file", ...)."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}; check {fix_path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None


def describe_validation_error(exc: ValidationError) -> str:
    """The first problem pydantic found, as ``field <dotted.path>: <what to do>``."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "missing":
        message = f"required field is missing: add `{field} = ...`"
    elif first["type"] == "extra_forbidden":
        message = "unknown field: remove it or check its spelling"
    return f"field {field}: {message}"
