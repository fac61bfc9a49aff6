"""OLS for the paper's factorial designs, from sufficient statistics, with better standard errors.

Every regression here has a design matrix whose rows depend only on the row's *cell* (the levels of its
factors). Then ``X'X = sum_c n_c x_c x_c'`` and ``X'y = sum_c x_c S_c`` (n_c rows, S_c their sum), the fitted
value of a row is ``x_c . beta`` and the residual sum of squares is the within-cell sum of squares plus
``sum_c n_c (mean_c - fitted_c)^2``. So 1.4 million rows cost a few ``bincount`` passes, not a 1.4M x 80
matrix. ``fit_statsmodels`` fits the same model the slow, obvious way; the tests hold the two equal.

Coding (the paper's): each two-level factor is +0.5 / -0.5 and then mean-centred over the rows of the
regression; interactions are products of the centred codes. An optional treatment-coded factor (RQ3's
``removed``) enters as 0/1 indicators of its non-reference levels, uncentred, and multiplies the others.

Reduced designs. When the data cannot separate a term (one origin, one language, respondents of one country,
...) the design leaves it out (``CellDesign.without``, ``identifiable``) and records why; the terms it fits
keep their names and R's order, so ``cosine ~ nationality`` is the full design's table minus the origin rows.

Standard errors. ``std_error`` is the classical OLS SE (what the paper reports). The rows are not
independent: each respondent appears once per model and condition, each model once per respondent, so the
classical SE is far too small for effects that vary between models. Extra columns:

- ``se_cluster_respondent``, ``se_cluster_model``: cluster-robust (sandwich) SEs, one-way, with the usual
  small-sample factor G/(G-1) * (N-1)/(N-K) (statsmodels' default).
- ``se_twoway``: Cameron, Gelbach & Miller (2011) two-way clustering, V = V_resp + V_model - V_resp&model,
  each part with its own small-sample factor (as statsmodels' ``cov_cluster_2groups``). If a diagonal
  element comes out negative (possible in finite samples) the SE is NaN rather than a made-up number.
- ``p_twoway``: from a t distribution with min(G_resp, G_model) - 1 degrees of freedom: with ~20 models the
  number of model clusters, not of rows, limits what the data can say.
- ``boot_se_models``, ``boot_ci_low``, ``boot_ci_high``: a bootstrap over models, resampling models with
  replacement within each origin (so every replicate keeps both origins), refitting from the per-model cell
  statistics (codes re-centred in each replicate); SE = SD of the replicates, CI = 2.5/97.5 percentiles.
  It answers "would this effect hold for another draw of models from the same makers' countries?".
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from itertools import combinations

import numpy as np
import pandas as pd

from whosevalues.special import t_sf

BASE_COLUMNS = ["term", "estimate", "std_error", "t_value", "p_value"]
ROBUST_COLUMNS = ["se_cluster_respondent", "se_cluster_model", "se_twoway", "p_twoway",
                  "boot_se_models", "boot_ci_low", "boot_ci_high"]


@dataclass
class CellDesign:
    """The design of a factorial regression, one row per cell.

    ``codes``: cells x factors, raw sum codes (+0.5 / -0.5) of the centred factors, named ``factors``.
    ``level``: per cell, the index into ``levels`` of the treatment-coded factor ``indicator`` (-1: its
    reference level), or None when there is no such factor.
    ``dropped``: term name -> why it is not fitted (the data cannot separate it); the other terms are fitted.
    ``main_only``: factors that enter as main effects only (covariates), never in an interaction:
    ``cosine ~ a * b + covariate``.
    ``one_factor``: the sum-code columns of one factor with more than two levels (RQ2's
    ``nationality[<country>]`` with three or more countries): crossed with the other factors, never with
    each other (their product is no contrast of the factor).
    """

    codes: np.ndarray
    factors: list[str]
    indicator: str | None = None
    level: np.ndarray | None = None
    levels: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)
    main_only: tuple[str, ...] = ()
    one_factor: tuple[str, ...] = ()

    @property
    def n_cells(self) -> int:
        return len(self.codes)

    def all_terms(self) -> list[tuple[tuple[str, ...], int | None]]:
        """Every term of the full design in R's order (by degree, then factor order):
        (centred factors, indicator level or None)."""
        slots = list(self.factors) + ([self.indicator] if self.indicator else [])
        terms: list[tuple[tuple[str, ...], int | None]] = [((), None)]
        for degree in range(1, len(slots) + 1):
            for combo in combinations(slots, degree):
                if degree > 1 and any(name in self.main_only for name in combo):
                    continue
                if sum(name in self.one_factor for name in combo) > 1:
                    continue
                centred = tuple(name for name in combo if name != self.indicator)
                if self.indicator in combo:
                    terms.extend((centred, level) for level in range(len(self.levels)))
                else:
                    terms.append((centred, None))
        return terms

    def term_name(self, term: tuple[tuple[str, ...], int | None]) -> str:
        centred, level = term
        parts = list(centred) + ([f"{self.indicator}[{self.levels[level]}]"] if level is not None else [])
        return ":".join(parts) if parts else "Intercept"

    def terms(self) -> list[tuple[tuple[str, ...], int | None]]:
        """The fitted terms: the full design's, minus ``dropped``, in the same order."""
        return [term for term in self.all_terms() if self.term_name(term) not in self.dropped]

    def term_names(self) -> list[str]:
        return [self.term_name(term) for term in self.terms()]

    def terms_with(self, factor: str) -> list[str]:
        """Names of the full design's terms that involve ``factor`` (a centred factor or the indicator)."""
        return [self.term_name(t) for t in self.all_terms()
                if factor in t[0] or (factor == self.indicator and t[1] is not None)]

    def without(self, reasons: dict[str, str]) -> "CellDesign":
        """The same design not fitting the terms in ``reasons`` (term name -> why)."""
        unknown = set(reasons) - {self.term_name(t) for t in self.all_terms()}
        if unknown:
            raise ValueError(f"no term(s) {sorted(unknown)} in this design")
        return replace(self, dropped={**self.dropped, **reasons})

    def formula(self) -> str:
        """The fitted model in R's notation: ``cosine ~ a * b`` when the kept terms are a full product."""
        names = self.term_names()
        centred = [f for f in self.factors if f in names and f not in self.main_only]
        covariates = [f for f in self.factors if f in names and f in self.main_only]
        indicator = self.indicator if self.indicator and any(
            n.startswith(f"{self.indicator}[") and ":" not in n for n in names) else None
        product = replace(self, factors=centred + covariates,
                          codes=self.codes[:, [self.factors.index(f) for f in centred + covariates]],
                          indicator=indicator, dropped={})
        if sorted(product.term_names()) == sorted(names):
            shown = [f for f in centred if f not in self.one_factor]
            shown += [self.one_factor[0].partition("[")[0]] if any(f in self.one_factor for f in centred) else []
            crossed = " * ".join(shown + ([indicator] if indicator else []))
            return "cosine ~ " + " + ".join([crossed] * bool(crossed) + covariates or ["1"])
        return "cosine ~ " + " + ".join(n for n in names if n != "Intercept")

    def matrix(self, counts: np.ndarray) -> np.ndarray:
        """cells x terms design matrix, codes centred over the rows (cell counts ``counts``)."""
        total = counts.sum()
        centred = self.codes - (counts @ self.codes) / total if total > 0 else self.codes
        uses, indicator = self._structure()
        # column t = product of the centred codes the term uses (x^0 = 1 for the others) x its indicator
        return np.prod(np.where(uses[None], centred[:, None, :], 1.0), axis=2) * indicator

    def _structure(self) -> tuple[np.ndarray, np.ndarray]:  # cached per instance; ``without`` makes a new one
        """Which factors each term multiplies (terms x factors) and its indicator column (cells x terms)."""
        if getattr(self, "_cached", None) is None:
            terms = self.terms()
            uses = np.array([[name in factors for name in self.factors] for factors, _ in terms], dtype=bool)
            indicator = np.ones((self.n_cells, len(terms)))
            for t, (_, level) in enumerate(terms):
                if level is not None:
                    indicator[:, t] = self.level == level
            self._cached = (uses.reshape(len(terms), len(self.factors)), indicator)
        return self._cached


def identifiable(design: CellDesign, counts: np.ndarray, factor_reasons: dict[str, str] | None = None,
                 ) -> CellDesign:
    """The design reduced to the terms these rows can estimate, each dropped term with its reason.

    ``counts``: rows per cell. ``factor_reasons``: factors the caller knows the data cannot contrast (one
    origin, ...), with the reason; all their terms go. Then a factor constant over the rows, an indicator
    level with no rows, and finally any term collinear with the terms kept before it (R's order, so main
    effects are kept before their interactions) are dropped too.
    """
    drop: dict[str, str] = {}
    for factor, reason in (factor_reasons or {}).items():
        for name in design.terms_with(factor):
            drop.setdefault(name, reason)
    observed = counts > 0
    for index, factor in enumerate(design.factors):
        if len(np.unique(design.codes[observed, index])) < 2:
            for name in design.terms_with(factor):
                drop.setdefault(name, f"{factor} takes one value in every row")
    if design.indicator is not None:
        for index, level in enumerate(design.levels):
            if not (observed & (design.level == index)).any():
                for term in design.all_terms():
                    if term[1] == index:
                        drop.setdefault(design.term_name(term), f"no rows with {design.indicator} {level}")
    design = design.without(drop)
    weighted = design.matrix(counts)[observed] * np.sqrt(counts[observed])[:, None]
    kept: list[int] = []
    collinear = {}
    for column, name in enumerate(design.term_names()):
        if np.linalg.matrix_rank(weighted[:, kept + [column]]) == len(kept) + 1:
            kept.append(column)
        else:
            collinear[name] = "collinear with the terms fitted before it: these rows cannot separate it"
    return design.without(collinear) if collinear else design


@dataclass
class Fit:
    beta: np.ndarray
    se: np.ndarray
    sigma2: float
    df_resid: int
    X: np.ndarray  # cells x terms
    bread: np.ndarray  # (X'X)^-1
    fitted_cell: np.ndarray


def cell_statistics(y: np.ndarray, cell: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Per-cell counts and sums, and the total within-cell sum of squares (two-pass, numerically stable)."""
    counts = np.bincount(cell, minlength=n_cells).astype(float)
    sums = np.bincount(cell, weights=y, minlength=n_cells)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, 0.0)
    within = float(np.sum((y - means[cell]) ** 2))
    return counts, sums, within


def fit_cells(design: CellDesign, counts: np.ndarray, sums: np.ndarray, within_ss: float) -> Fit:
    """OLS estimates and classical SEs from per-cell counts, sums and the within-cell sum of squares."""
    X = design.matrix(counts)
    xtx = X.T @ (X * counts[:, None])
    xty = X.T @ sums
    if np.linalg.matrix_rank(xtx) < X.shape[1]:
        raise ValueError("the design is rank deficient (some factor combination has no rows): "
                         "the data cannot separate these effects")
    bread = np.linalg.inv(xtx)
    beta = bread @ xty
    fitted = X @ beta
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), 0.0)
    rss = within_ss + float(np.sum(counts * (means - fitted) ** 2))
    n, p = counts.sum(), X.shape[1]
    df_resid = int(n - p)
    sigma2 = rss / df_resid
    return Fit(beta=beta, se=standard_errors(np.diag(bread) * sigma2), sigma2=sigma2, df_resid=df_resid, X=X,
               bread=bread, fitted_cell=fitted)


def standard_errors(variances: np.ndarray) -> np.ndarray:
    """sqrt of each variance; NaN (undefined) where a variance is negative or NaN, as np.sqrt gives, but without
    the RuntimeWarning that would leak into the user's terminal (a cluster-robust diagonal can dip below 0)."""
    variances = np.asarray(variances, dtype=float)
    safe = np.where(variances >= 0, variances, 0.0)
    return np.where(variances >= 0, np.sqrt(safe), np.nan)


def cluster_cov(fit: Fit, residual: np.ndarray, cell: np.ndarray, groups: np.ndarray,
                n_groups: int | None = None) -> tuple[np.ndarray, int]:
    """One-way cluster-robust covariance (statsmodels' small-sample factor) and the number of clusters.

    ``groups``: non-negative integer cluster codes. The scores of a cluster are sum_c E_gc x_c (E_gc: the
    summed residuals of the cluster's rows in cell c), so the meat is X' (E'E) X with E'E only cells x cells.
    """
    groups = np.asarray(groups, dtype=np.int64)
    n_groups = int(groups.max()) + 1 if n_groups is None else n_groups
    n_cells = len(fit.X)
    flat = groups * n_cells + cell
    per_group_cell = np.bincount(flat, weights=residual, minlength=n_groups * n_cells).reshape(n_groups, n_cells)
    present = np.bincount(groups, minlength=n_groups) > 0
    per_group_cell = per_group_cell[present]
    clusters = int(present.sum())
    meat = fit.X.T @ (per_group_cell.T @ per_group_cell) @ fit.X
    n, p = len(residual), fit.X.shape[1]
    factor = clusters / (clusters - 1) * (n - 1) / (n - p) if clusters > 1 else np.nan
    return factor * fit.bread @ meat @ fit.bread, clusters


def robust_columns(fit: Fit, y: np.ndarray, cell: np.ndarray, respondent: np.ndarray,
                   model: np.ndarray) -> dict[str, np.ndarray]:
    residual = y - fit.fitted_cell[cell]
    cov_r, g_r = cluster_cov(fit, residual, cell, respondent)
    cov_m, g_m = cluster_cov(fit, residual, cell, model)
    n_models = int(model.max()) + 1
    pair = respondent.astype(np.int64) * n_models + model
    cov_rm, _ = cluster_cov(fit, residual, cell, pair, n_groups=(int(respondent.max()) + 1) * n_models)
    var_two = np.diag(cov_r + cov_m - cov_rm)
    with np.errstate(invalid="ignore"):
        se_two = np.where(var_two > 0, np.sqrt(np.abs(var_two)), np.nan)
    df = max(min(g_r, g_m) - 1, 1)
    p_two = 2 * t_sf(np.abs(fit.beta / se_two), df)
    return {"se_cluster_respondent": standard_errors(np.diag(cov_r)),
            "se_cluster_model": standard_errors(np.diag(cov_m)),
            "se_twoway": se_two, "p_twoway": p_two}


def bootstrap_models(design: CellDesign, y: np.ndarray, cell: np.ndarray, model: np.ndarray,
                     model_stratum: np.ndarray, replicates: int = 1999, seed: int = 0) -> dict[str, np.ndarray]:
    """Bootstrap over models within strata (origin): SE and percentile CI of each estimate.

    ``model``: per row, the model index (0..M-1); ``model_stratum``: per model, its stratum.
    """
    n_terms = len(design.term_names())
    empty = {"boot_se_models": np.full(n_terms, np.nan), "boot_ci_low": np.full(n_terms, np.nan),
             "boot_ci_high": np.full(n_terms, np.nan)}
    n_models, n_cells = len(model_stratum), design.n_cells
    if replicates <= 1 or n_models < 2:
        return empty
    flat = model.astype(np.int64) * n_cells + cell
    counts_mc = np.bincount(flat, minlength=n_models * n_cells).reshape(n_models, n_cells).astype(float)
    sums_mc = np.bincount(flat, weights=y, minlength=n_models * n_cells).reshape(n_models, n_cells)
    weights = _stratified_weights(model_stratum, replicates, seed)
    counts_b, sums_b = weights @ counts_mc, weights @ sums_mc
    total = counts_mc.sum(axis=0)
    if np.allclose(counts_b, total, rtol=0, atol=1e-9):
        # Every model of a stratum has the same rows per cell (all respondents, every condition), so each
        # replicate keeps the cell counts and thus the design matrix: its estimates are one linear map.
        X = design.matrix(total)
        projection = np.linalg.solve(X.T @ (X * total[:, None]), X.T)
        estimates = sums_b @ projection.T
    else:
        estimates = _refit_each(design, counts_b, sums_b)
    good = ~np.isnan(estimates).any(axis=1)
    if good.sum() < 2:
        return empty
    kept = estimates[good]
    return {"boot_se_models": kept.std(axis=0, ddof=1),
            "boot_ci_low": np.percentile(kept, 2.5, axis=0), "boot_ci_high": np.percentile(kept, 97.5, axis=0)}


def _stratified_weights(model_stratum: np.ndarray, replicates: int, seed: int) -> np.ndarray:
    """replicates x models: how often each model is drawn, resampling with replacement within strata."""
    rng = np.random.default_rng(seed)
    n_models = len(model_stratum)
    weights = np.zeros((replicates, n_models))
    for stratum in np.unique(model_stratum):
        members = np.flatnonzero(model_stratum == stratum)
        size = len(members)
        draws = rng.integers(0, size, size=(replicates, size))
        flat = (np.arange(replicates)[:, None] * size + draws).ravel()
        weights[:, members] = np.bincount(flat, minlength=replicates * size).reshape(replicates, size)
    return weights


def _refit_each(design: CellDesign, counts_b: np.ndarray, sums_b: np.ndarray) -> np.ndarray:
    """Estimates per replicate when the replicates' cell counts differ (NaN for one that lost a cell)."""
    estimates = np.full((len(counts_b), len(design.term_names())), np.nan)
    for b in range(len(counts_b)):
        X = design.matrix(counts_b[b])
        xtx = X.T @ (X * counts_b[b][:, None])
        try:
            estimates[b] = np.linalg.solve(xtx, X.T @ sums_b[b])
        except np.linalg.LinAlgError:
            continue  # a replicate that lost a whole cell cannot estimate every term
        if np.linalg.cond(xtx) > 1e12:
            estimates[b] = np.nan
    return estimates


def regression_table(design: CellDesign, y: np.ndarray, cell: np.ndarray, respondent: np.ndarray,
                     model: np.ndarray, model_stratum: np.ndarray, *, bootstrap: int = 1999,
                     seed: int = 0) -> pd.DataFrame:
    """The full table: term, estimate, std_error, t_value, p_value, then the robust columns."""
    counts, sums, within = cell_statistics(y, cell, design.n_cells)
    fit = fit_cells(design, counts, sums, within)
    t_value = fit.beta / fit.se
    table = pd.DataFrame({"term": design.term_names(), "estimate": fit.beta, "std_error": fit.se,
                          "t_value": t_value, "p_value": 2 * t_sf(np.abs(t_value), fit.df_resid)})
    for name, values in robust_columns(fit, y, cell, respondent, model).items():
        table[name] = values
    for name, values in bootstrap_models(design, y, cell, model, model_stratum, bootstrap, seed).items():
        table[name] = values
    return table[BASE_COLUMNS + ROBUST_COLUMNS]


def design_frame(design: CellDesign, cell: np.ndarray) -> pd.DataFrame:
    """The row-level design matrix (rows x terms) built the obvious way, for checking against statsmodels."""
    counts = np.bincount(cell, minlength=design.n_cells).astype(float)
    return pd.DataFrame(design.matrix(counts)[cell], columns=design.term_names())


def fit_statsmodels(design: CellDesign, y: np.ndarray, cell: np.ndarray, groups: np.ndarray | None = None):
    """The same regression with statsmodels OLS on the row-level matrix (slow; for tests and checks).

    ``groups``: None (classical), a 1-D array (one-way clusters) or an (n, 2) array (two-way clusters).
    """
    import statsmodels.api as sm

    X = design_frame(design, cell)
    model = sm.OLS(np.asarray(y, dtype=float), X)
    if groups is None:
        return model.fit()
    return model.fit(cov_type="cluster", cov_kwds={"groups": groups})
