"""The few distribution functions and tests the analysis and the report need, without ``scipy.stats``.

Importing ``scipy.stats`` costs more CPU time than the whole analysis of a study (about 1-2 s on a 2-core
machine), for Student's t (``t_sf``, ``t_ppf``), the F survival function (``f_sf``), Welch's t test, Kendall's
tau-b, the 1-D Wasserstein distance and the Jensen-Shannon distance. The distribution functions are
``scipy.special``'s (the cephes routines ``scipy.stats`` itself calls: ``stdtr``, ``stdtrit``, ``fdtrc``), which
import in a third of the time; the tests and distances are their textbook formulas in numpy, with scipy's
conventions for NaN, ties and edge cases. tests/test_special.py checks each against its ``scipy.stats`` namesake.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special as _cephes
from scipy.special import rel_entr, xlogy

__all__ = ["f_sf", "jensenshannon", "kendall_tau_b", "rel_entr", "t_cdf", "t_ppf", "t_sf", "wasserstein_distance",
           "welch_ttest", "xlogy"]


def _float_or_array(value):
    """A float64 scalar for scalar input (as scipy.stats returns), else the array."""
    out = np.asarray(value, dtype=float)
    return out[()] if out.ndim == 0 else out


def t_sf(t, df):
    """P(T > t), T Student's t with ``df`` degrees of freedom (scipy.stats.t.sf); df = inf is the normal."""
    return _float_or_array(_cephes.stdtr(df, -np.asarray(t, dtype=float)))


def t_cdf(t, df):
    """P(T <= t) (scipy.stats.t.cdf)."""
    return _float_or_array(_cephes.stdtr(df, t))


def t_ppf(q, df):
    """The q-quantile of Student's t (scipy.stats.t.ppf)."""
    q = np.asarray(q, dtype=float)
    inside = _cephes.stdtrit(df, np.clip(q, 1e-300, 1 - 1e-16))  # cephes gives +inf at q = 0: the ends are ours
    return _float_or_array(np.select([(q < 0) | (q > 1), q == 0, q == 1], [np.nan, -np.inf, np.inf], inside))


def f_sf(f, dfn, dfd):
    """P(F > f), F with (dfn, dfd) degrees of freedom (scipy.stats.f.sf)."""
    f = np.asarray(f, dtype=float)
    return _float_or_array(np.where(f <= 0, 1.0, _cephes.fdtrc(dfn, dfd, np.maximum(f, 0))))


# -- tests and distances -----------------------------------------------------------------------------

def welch_ttest(a, b) -> tuple[float, float]:
    """(t, two-sided p) of Welch's unequal-variance t test (scipy.stats.ttest_ind(a, b, equal_var=False))."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    n1, n2 = a.shape[0], b.shape[0]
    vn1, vn2 = np.var(a, ddof=1) / n1, np.var(b, ddof=1) / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        df = (vn1 + vn2) ** 2 / (vn1 ** 2 / (n1 - 1) + vn2 ** 2 / (n2 - 1))
        df = 1.0 if np.isnan(df) else df
        t = np.divide(np.mean(a) - np.mean(b), np.sqrt(vn1 + vn2))
    return float(t), float(2 * t_sf(abs(float(t)), float(df)))


def kendall_tau_b(x, y) -> float:
    """Kendall's tau-b (scipy.stats.kendalltau(x, y).statistic): NaN with a NaN, fewer than 2 pairs, or a
    constant side."""
    x, y = np.asarray(x, dtype=float).ravel(), np.asarray(y, dtype=float).ravel()
    if x.size != y.size:
        raise ValueError("x and y must have the same length")
    if x.size == 0 or np.isnan(x).any() or np.isnan(y).any():
        return math.nan
    upper = np.triu_indices(x.size, k=1)
    dx, dy = np.sign(x[:, None] - x[None, :])[upper], np.sign(y[:, None] - y[None, :])[upper]
    total = x.size * (x.size - 1) // 2
    x_ties, y_ties = int((dx == 0).sum()), int((dy == 0).sum())
    if x_ties == total or y_ties == total:
        return math.nan
    con_minus_dis = int((dx * dy).sum())
    tau = con_minus_dis / np.sqrt(total - x_ties) / np.sqrt(total - y_ties)
    return float(min(1.0, max(-1.0, tau)))


def wasserstein_distance(u_values, v_values, u_weights=None, v_weights=None) -> float:
    """The 1-Wasserstein distance between two weighted distributions on the line
    (scipy.stats.wasserstein_distance): the area between their CDFs."""
    u_values, u_weights = _distribution(u_values, u_weights)
    v_values, v_weights = _distribution(v_values, v_weights)
    u_sorter, v_sorter = np.argsort(u_values), np.argsort(v_values)
    all_values = np.sort(np.concatenate((u_values, v_values)), kind="mergesort")
    deltas = np.diff(all_values)
    u_cdf = _cdf_at(u_values[u_sorter], None if u_weights is None else u_weights[u_sorter], all_values[:-1])
    v_cdf = _cdf_at(v_values[v_sorter], None if v_weights is None else v_weights[v_sorter], all_values[:-1])
    return float(np.abs(u_cdf - v_cdf) @ deltas)


def _distribution(values, weights) -> tuple[np.ndarray, np.ndarray | None]:
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        raise ValueError("Distribution can't be empty.")
    if weights is None:
        return values, None
    weights = np.asarray(weights, dtype=float)
    if len(weights) != len(values):
        raise ValueError("Value and weight array-likes for the same empirical distribution must be of the same "
                         "size.")
    if np.any(weights < 0):
        raise ValueError("All weights must be non-negative.")
    if not 0 < np.sum(weights) < np.inf:
        raise ValueError("Weight array-like sum must be positive and finite.")
    return values, weights


def _cdf_at(sorted_values: np.ndarray, sorted_weights: np.ndarray | None, points: np.ndarray) -> np.ndarray:
    indices = sorted_values.searchsorted(points, "right")
    if sorted_weights is None:
        return indices / sorted_values.size
    cumulative = np.concatenate(([0], np.cumsum(sorted_weights)))
    return cumulative[indices] / cumulative[-1]


def jensenshannon(p, q, base: float | None = None) -> float:
    """The Jensen-Shannon distance of two distributions (scipy.spatial.distance.jensenshannon): each
    normalised to sum 1; natural logarithms unless ``base``."""
    p, q = np.asarray(p, dtype=float), np.asarray(q, dtype=float)
    p, q = p / np.sum(p), q / np.sum(q)
    m = (p + q) / 2.0
    js = np.sum(rel_entr(p, m)) + np.sum(rel_entr(q, m))
    if base is not None:
        js /= np.log(base)
    return float(np.sqrt(js / 2.0))
