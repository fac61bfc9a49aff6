"""whosevalues.special (the distribution functions and tests the analysis uses instead of scipy) against scipy,
and, where scipy itself is less accurate (very large degrees of freedom in F, a Student's t with one degree of
freedom near 0), against a 60-digit evaluation of the same incomplete beta function."""

from __future__ import annotations

import math
import subprocess
import sys
from decimal import Decimal, getcontext

import numpy as np
import pytest

from whosevalues import special

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")

# degrees of freedom the analysis meets: few clusters (CR2 Satterthwaite), models, rows (up to 1.4 million)
DFS = [0.5, 0.9, 1, 1.5, 2, 2.5, 3, 4, 7.3, 9.9, 10, 10.1, 19, 33.3, 99, 1000, 12345.6, 1e5, 5e5, 1.4e6, np.inf]


def relative(mine, reference) -> float:
    mine, reference = np.asarray(mine, float), np.asarray(reference, float)
    same = (mine == reference) | (np.isnan(mine) & np.isnan(reference))
    with np.errstate(invalid="ignore", divide="ignore"):
        error = np.abs(mine - reference) / np.abs(reference)
    return float(np.max(np.where(same, 0.0, error)))


@pytest.mark.parametrize("df", DFS)
def test_t_sf_and_cdf_match_scipy(df):
    t = np.concatenate([-np.logspace(-3, 2.5, 40), [0.0], np.logspace(-3, 2.5, 40), [1.0, 1.7320508, 1.96, 2.0]])
    # scipy's own error reaches 1.4e-13 far in the tails (values below 1e-200); 1e-12 leaves room for it
    assert relative(special.t_sf(t, df), scipy_stats.t.sf(t, df)) < 1e-12
    assert relative(special.t_cdf(t, df), scipy_stats.t.cdf(t, df)) < 1e-12


@pytest.mark.parametrize("df", DFS)
def test_t_ppf_matches_scipy(df):
    q = np.array([1e-10, 1e-6, 0.001, 0.025, 0.05, 0.1, 0.3, 0.5, 0.7, 0.9, 0.95, 0.975, 0.99, 1 - 1e-6])
    assert relative(special.t_ppf(q, df), scipy_stats.t.ppf(q, df)) < 1e-12
    assert float(special.t_ppf(0.975, df)) == pytest.approx(float(scipy_stats.t.ppf(0.975, df)), rel=1e-13)


def test_edge_cases_as_scipy():
    for value in (special.t_sf(np.nan, 3), special.t_sf(1.0, np.nan), special.t_ppf(np.nan, 3), special.t_ppf(1.5, 3),
                  special.f_sf(np.nan, 2, 3)):
        assert math.isnan(value)
    assert special.t_sf(np.inf, 3) == 0 and special.t_sf(-np.inf, 3) == 1 and special.t_sf(0.0, 3) == 0.5
    assert special.t_ppf(0.0, 3) == -np.inf and special.t_ppf(1.0, 3) == np.inf and special.t_ppf(0.5, 3) == 0
    assert special.f_sf(0.0, 2, 3) == 1 and special.f_sf(np.inf, 2, 3) == 0
    assert np.shape(special.t_sf(np.zeros((2, 3)), 4)) == (2, 3)
    assert isinstance(special.t_sf(1.0, 4), np.floating)


@pytest.mark.parametrize("dfn", [1, 2, 3, 5, 8, 19])
@pytest.mark.parametrize("dfd", [1, 2, 5, 10, 30, 100, 1000])
def test_f_sf_matches_scipy(dfn, dfd):
    f = np.concatenate([np.logspace(-6, 2, 50), [0.0, 1.0, 2.5]])
    assert relative(special.f_sf(f, dfn, dfd), scipy_stats.f.sf(f, dfn, dfd)) < 1e-12


# -- where scipy is less accurate than 1e-12: a 60-digit reference -----------------------------------------

def _decimal_lgamma(z: Decimal) -> Decimal:
    shift = Decimal(0)
    while z < 40:
        shift += z.ln()
        z += 1
    bernoulli = [Decimal(1) / 6, Decimal(-1) / 30, Decimal(1) / 42, Decimal(-1) / 30, Decimal(5) / 66,
                 Decimal(-691) / 2730, Decimal(7) / 6, Decimal(-3617) / 510, Decimal(43867) / 798]
    pi = Decimal("3.14159265358979323846264338327950288419716939937510582097494459")
    total = (z - Decimal("0.5")) * z.ln() - z + (2 * pi).ln() / 2
    for k, b in enumerate(bernoulli, start=1):
        total += b / (2 * k * (2 * k - 1) * z ** (2 * k - 1))
    return total - shift


def _decimal_betainc(a: Decimal, b: Decimal, x: Decimal) -> Decimal:
    """I_x(a, b) to about 50 digits (Numerical Recipes' continued fraction in Decimal arithmetic)."""
    y = 1 - x
    if x > (a + 1) / (a + b + 2):
        return 1 - _decimal_betainc(b, a, y)
    front = (a * x.ln() + b * y.ln() + _decimal_lgamma(a + b) - _decimal_lgamma(a) - _decimal_lgamma(b)).exp()
    c, d = Decimal(1), 1 / (1 - (a + b) * x / (a + 1))
    h = d
    for m in range(1, 10_000):
        for aa in (m * (b - m) * x / ((a - 1 + 2 * m) * (a + 2 * m)),
                   -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 1 + 2 * m))):
            d = 1 / (1 + aa * d)
            c = 1 + aa / c
            h *= d * c
        if abs(d * c - 1) < Decimal("1e-50"):
            break
    return front * h / a


@pytest.mark.parametrize("df,t", [(1, 1e-8), (1e5, 1.7398280529303622), (1.4e6, 2.0), (1.4e6, 0.3), (1e7, 2.3627),
                                  (12345.6, 1.7398), (5e5, 1.0), (3, 0.5)])
def test_t_sf_against_60_digits(df, t):
    getcontext().prec = 60
    d, tt = Decimal(df), Decimal(t)
    reference = float(_decimal_betainc(d / 2, Decimal("0.5"), d / (d + tt * tt)) / 2)
    # cephes' stdtr (scipy.special, and scipy.stats through it) loses digits as t -> 0 at df = 1: 1.6e-9
    # absolute at t = 1e-8, where P is 0.5; everywhere else here it is within 1e-14 relative
    assert float(special.t_sf(t, df)) == pytest.approx(reference, rel=1e-14, abs=2e-9)


@pytest.mark.parametrize("dfn,dfd,f", [(8, 1.4e6, 1.7957), (8, 1.4e6, 7.318), (3, 1e5, 2.5), (19, 1000, 85.5)])
def test_f_sf_against_60_digits(dfn, dfd, f):
    """scipy's fdtrc is off by up to 4e-11 (relative) at a million denominator degrees of freedom."""
    getcontext().prec = 60
    n, m, ff = Decimal(dfn), Decimal(dfd), Decimal(f)
    reference = float(_decimal_betainc(m / 2, n / 2, m / (m + n * ff)))
    assert float(special.f_sf(f, dfn, dfd)) == pytest.approx(reference, rel=1e-13)


# -- tests and distances ----------------------------------------------------------------------------------

def test_welch_kendall_wasserstein_jensenshannon_match_scipy():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(1)
    for _ in range(200):
        a, b = rng.normal(size=rng.integers(2, 60)), rng.normal(0.2, 2, size=rng.integers(2, 60))
        reference = scipy_stats.ttest_ind(a, b, equal_var=False)
        t, p = special.welch_ttest(a, b)
        assert t == pytest.approx(reference.statistic, rel=1e-13) and p == pytest.approx(reference.pvalue, rel=1e-12)
        x = rng.integers(0, 5, size=rng.integers(2, 30)).astype(float)
        y = rng.integers(0, 4, size=x.size).astype(float)
        tau = scipy_stats.kendalltau(x, y).statistic
        assert (math.isnan(tau) and math.isnan(special.kendall_tau_b(x, y))) or special.kendall_tau_b(x, y) == tau
        values = np.arange(1, 11.0)
        p_, q_ = rng.random(10), rng.random(10)
        q_[rng.random(10) < 0.3] = 0
        assert special.wasserstein_distance(values, values, p_, q_) == pytest.approx(
            scipy_stats.wasserstein_distance(values, values, p_, q_), rel=1e-14)
        assert special.wasserstein_distance([3.3], values, None, q_) == pytest.approx(
            scipy_stats.wasserstein_distance([3.3], values, None, q_), rel=1e-14)
        assert special.jensenshannon(p_, q_, base=2) == pytest.approx(jensenshannon(p_, q_, base=2), rel=1e-14)
    assert math.isnan(special.kendall_tau_b([1, 1, 1], [1, 2, 3])) and math.isnan(special.kendall_tau_b([1], [2]))
    assert math.isnan(special.kendall_tau_b([1, np.nan, 3], [1, 2, 3]))
    assert all(math.isnan(v) for v in special.welch_ttest([1, 1], [1, 1]))
    with pytest.raises(ValueError):
        special.wasserstein_distance([1, 2], [1, 2], [np.nan, 1], [1, 1])


def test_rel_entr_and_xlogy_match_scipy():
    x = np.array([[0, 0.5, 0.2, 1.0], [0.1, 0, np.nan, -0.1]])
    y = np.array([[0, 0, 0.3, 1.0], [0.2, 0.1, 0.1, 0.3]])
    np.testing.assert_array_equal(special.rel_entr(x, y), scipy_special.rel_entr(x, y))
    np.testing.assert_allclose(special.xlogy(x, y), scipy_special.xlogy(x, y), rtol=1e-15)
    np.testing.assert_array_equal(special.xlogy(np.array([0.0, 0.0]), np.array([0.0, np.nan])),
                                  scipy_special.xlogy(np.array([0.0, 0.0]), np.array([0.0, np.nan])))


@pytest.mark.slow  # starts a Python process
def test_the_analysis_and_report_never_import_scipy_stats():
    """scipy.stats alone costs more CPU time than the analysis of a study (statsmodels is for tests only);
    scipy.special, a third of it, gives the distribution functions."""
    code = ("import sys; import whosevalues.analysis.pipeline, whosevalues.report.html, whosevalues.report.terminal,"
            " whosevalues.analysis.study_analysis, whosevalues.cli; "
            "print(sorted({'.'.join(m.split('.')[:2]) for m in sys.modules} & {'scipy.stats', 'statsmodels'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
