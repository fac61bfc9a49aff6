"""Model-level inference (analysis/model_inference.py, families.py) against independent computations.

- Wild cluster restricted bootstrap: the ``wildboottest`` package (a test-only dependency, the ``test`` extra)
  on the same row-level regression: identical p values under Rademacher full enumeration (deterministic),
  and Webb weights within Monte Carlo error.
- Permutation of origin labels: brute force, relabelling the models and refitting statsmodels OLS on rows.
- CR2 and Satterthwaite df: brute force with the explicit n_g x n_g matrices (I - H_gg)^(-1/2) and the full
  n x n residual-maker; no installable Python package computes CR2 with Satterthwaite df (R's clubSandwich
  does), so this is the independent check.
- Holm / BH: statsmodels' multipletests. Joint Wald: statsmodels' f_test on the row-level fit.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pytest

from whosevalues.analysis import families, ols
from whosevalues.analysis import model_inference as mi
from whosevalues.analysis.design import NATIONALITY_ORIGIN

# most oracles here are statsmodels (the test extra): without it the module is skipped
sm = pytest.importorskip("statsmodels.api", reason="statsmodels is in the test extra: pip install -e '.[test]'")


def synthetic_rows(n_models=8, n_respondents=40, seed=0, drop=0.0):
    """RQ1-shaped rows: respondents of two countries x models of two origins, model and respondent effects."""
    rng = np.random.default_rng(seed)
    origin = np.array([1] * (n_models // 2) + [0] * (n_models - n_models // 2))
    nationality = np.array([1] * (n_respondents // 2) + [0] * (n_respondents - n_respondents // 2))
    respondent = np.repeat(np.arange(n_respondents), n_models)
    model = np.tile(np.arange(n_models), n_respondents)
    cell = 2 * nationality[respondent] + origin[model]
    y = (0.2 - 0.15 * (nationality[respondent] - .5) + rng.normal(0, .05, n_models)[model]
         + rng.normal(0, .1, n_respondents)[respondent] + rng.normal(0, .2, len(model)))
    keep = rng.random(len(y)) >= drop
    design = ols.CellDesign(codes=NATIONALITY_ORIGIN, factors=["nationality", "origin"])
    return design, y[keep], cell[keep], respondent[keep], model[keep], origin


def row_level_fit(design, y, cell):
    X = ols.design_frame(design, cell)
    return sm.OLS(y, X), X.to_numpy()


# -- wild cluster restricted bootstrap -------------------------------------------------------------

@pytest.mark.needs("wildboottest")
def test_wild_bootstrap_equals_wildboottest_under_full_enumeration():
    wildboottest = pytest.importorskip("wildboottest.wildboottest").wildboottest
    design, y, cell, _, model, _ = synthetic_rows(n_models=8, seed=1)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    signs = np.array(list(np.ndindex(*(2,) * 8)), dtype=float) * 2 - 1  # all 256 Rademacher vectors
    # p = (1 + #)/(B + 1): back to the share of the 256 enumerated vectors that wildboottest reports
    ours = (mi.wild_bootstrap_p(cells, signs) * (len(signs) + 1) - 1) / len(signs)
    fit, _ = row_level_fit(design, y, cell)
    for k, term in enumerate(design.term_names()):
        theirs = float(wildboottest(fit, B=9999, cluster=model, param=term, weights_type="rademacher", seed=0,
                                    show=False, parallel=False)["p-value"].iloc[0])
        # The sign vectors +-1 reproduce the data: their |t*| equals |t|. We count those ties as at least as
        # extreme (>=), wildboottest counts > only, where rounding decides: at most 2 of the 256 differ.
        assert 0 <= ours[k] - theirs <= 2 / 256 + 1e-12, term
        strictly_greater = ours[k] - 2 / 256
        assert theirs in (pytest.approx(ours[k], abs=1e-12), pytest.approx(strictly_greater, abs=1e-12),
                          pytest.approx(ours[k] - 1 / 256, abs=1e-12)), term


@pytest.mark.needs("wildboottest")
def test_wild_bootstrap_with_webb_weights_agrees_with_wildboottest_within_monte_carlo_error():
    wildboottest = pytest.importorskip("wildboottest.wildboottest").wildboottest
    design, y, cell, _, model, _ = synthetic_rows(n_models=12, seed=2)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    replicates = 9999
    ours = mi.wild_bootstrap_p(cells, mi.webb_weights(replicates, cells.n_models, seed=5))
    fit, _ = row_level_fit(design, y, cell)
    for k, term in enumerate(design.term_names()):
        theirs = float(wildboottest(fit, B=replicates, cluster=model, param=term, weights_type="webb", seed=11,
                                    show=False, parallel=False)["p-value"].iloc[0])
        # two independent Monte Carlo estimates of one p: SD of the difference <= sqrt(2 * .25 / B) = .0071
        assert abs(ours[k] - theirs) < 0.03, (term, ours[k], theirs)


def test_wild_bootstrap_p_is_one_plus_count_over_b_plus_one_never_zero():
    design, y, cell, _, model, _ = synthetic_rows(n_models=8, seed=1)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    b = 9
    # all-ones weights reproduce the data (|t*| = |t|, every replicate a tie): p = (1 + 9) / 10 = 1
    np.testing.assert_allclose(mi.wild_bootstrap_p(cells, np.ones((b, 8))), 1.0)
    # zero weights give t* = 0/0 (never as extreme): p = (1 + 0) / 10, not 0
    np.testing.assert_allclose(mi.wild_bootstrap_p(cells, np.zeros((b, 8))), 1 / (b + 1))
    # a huge nationality effect: no Webb replicate reaches |t|, yet p = 1/(B + 1) > 0
    strong = y + 5.0 * (cell // 2)
    p = mi.wild_bootstrap_p(mi.ModelCells.from_rows(design, strong, cell, model), mi.webb_weights(99, 8, seed=0))
    assert p[design.term_names().index("nationality")] == pytest.approx(1 / 100)
    _, joint = mi.wild_bootstrap_joint(mi.ModelCells.from_rows(design, strong, cell, model), [1],
                                       mi.webb_weights(99, 8, seed=0))
    assert joint == pytest.approx(1 / 100)


def test_webb_weights_have_the_six_point_distribution():
    weights = mi.webb_weights(60_000, 3, seed=0)
    values, counts = np.unique(weights, return_counts=True)
    np.testing.assert_allclose(values, [-np.sqrt(1.5), -1, -np.sqrt(.5), np.sqrt(.5), 1, np.sqrt(1.5)])
    assert counts.min() / counts.max() > 0.95
    assert weights.mean() == pytest.approx(0, abs=0.01) and (weights ** 2).mean() == pytest.approx(1, abs=0.01)


# -- permutation of origin labels ---------------------------------------------------------------

def brute_force_permutation(design, y, cell, model, origin, term):
    """Relabel the models' origins in every way (same count per origin), rebuild the cells, refit rows."""
    nationality_bit = cell // 2
    observed = None
    estimates = []
    n_models, n_first = len(origin), int(origin.sum())
    for chosen in combinations(range(n_models), n_first):
        labels = np.zeros(n_models, dtype=int)
        labels[list(chosen)] = 1
        relabelled = 2 * nationality_bit + labels[model]
        fit = sm.OLS(y, ols.design_frame(design, relabelled)).fit()
        estimates.append(abs(fit.params[term]))
        if (labels == origin).all():
            observed = abs(fit.params[term])
    estimates = np.array(estimates)
    return float(np.mean(estimates >= observed - 1e-12))


@pytest.mark.parametrize("drop", [0.0, 0.1])  # 0.1: unequal rows per model, the refit path
def test_exact_permutation_equals_brute_force(drop):
    design, y, cell, _, model, origin = synthetic_rows(n_models=8, seed=3, drop=drop)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    terms = [k for k, t in enumerate(design.term_names()) if "origin" in t]
    p, n, exact = mi.permutation_p(cells, origin, terms)
    assert exact and n == 70  # C(8, 4)
    for k in terms:
        assert p[k] == pytest.approx(brute_force_permutation(design, y, cell, model, origin,
                                                             design.term_names()[k]), abs=1e-12)
    assert np.isnan(p[[k for k in range(len(p)) if k not in terms]]).all()


def test_monte_carlo_permutation_approximates_the_exact_p():
    design, y, cell, _, model, origin = synthetic_rows(n_models=12, seed=4)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    terms = [2, 3]
    exact, n_exact, is_exact = mi.permutation_p(cells, origin, terms)
    sampled, n_sampled, sampled_exact = mi.permutation_p(cells, origin, terms, exact_limit=100, replicates=9999)
    assert is_exact and n_exact == 924 and not sampled_exact and n_sampled == 9999
    np.testing.assert_allclose(sampled[terms], exact[terms], atol=0.03)


def test_all_assignments_are_every_combination_once():
    labels = mi._all_assignments(10, 4)
    assert labels.shape == (210, 10) and (labels.sum(axis=1) == 4).all()
    assert len({row.tobytes() for row in labels}) == 210


# -- CR2 and Satterthwaite ------------------------------------------------------------------------

def brute_force_cr2(X, y, groups, k):
    """CR2 SE and Bell-McCaffrey/Pustejovsky-Tipton df of coefficient k with explicit matrices."""
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ X.T @ y
    e = y - X @ beta
    n = len(y)
    hat = X @ bread @ X.T
    meat = np.zeros_like(bread)
    c = np.zeros(X.shape[1])
    c[k] = 1
    u = []
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        values, vectors = np.linalg.eigh(np.eye(len(rows)) - hat[np.ix_(rows, rows)])
        inv_sqrt = np.where(values > 1e-10, 1 / np.sqrt(np.clip(values, 1e-300, None)), 0.0)
        A = (vectors * inv_sqrt) @ vectors.T
        score = X[rows].T @ A @ e[rows]
        meat += np.outer(score, score)
        p_g = np.zeros(n)
        p_g[rows] = A @ X[rows] @ bread @ c
        u.append(p_g - hat @ p_g)  # (I - H) p_g
    cov = bread @ meat @ bread
    U = np.array(u)
    cross = U @ U.T
    return np.sqrt(cov[k, k]), np.trace(cross) ** 2 / np.sum(cross ** 2)


@pytest.mark.parametrize("drop", [0.0, 0.2])
def test_cr2_and_satterthwaite_equal_the_explicit_matrix_formulas(drop):
    design, y, cell, _, model, _ = synthetic_rows(n_models=6, n_respondents=24, seed=5, drop=drop)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    result = mi.cr2(cells)
    X = ols.design_frame(design, cell).to_numpy()
    for k in range(X.shape[1]):
        se, df = brute_force_cr2(X, y, model, k)
        assert result["se_cr2_model"][k] == pytest.approx(se, rel=1e-8)
        assert result["df_satterthwaite"][k] == pytest.approx(df, rel=1e-6)
    t = cells.beta / result["se_cr2_model"]
    from scipy import stats
    np.testing.assert_allclose(result["p_cr2_model"], 2 * stats.t.sf(np.abs(t), result["df_satterthwaite"]))


def test_cr1_of_model_cells_equals_statsmodels_cluster_se():
    design, y, cell, _, model, _ = synthetic_rows(n_models=7, seed=6, drop=0.1)
    cells = mi.ModelCells.from_rows(design, y, cell, model)
    fit = ols.fit_statsmodels(design, y, cell, groups=model)
    np.testing.assert_allclose(cells.cr1_se(), fit.bse.to_numpy(), rtol=1e-8)


# -- bootstrap over models --------------------------------------------------------------------------

def test_bootstrap_fast_path_equals_refitting_each_replicate():
    design, y, cell, _, model, origin = synthetic_rows(n_models=8, seed=7)
    fast = ols.bootstrap_models(design, y, cell, model, origin, replicates=300, seed=1)
    weights = ols._stratified_weights(origin, 300, 1)
    n_cells = design.n_cells
    flat = model * n_cells + cell
    counts = np.bincount(flat, minlength=8 * n_cells).reshape(8, n_cells).astype(float)
    sums = np.bincount(flat, weights=y, minlength=8 * n_cells).reshape(8, n_cells)
    slow = ols._refit_each(design, weights @ counts, weights @ sums)
    np.testing.assert_allclose(fast["boot_se_models"], slow.std(axis=0, ddof=1), rtol=1e-9)


# -- multiple comparisons and joint tests ---------------------------------------------------------------

def rq3_shaped_rows(seed=8, n_levels=4):
    rng = np.random.default_rng(seed)
    n_models, n_respondents = 8, 30
    origin = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    nationality = (np.arange(n_respondents) < 15).astype(int)
    r, m, level = np.meshgrid(np.arange(n_respondents), np.arange(n_models), np.arange(n_levels + 1), indexing="ij")
    r, m, level = r.ravel(), m.ravel(), level.ravel()
    cell = (2 * nationality[r] + origin[m]) * (n_levels + 1) + level
    y = 0.3 + 0.02 * (level == 2) + 0.15 * (level == 1) * (nationality[r] - .5) + rng.normal(0, .05, n_models)[m] \
        + rng.normal(0, .2, len(r))
    design = ols.CellDesign(codes=np.repeat(NATIONALITY_ORIGIN, n_levels + 1, axis=0),
                            factors=["nationality", "origin"], indicator="removed",
                            level=np.tile(np.arange(n_levels + 1) - 1, 4), levels=[f"d{i}" for i in range(n_levels)])
    return design, y, cell, r, m, origin


def test_holm_and_bh_per_family_equal_statsmodels():
    from statsmodels.stats.multitest import multipletests

    design, y, cell, r, m, origin = rq3_shaped_rows()
    table = families.adjust(ols.regression_table(design, y, cell, r, m, origin, bootstrap=0).assign(
        p_wild_model=lambda t: np.linspace(0.001, 0.5, len(t))))
    for family in families.FAMILIES:
        rows = table["term"].map(families.family_of) == family
        assert rows.sum() == 4
        p_values = table.loc[rows, "p_value"]
        np.testing.assert_allclose(table.loc[rows, "p_holm"], multipletests(p_values, method="holm")[1])
        np.testing.assert_allclose(table.loc[rows, "p_bh"], multipletests(p_values, method="fdr_bh")[1])
        np.testing.assert_allclose(table.loc[rows, "p_bh_model"],
                                   multipletests(table.loc[rows, "p_wild_model"], method="fdr_bh")[1])
    assert table.loc[table["term"].map(families.family_of).isna(), ADJUSTED].isna().all().all()


ADJUSTED = families.ADJUSTED_COLUMNS


def test_joint_wald_tests_equal_statsmodels_f_test():
    design, y, cell, r, m, origin = rq3_shaped_rows()
    cells = mi.ModelCells.from_rows(design, y, cell, m)
    fit = ols.fit_statsmodels(design, y, cell)
    records = families.joint_tests(cells, fit.scale, int(fit.df_resid), mi.InferenceOptions(wild=999))
    assert [rec["family"] for rec in records] == list(families.FAMILIES)
    for record in records:
        constraint = np.zeros((record["q"], len(fit.params)))
        for row, term in enumerate(record["terms"]):
            constraint[row, list(fit.params.index).index(term)] = 1
        test = fit.f_test(constraint)
        assert record["f_classical"] == pytest.approx(float(np.squeeze(test.fvalue)), rel=1e-8)
        assert record["p_classical"] == pytest.approx(float(test.pvalue), rel=1e-6, abs=1e-300)
        assert 0 <= record["p_wild_model"] <= 1 and record["wild_replicates"] == 999
    # the family the data were given an effect in is found at the model level too
    nationality = next(rec for rec in records if rec["family"] == "nationality interactions")
    assert nationality["p_classical"] < 0.01 and nationality["p_wild_model"] < 0.05
