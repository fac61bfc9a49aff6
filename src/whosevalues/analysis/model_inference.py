"""Inference with the model as the unit: wild cluster bootstrap, permutation of origin labels, CR2.

Why. Origin (and each of its interactions) varies only between models, and a study has 14-20 of them. The
hundreds of thousands of rows say little about a term whose effective sample size is the number of models,
so each RQ table carries, after the contract's five columns:

- ``p_wild_model``: wild cluster *restricted* bootstrap by model (WCR; Cameron, Gelbach and Miller 2008;
  Roodman et al. 2019's "fast and wild"), Webb six-point weights, the t statistic studentised with the
  CR1 model-clustered SE; p = (1 + #{|t*| >= |t|}) / (B + 1), as the permutation test's Monte Carlo p: the
  observed statistic counts as one of the draws, so p is never 0 (``wildboottest`` counts > only and no +1,
  which differs on the ties that the weights w = +-1, reproducing the data, always make).
- ``p_perm_model``: permutation of the models' origin labels, the number of models per origin kept. Every
  assignment when there are at most ``exact_limit`` of them, else a Monte Carlo sample; statistic |estimate|;
  p = share of assignments (the observed one included) at least as extreme. NaN for terms without origin.
- ``se_cr2_model``, ``df_satterthwaite``, ``p_cr2_model``: the CR2 bias-reduced cluster-robust SE (Bell and
  McCaffrey 2002) with the Satterthwaite degrees of freedom of Pustejovsky and Tipton (2018), working model
  independent homoskedastic errors (clubSandwich's default for OLS).

How, cheaply. Every design row depends only on its cell, so each of these needs only the per model x cell
counts and sums (``ModelCells``), never the rows: a replicate of the wild bootstrap is a weighted sum over
models of per-model score vectors; CR2's (I - H_gg)^(-1/2) acts on the K-dimensional column space of the
model's rows, so it is a K x K eigen-decomposition per model; a permuted origin label moves a model's cell
sums to the cells with the other origin code.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

import numpy as np

from whosevalues.analysis.ols import CellDesign
from whosevalues.special import t_sf

WEBB = np.array([-np.sqrt(1.5), -1.0, -np.sqrt(0.5), np.sqrt(0.5), 1.0, np.sqrt(1.5)])
MODEL_COLUMNS = ["p_wild_model", "p_perm_model", "se_cr2_model", "df_satterthwaite", "p_cr2_model"]


@dataclass(frozen=True)
class InferenceOptions:
    """Replicates and seed of the resampling methods (defaults: what the docs promise)."""

    bootstrap: int = 1999  # bootstrap over models within origins (boot_se_models, boot_ci_*)
    wild: int = 9999  # wild cluster restricted bootstrap by model
    permutations: int = 9999  # Monte Carlo permutations when the exact set is too large
    exact_limit: int = 200_000  # enumerate every origin assignment up to this many
    seed: int = 0


@dataclass
class ModelCells:
    """Per model x cell counts and sums of one regression, and its fit."""

    design: CellDesign
    counts: np.ndarray  # models x cells
    sums: np.ndarray  # models x cells

    @classmethod
    def from_rows(cls, design: CellDesign, y: np.ndarray, cell: np.ndarray, model: np.ndarray,
                  n_models: int | None = None) -> "ModelCells":
        n_models = int(model.max()) + 1 if n_models is None else n_models
        n_cells = design.n_cells
        flat = model.astype(np.int64) * n_cells + cell
        counts = np.bincount(flat, minlength=n_models * n_cells).reshape(n_models, n_cells).astype(float)
        sums = np.bincount(flat, weights=y, minlength=n_models * n_cells).reshape(n_models, n_cells)
        present = counts.sum(axis=1) > 0  # a model without rows is no cluster
        cells = cls(design, counts[present], sums[present])
        cells.present = present
        return cells

    def __post_init__(self) -> None:
        self.present = np.ones(len(self.counts), dtype=bool)  # which of the caller's models are clusters
        self.X = self.design.matrix(self.counts.sum(axis=0))
        self.n = float(self.counts.sum())
        xtx = self.X.T @ (self.X * self.counts.sum(axis=0)[:, None])
        self.bread = np.linalg.inv(xtx)
        self.beta = self.bread @ (self.X.T @ self.sums.sum(axis=0))
        self.residual_sums = self.sums - self.counts * (self.X @ self.beta)  # models x cells

    @property
    def n_models(self) -> int:
        return len(self.counts)

    @property
    def n_terms(self) -> int:
        return self.X.shape[1]

    def cr1_factor(self) -> float:
        g, k = self.n_models, self.n_terms
        return g / (g - 1) * (self.n - 1) / (self.n - k) if g > 1 else np.nan

    def cr1_se(self) -> np.ndarray:
        scores = self.residual_sums @ self.X  # models x terms
        cov = self.cr1_factor() * self.bread @ (scores.T @ scores) @ self.bread
        return np.sqrt(np.clip(np.diag(cov), 0, None))

    def hessians(self) -> np.ndarray:
        """Per model X_g'X_g (models x terms x terms)."""
        return np.einsum("ck,gc,cl->gkl", self.X, self.counts, self.X)


# -- wild cluster restricted bootstrap ----------------------------------------------------------------

def webb_weights(replicates: int, n_models: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice(WEBB, size=(replicates, n_models))


def _restricted_scores(cells: ModelCells, dropped: list[int]) -> np.ndarray:
    """Per-model score vectors X_g'u~_g (models x terms) of the fit without the ``dropped`` columns."""
    keep = [k for k in range(cells.n_terms) if k not in dropped]
    total_counts, total_sums = cells.counts.sum(axis=0), cells.sums.sum(axis=0)
    Xr = cells.X[:, keep]
    beta_r = np.linalg.solve(Xr.T @ (Xr * total_counts[:, None]), Xr.T @ total_sums)
    restricted = cells.sums - cells.counts * (Xr @ beta_r)  # models x cells
    return restricted @ cells.X


def wild_bootstrap_p(cells: ModelCells, weights: np.ndarray) -> np.ndarray:
    """WCR p value of each term (H0: that coefficient is 0), clusters = models. ``weights``: replicates x models.

    Under the restricted fit (term k removed) with per-model scores P_g = X_g'u~_g, a replicate with model
    weights w has beta*_k = sum_g w_g q_g (q_g = a_k'P_g, a_k row k of (X'X)^-1) and per-model scores of its
    own residuals whose k-th sandwich component is w_g q_g - sum_h M_gh w_h with M_gh = a_k' X_g'X_g a_h'P_h.
    """
    se = cells.cr1_se()
    with np.errstate(invalid="ignore", divide="ignore"):
        t_observed = cells.beta / se
    factor = cells.cr1_factor()
    hessians = cells.hessians()
    p = np.full(cells.n_terms, np.nan)
    if cells.n_models < 2 or weights.size == 0:
        return p
    for k in range(cells.n_terms):
        scores = _restricted_scores(cells, [k])  # models x terms
        a_k = cells.bread[k]
        q = scores @ a_k  # models
        M = (hessians @ a_k) @ cells.bread @ scores.T  # models x models
        numerator = weights @ q
        per_model = weights * q - weights @ M.T
        denominator = np.sqrt(factor * np.einsum("bg,bg->b", per_model, per_model))
        with np.errstate(invalid="ignore", divide="ignore"):
            t_star = numerator / denominator
        if np.isfinite(t_observed[k]):
            # >= (with rounding room): the weights w = +-1 reproduce the data, so |t*| = |t| is a real tie
            p[k] = monte_carlo_p(np.abs(t_star) >= abs(t_observed[k]) * (1 - 1e-10))
    return p


def monte_carlo_p(as_extreme: np.ndarray) -> float:
    """(1 + #replicates at least as extreme) / (B + 1): the observed statistic is one draw of its own null
    distribution, so a p value from B replicates is never below 1 / (B + 1) (never 0)."""
    return float((1 + np.count_nonzero(as_extreme)) / (len(as_extreme) + 1))


def wild_bootstrap_joint(cells: ModelCells, terms: list[int], weights: np.ndarray) -> tuple[float, float]:
    """Joint test of ``terms`` = 0 by wild cluster restricted bootstrap (clusters = models).

    Statistic: the Wald quadratic form beta_F' [(X'X)^-1]_FF^-1 beta_F (the classical F up to sigma^2). It
    needs no cluster-robust covariance of the family, which is singular when the family has more terms
    than there are models; the bootstrap under the null supplies its distribution. Returns (statistic, p).
    """
    weight_matrix = np.linalg.inv(cells.bread[np.ix_(terms, terms)])
    observed = float(cells.beta[terms] @ weight_matrix @ cells.beta[terms])
    scores = _restricted_scores(cells, terms)
    shifts = weights @ (scores @ cells.bread[terms].T)  # replicates x family: beta*_F
    replicated = np.einsum("bi,ij,bj->b", shifts, weight_matrix, shifts)
    return observed, monte_carlo_p(replicated >= observed * (1 - 1e-10))


# -- permutation of origin labels -----------------------------------------------------------------

def origin_flip(design: CellDesign) -> np.ndarray | None:
    """Per cell, the cell its rows move to when their model's origin label flips (origin code negated)."""
    if "origin" not in design.factors:
        return None
    column = design.factors.index("origin")
    level = design.level if design.level is not None else np.zeros(design.n_cells, dtype=int)
    key = {(tuple(np.round(codes, 9)), int(lv)): c for c, (codes, lv) in enumerate(zip(design.codes, level))}
    flip = np.empty(design.n_cells, dtype=np.int64)
    for c, (codes, lv) in enumerate(zip(design.codes, level)):
        target = codes.copy()
        target[column] = -target[column]
        found = key.get((tuple(np.round(target, 9)), int(lv)))
        if found is None:
            return None
        flip[c] = found
    return flip


@lru_cache(maxsize=8)
def _all_assignments(n_models: int, n_first: int) -> np.ndarray:
    """Every way to label ``n_first`` of ``n_models`` models with the first origin (assignments x models)."""
    if n_models <= 22:  # vectorised: the integers below 2^G with n_first bits set, as rows of bits
        numbers = np.arange(1 << n_models, dtype=np.uint32)
        numbers = numbers[_popcount(numbers) == n_first]
        return ((numbers[:, None] >> np.arange(n_models, dtype=np.uint32)) & 1).astype(np.int8)
    chosen = np.fromiter((i for combo in combinations(range(n_models), n_first) for i in combo), dtype=np.int32,
                         count=comb(n_models, n_first) * n_first).reshape(-1, n_first)
    labels = np.zeros((len(chosen), n_models), dtype=np.int8)
    np.put_along_axis(labels, chosen.astype(np.int64), 1, axis=1)
    return labels


def _popcount(numbers: np.ndarray) -> np.ndarray:
    if hasattr(np, "bitwise_count"):  # numpy >= 2.0
        return np.bitwise_count(numbers)
    count = np.zeros(len(numbers), dtype=np.uint8)
    for shift in range(32):
        count += ((numbers >> np.uint32(shift)) & 1).astype(np.uint8)
    return count


def origin_assignments(labels: np.ndarray, exact_limit: int, replicates: int, seed: int
                       ) -> tuple[np.ndarray, bool]:
    """The origin labellings to compare with (assignments x models, 0/1) and whether they are all of them."""
    n_models, n_first = len(labels), int(labels.sum())
    if comb(n_models, n_first) <= exact_limit:
        return _all_assignments(n_models, n_first), True
    rng = np.random.default_rng(seed)
    return rng.permuted(np.tile(labels.astype(np.int8), (replicates, 1)), axis=1), False


def permutation_p(cells: ModelCells, labels: np.ndarray, terms: list[int], *, exact_limit: int = 200_000,
                  replicates: int = 9999, seed: int = 0, chunk: int = 20_000) -> tuple[np.ndarray, int, bool]:
    """Permutation p of each term in ``terms`` (others NaN) over relabellings of the models' origins.

    ``labels``: per model (ModelCells order), 1 for the origin coded +0.5 in RQ1/RQ3 (the first origin).
    Returns (p per term, number of assignments used, exact?).
    """
    p = np.full(cells.n_terms, np.nan)
    flip = origin_flip(cells.design)
    if flip is None or not terms or len(set(labels.tolist())) < 2:
        return p, 0, False
    labels = np.asarray(labels)
    assignments, exact = origin_assignments(labels, exact_limit, replicates, seed)
    delta_counts = cells.counts[:, flip] - cells.counts  # what flipping each model adds to the cells
    delta_sums = cells.sums[:, flip] - cells.sums
    observed = np.abs(cells.beta[terms])
    tolerance = 1e-9 * np.maximum(observed, 1e-15)
    as_extreme = np.zeros(len(terms))
    counts_stay = _counts_invariant(delta_counts, labels)
    if counts_stay:  # estimates are linear in which models flip: beta(z) = beta + z @ (dS (X'NX)^-1 X')'
        shift = delta_sums @ (cells.bread @ cells.X.T)[terms].T  # models x terms
    total_counts, total_sums = cells.counts.sum(axis=0), cells.sums.sum(axis=0)
    for start in range(0, len(assignments), chunk):
        flipped = (assignments[start:start + chunk] != labels[None, :]).astype(float)
        if counts_stay:
            estimates = cells.beta[terms] + flipped @ shift
        else:
            estimates = _refit(cells.design, total_counts + flipped @ delta_counts,
                               total_sums + flipped @ delta_sums)[:, terms]
        as_extreme += (np.abs(estimates) >= observed - tolerance).sum(axis=0)
    n = len(assignments)
    p[terms] = as_extreme / n if exact else (1 + as_extreme) / (n + 1)
    return p, n, exact


def _counts_invariant(delta_counts: np.ndarray, labels: np.ndarray) -> bool:
    """True when every relabelling keeping the number of models per origin leaves the cell counts unchanged:
    all models of one label change the counts alike, and a model of the other label by the opposite
    (every model has the same rows per condition, as in RQ1-RQ3). A relabelling flips as many models one
    way as the other, so their changes cancel."""
    ones, zeros = delta_counts[labels == 1], delta_counts[labels == 0]
    if not len(ones) or not len(zeros):
        return True
    return bool(np.allclose(ones, ones[0], rtol=0, atol=1e-9) and np.allclose(zeros, zeros[0], rtol=0, atol=1e-9)
                and np.allclose(ones[0], -zeros[0], rtol=0, atol=1e-9))


def _refit(design: CellDesign, counts: np.ndarray, sums: np.ndarray) -> np.ndarray:
    """Estimates for each row of counts/sums (assignments x cells), when relabelling changes the counts."""
    out = np.full((len(counts), len(design.term_names())), np.nan)
    for i, (n, s) in enumerate(zip(counts, sums)):
        X = design.matrix(n)
        try:
            out[i] = np.linalg.solve(X.T @ (X * n[:, None]), X.T @ s)
        except np.linalg.LinAlgError:
            continue
    return out


# -- CR2 with Satterthwaite degrees of freedom ---------------------------------------------------------

def _symmetric_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _leverage_functions(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For eigenvalues lambda of H_gg: ((1-l)^-1/2 - 1)/l and ((1-l)^-1 - 1)/l, with the generalised inverse
    (a leverage of 1 contributes 0 to the inverse) and the limits 1/2 and 1 at l = 0."""
    values = np.clip(values, 0.0, 1.0)
    one = values >= 1 - 1e-10
    small = values < 1e-12
    safe = np.where(one | small, 0.5, values)
    half = np.where(small, 0.5, np.where(one, -1 / np.where(one, values, 1), ((1 - safe) ** -0.5 - 1) / safe))
    full = np.where(small, 1.0, np.where(one, -1 / np.where(one, values, 1), ((1 - safe) ** -1 - 1) / safe))
    return half, full


def cr2(cells: ModelCells) -> dict[str, np.ndarray]:
    """CR2 SE, Satterthwaite df and p of every term, clusters = models.

    With Z_g = X_g B^1/2 (B = (X'X)^-1) and Z_g'Z_g = V diag(l) V', any f(H_gg) = I + Z_g V diag((f(l)-1)/l)
    V' Z_g' on the rows of model g: the adjusted score X_g' A_g e_g = P_g + H_g T_g P_g with H_g = X_g'X_g,
    T_g = B^1/2 V diag(((1-l)^-1/2 - 1)/l) V' B^1/2. For the df, with p_g = A_g X_g B c and u_g = (I - H) p_g,
    u_g'u_h = [g = h] p_g'p_g - m_g' B m_h where m_g = X'p_g; df = (sum_g u_g'u_g)^2 / sum_gh (u_g'u_h)^2.
    """
    n_terms = cells.n_terms
    empty = {"se_cr2_model": np.full(n_terms, np.nan), "df_satterthwaite": np.full(n_terms, np.nan),
             "p_cr2_model": np.full(n_terms, np.nan)}
    if cells.n_models < 2:
        return empty
    bread, root = cells.bread, _symmetric_sqrt(cells.bread)
    hessians = cells.hessians()
    scores = cells.residual_sums @ cells.X  # models x terms
    adjusted = np.empty_like(scores)
    m = np.empty((cells.n_models, n_terms, n_terms))  # per model: columns m_g for each term's contrast
    pp = np.empty((cells.n_models, n_terms))  # per model and term: p_g'p_g
    for g, H in enumerate(hessians):
        values, vectors = np.linalg.eigh(root @ H @ root)
        half, full = _leverage_functions(values)
        T_half = root @ (vectors * half) @ vectors.T @ root
        T_full = root @ (vectors * full) @ vectors.T @ root
        adjusted[g] = scores[g] + H @ (T_half @ scores[g])
        m[g] = (H + H @ T_half @ H) @ bread
        pp[g] = np.einsum("kt,kl,lt->t", bread, H + H @ T_full @ H, bread)
    cov = bread @ (adjusted.T @ adjusted) @ bread
    se = np.sqrt(np.clip(np.diag(cov), 0, None))
    df = np.full(n_terms, np.nan)
    for t in range(n_terms):
        mt = m[:, :, t]
        cross = np.diag(pp[:, t]) - mt @ bread @ mt.T
        denominator = float(np.sum(cross ** 2))
        df[t] = float(np.trace(cross)) ** 2 / denominator if denominator > 0 else np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        p = 2 * t_sf(np.abs(cells.beta / se), df)
    return {"se_cr2_model": se, "df_satterthwaite": df, "p_cr2_model": p}


# -- the table columns ------------------------------------------------------------------------------

def model_level_columns(cells: ModelCells, labels: np.ndarray | None, options: InferenceOptions,
                        weights: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The five model-level columns, in MODEL_COLUMNS order. ``labels``: per model 0/1 origin label when
    the origin labels can be permuted (None: ``p_perm_model`` is NaN throughout)."""
    if weights is None:
        weights = webb_weights(options.wild, cells.n_models, options.seed)
    columns = {"p_wild_model": wild_bootstrap_p(cells, weights)}
    names = cells.design.term_names()
    origin_terms = [k for k, name in enumerate(names) if "origin" in name.split(":")]
    if labels is not None:
        labels = np.asarray(labels)[cells.present]
        columns["p_perm_model"], _, _ = permutation_p(cells, labels, origin_terms, exact_limit=options.exact_limit,
                                                      replicates=options.permutations, seed=options.seed)
    else:
        columns["p_perm_model"] = np.full(cells.n_terms, np.nan)
    columns.update(cr2(cells))
    return {name: columns[name] for name in MODEL_COLUMNS}
