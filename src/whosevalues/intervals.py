"""The t-based confidence interval of a mean, shared by the analysis and the report (which never imports the
analysis)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.special import t_ppf


def mean_ci(values: pd.Series | np.ndarray, level: float = 0.95) -> tuple[float, float, float, int]:
    """(mean, low, high, n) over the values that are not NaN; the interval is NaN for fewer than 2 values."""
    arr = np.asarray(values, dtype=float)
    arr = arr[~np.isnan(arr)]
    n = len(arr)
    if n == 0:
        return float("nan"), float("nan"), float("nan"), 0
    mean = float(arr.mean())
    if n < 2:
        return mean, float("nan"), float("nan"), n
    half = float(t_ppf(0.5 + level / 2, n - 1) * arr.std(ddof=1) / np.sqrt(n))
    return mean, mean - half, mean + half, n
