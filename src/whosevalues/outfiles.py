"""Output files written whole or not at all (a reader, or a run killed mid-write, never sees half a file),
and values made strict JSON (NaN is null, numpy scalars are Python numbers)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pandas is imported where it is used: a run's start-up does not pay for it (0.6 s)
    import pandas as pd


def atomic_write(path: Path | str, text: str) -> None:
    """Write ``text`` beside ``path`` (``<name>.tmp``), then rename it over ``path`` in one step."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def write_csv_atomically(frame: pd.DataFrame, path: Path | str) -> None:
    atomic_write(path, frame.to_csv(index=False))


def write_json(path: Path | str, data, **options) -> None:
    """``data`` as strict JSON (``json_safe``; anything else JSON cannot hold as its text), written atomically."""
    atomic_write(path, json.dumps(json_safe(data), indent=2, default=str, **options))


def none_if_nan(value):
    """None for a missing number (None, NaN of Python or numpy), else ``value`` unchanged."""
    import numpy as np
    return None if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)) else value


def json_safe(value):
    """NaN (Python or numpy) as None, numpy scalars as Python numbers, through dicts, lists and tuples."""
    import numpy as np
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if math.isnan(value) else float(value)
    return value
