"""One base for every error meant for the user.

A ``WhosevaluesError`` says what is wrong with the user's input, files or setup, and how to fix it; the CLI prints
its message as one line and exits 2. Anything else that escapes a command is a bug in whosevalues, and the CLI
says so (``WHOSEVALUES_DEBUG=1`` shows the traceback). The concrete classes keep their builtin second base
(``ValueError``, ``KeyError``, ``RuntimeError``) so that callers catching those keep working.
"""

from __future__ import annotations


class WhosevaluesError(Exception):
    """A problem the user can fix. The message names it and the fix."""


class UsageError(WhosevaluesError, ValueError):
    """Command-line options that do not fit together, or a value out of its range."""


class NotFoundError(WhosevaluesError, KeyError):
    """A name the user gave (a model, an item, a language, a persona) that is not there."""

    def __str__(self) -> str:  # KeyError quotes its message; the user reads it plain
        return str(self.args[0]) if self.args else ""


class NothingDoneError(WhosevaluesError):
    """A command finished without a result (nothing asked, or no valid answer): never a quiet exit 0."""
