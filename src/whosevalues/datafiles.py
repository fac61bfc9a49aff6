"""Reading the project's TOML data files (surveys, studies, the catalog) with one-line, fixable errors."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pydantic import ValidationError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_toml(path: Path, what: str, error: type[Exception], fix_path: str) -> dict:
    """The parsed file, or ``error`` naming the file and how to fix it (``what``: "survey file", ...)."""
    path = Path(path)
    if path.is_dir():
        raise error(f"{path} is a directory, not a {what}; give the path of a .toml file as {fix_path}")
    try:
        # utf-8-sig: editors on Windows start files with a byte-order mark, which TOML itself does not allow
        return tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise error(f"{path}: no such {what}; check {fix_path}") from None
    except PermissionError:
        raise error(f"{path}: cannot read this {what} (permission denied); make it readable or check {fix_path}") \
            from None
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (not UTF-8); give a TOML {what} as {fix_path}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read this {what} ({exc.strerror or exc}); check {fix_path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML ({exc}); fix the syntax at that line") from None
    except ValueError as exc:  # e.g. an integer of thousands of digits, beyond Python's conversion limit
        raise error(f"{path}: a value cannot be read ({exc}); write numbers within their documented ranges") \
            from None


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


def require_readable_file(path: Path, option: str, error: type[Exception] = FileNotFoundError) -> Path:
    """``path`` if it is a readable file, else ``error`` naming the option and what to give instead."""
    path = Path(path)
    if not path.exists():
        raise error(f"{option} {path}: no such file; check the path")
    if path.is_dir():
        raise error(f"{option} {path} is a directory; give a file")
    if not os.access(path, os.R_OK):
        raise error(f"{option} {path}: cannot read it (permission denied); make it readable")
    return path


def require_output_dir(path: Path, option: str, error: type[Exception] = ValueError) -> Path:
    """``path`` if it is (or can become) a writable directory; checked before anything is asked or written."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise error(f"{option} {path} is an existing file, not a directory; give a directory path")
    existing = path
    while not existing.exists():  # the nearest existing ancestor must be a writable directory
        existing = existing.parent
    if not existing.is_dir():
        raise error(f"{option} {path}: {existing} is a file, so this directory cannot be made; choose another path")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise error(f"{option} {path}: {existing} is not writable; choose a directory you can write to")
    return path
