"""API keys from the environment: cleaned, checked, and never shown.

A key read from a file often ends in a newline; sent as is, the HTTP library refuses the header and quotes it
in its error, which would then be stored and printed. So a key is stripped of surrounding whitespace, and a key
with whitespace or non-ASCII characters inside (a pasted line break, a typographic dash) is refused naming its
variable, never its value. ``redact_keys`` is the last line of defence: every error whosevalues stores or prints
passes through it, and anything that looks like a key from the environment becomes ``***``.
"""

from __future__ import annotations

import os
from typing import overload

from whosevalues.models.base import ConfigurationError

#: environment variables whose values are treated as secrets by ``redact_keys`` (every *_API_KEY ends in _KEY)
_SECRET_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET")
#: shorter values are not redacted: they would mask ordinary words and numbers
_MIN_SECRET_LENGTH = 8
REDACTED = "***"


def read_key(env: str) -> str | None:
    """The key in ``env`` without surrounding whitespace; None if unset or blank; refused if malformed."""
    value = os.environ.get(env)
    if value is None or not value.strip():
        return None
    key = value.strip()
    problem = _key_problem(key)
    if problem:
        raise ConfigurationError(f"the API key in {env} {problem}; set {env} again to the key alone "
                                 f"(export {env}=...)")
    return key


def _key_problem(key: str) -> str | None:
    if any(ch.isspace() for ch in key):
        return "contains whitespace inside it (a line break or space copied with the key?)"
    if not key.isascii():
        return "contains non-ASCII characters (a typographic quote or dash copied with the key?)"
    if not key.isprintable():
        return "contains control characters"
    return None


def _secret_values() -> set[str]:
    """Every value in the environment that may be a key: the raw value and its stripped form."""
    values: set[str] = set()
    for name, value in os.environ.items():  # read each time: a key set after start-up is covered too
        if name.upper().endswith(_SECRET_SUFFIXES):
            values.update(form for form in (value, value.strip()) if len(form) >= _MIN_SECRET_LENGTH)
    return values


@overload
def redact_keys(text: None) -> None: ...
@overload
def redact_keys(text: str) -> str: ...
def redact_keys(text: str | None) -> str | None:
    """``text`` with anything that looks like a key from the environment replaced by ``***``.

    Longest values first, so a key is never half-replaced by a shorter one it contains; the repr form (a
    trailing newline written as backslash-n, as HTTP libraries quote a bad header) is covered by the stripped key.
    """
    if not text:
        return text
    present = [secret for secret in _secret_values() if secret in text]
    for secret in sorted(present, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text
