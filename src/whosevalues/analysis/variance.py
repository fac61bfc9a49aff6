"""How the variance the regression leaves unexplained splits between respondents, models and the rest.

Method of moments on the regression's residuals e (no model fit, no iteration): with crossed random
intercepts, two rows of the same respondent but different models share only the respondent component, so

    var_respondent = mean of e_r e_s over pairs of rows with the same respondent and a different model,
    var_model      = mean of e_r e_s over pairs of rows with the same model and a different respondent,
    var_residual   = mean of e^2 - var_respondent - var_model (what is left: interactions and noise).

Each pair sum is cheap from per-group sums: sum over pairs in a group = (sum e)^2 - sum e^2. Negative
moment estimates (possible in finite samples) are set to 0. Shares are of the residual variance; summary.json
also gives the regression's R^2 so that the fixed effects' share of the total can be read alongside.
"""

from __future__ import annotations

import numpy as np


def _pair_sum(residual: np.ndarray, group: np.ndarray, n_groups: int) -> tuple[float, float]:
    """Sum over ordered pairs of distinct rows sharing ``group`` of e_r e_s, and the number of such pairs."""
    sums = np.bincount(group, weights=residual, minlength=n_groups)
    squares = np.bincount(group, weights=residual ** 2, minlength=n_groups)
    counts = np.bincount(group, minlength=n_groups).astype(float)
    return float(np.sum(sums ** 2 - squares)), float(np.sum(counts * (counts - 1)))


def variance_shares(y: np.ndarray, fitted: np.ndarray, respondent: np.ndarray, model: np.ndarray) -> dict:
    """Shares (respondent, model, residual) of the residual variance, and the regression's R^2."""
    residual = y - fitted
    n_respondents, n_models = int(respondent.max()) + 1, int(model.max()) + 1
    pair = respondent.astype(np.int64) * n_models + model
    same_r, pairs_r = _pair_sum(residual, respondent, n_respondents)
    same_m, pairs_m = _pair_sum(residual, model, n_models)
    same_rm, pairs_rm = _pair_sum(residual, pair, n_respondents * n_models)
    # pairs of one respondent and one model (RQ2's conditions, RQ3's levels) are no evidence for either alone
    var_r = (same_r - same_rm) / (pairs_r - pairs_rm) if pairs_r > pairs_rm else 0.0
    var_m = (same_m - same_rm) / (pairs_m - pairs_rm) if pairs_m > pairs_rm else 0.0
    total = float(np.mean(residual ** 2))
    var_r, var_m = max(var_r, 0.0), max(var_m, 0.0)
    var_e = max(total - var_r - var_m, 0.0)
    scale = var_r + var_m + var_e
    y_var = float(np.var(y))
    return {"of": "residual variance after the fixed effects (method of moments, crossed respondent and model "
                  "intercepts)",
            "respondent": var_r / scale if scale > 0 else np.nan, "model": var_m / scale if scale > 0 else np.nan,
            "residual": var_e / scale if scale > 0 else np.nan,
            "variance": {"respondent": var_r, "model": var_m, "residual": var_e},
            "r_squared_fixed_effects": 1 - total / y_var if y_var > 0 else np.nan}
