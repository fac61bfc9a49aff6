"""RQ3's many comparisons: Holm and Benjamini-Hochberg adjustments and a joint Wald test per family.

RQ3 fits one term per removed dimension for each interaction (28 terms for MFQ-2: the intercept, the three
RQ1 terms and 6 x 4 per-foundation terms; 80 for WVS). The paper reads them one by one; here each family of
like terms is adjusted together:

- ``removed main effects``: ``removed[<dim>]``
- ``nationality interactions``: ``nationality:removed[<dim>]``
- ``origin interactions``: ``origin:removed[<dim>]``
- ``three-way terms``: ``nationality:origin:removed[<dim>]``

Columns added to the RQ3 table: ``p_holm`` and ``p_bh`` adjust the contract's ``p_value`` (the classical p)
within each family; ``p_holm_model`` and ``p_bh_model`` adjust ``p_wild_model`` the same way. Terms in no
family (the intercept, the RQ1 terms) get NaN. ``holm_in_family`` adjusts any p column of any RQ table the
same way (a term in no family is a family of its own: its p is unchanged); the conclusions use it.

Joint Wald test per family (H0: every term of the family is 0), in summary.json and the report:
- classical: F = b' [s^2 (X'X)^-1]_FF^-1 b / q on (q, N - K) degrees of freedom;
- model-level: the same quadratic form bootstrapped by the wild cluster restricted bootstrap by model
  (``model_inference.wild_bootstrap_joint``); a cluster-robust covariance of the family would be singular
  whenever the family has more terms than there are models (WVS: 19 terms, 14 models).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from whosevalues.analysis.model_inference import InferenceOptions, ModelCells, webb_weights, wild_bootstrap_joint
from whosevalues.special import f_sf

FAMILIES = {  # name -> the prefix its terms start with (no prefix is the start of another's terms)
    "removed main effects": "removed[",
    "nationality interactions": "nationality:removed[",
    "origin interactions": "origin:removed[",
    "three-way terms": "nationality:origin:removed[",
}
ADJUSTED_COLUMNS = ["p_holm", "p_bh", "p_holm_model", "p_bh_model"]


def holm_adjusted(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p values (as statsmodels' multipletests(method="holm"))."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    m = len(p)
    stepped = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p values (as statsmodels' multipletests(method="fdr_bh"))."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)[::-1]
    m = len(p)
    ranks = np.arange(m, 0, -1)
    stepped = np.minimum.accumulate(p[order] * m / ranks)
    out = np.empty(m)
    out[order] = np.minimum(stepped, 1.0)
    return out


def family_of(term: str) -> str | None:
    for family, prefix in FAMILIES.items():
        if term.startswith(prefix):
            return family
    return None


def holm_in_family(table: pd.DataFrame, term: str, column: str) -> tuple[float, str, int]:
    """``term``'s p in ``column`` after Holm's adjustment within its family of the same table, the family's
    name and its size (finite p values). A term in no family is a family of one: (its p, "", 1)."""
    return holm_in_families(table, column)(term)


def holm_in_families(table: pd.DataFrame, column: str) -> Callable[[str], tuple[float, str, int]]:
    """``holm_in_family(table, term, column)`` as a function of the term, each family adjusted once (a table's
    claims ask for many terms of the same families)."""
    rows = table.set_index("term")[column].astype(float) if column in table else pd.Series(dtype=float)
    names = list(rows.index)
    family_of_name = {name: family_of(name) for name in set(names)}
    adjusted_families: dict[str, tuple[pd.Series, int]] = {}

    def of(term: str) -> tuple[float, str, int]:
        p = float(rows.get(term, np.nan))
        family = family_of(term)
        if family is None or not np.isfinite(p):
            return p, family or "", 1
        if family not in adjusted_families:
            members = rows[[family_of_name[name] == family for name in names]]
            members = members[np.isfinite(members.to_numpy())]
            adjusted_families[family] = (pd.Series(holm_adjusted(members.to_numpy()), index=members.index),
                                         len(members))
        adjusted, size = adjusted_families[family]
        return float(adjusted[term]), family, size

    return of


def adjust(table: pd.DataFrame) -> pd.DataFrame:
    """The table with p_holm, p_bh (from p_value) and p_holm_model, p_bh_model (from p_wild_model)."""
    table = table.copy()
    families = table["term"].map(family_of)
    for column in ADJUSTED_COLUMNS:
        table[column] = np.nan
    for family in FAMILIES:
        rows = (families == family).to_numpy()
        for source, holm, bh in (("p_value", "p_holm", "p_bh"), ("p_wild_model", "p_holm_model", "p_bh_model")):
            if source not in table or not rows.any():
                continue
            p = table.loc[rows, source].to_numpy(dtype=float)
            finite = np.isfinite(p)
            if not finite.any():
                continue
            index = table.index[rows][finite]
            table.loc[index, holm] = holm_adjusted(p[finite])
            table.loc[index, bh] = benjamini_hochberg(p[finite])
    return table


def joint_tests(cells: ModelCells, sigma2: float, df_resid: int, options: InferenceOptions) -> list[dict]:
    """One record per family present in the design: terms, classical F and p, wild bootstrap statistic and p."""
    names = cells.design.term_names()
    weights = webb_weights(options.wild, cells.n_models, options.seed) if cells.n_models > 1 else None
    records = []
    for family in FAMILIES:
        terms = [k for k, name in enumerate(names) if family_of(name) == family]
        if not terms:
            continue
        beta = cells.beta[terms]
        quadratic = float(beta @ np.linalg.solve(cells.bread[np.ix_(terms, terms)], beta))
        f_value = quadratic / sigma2 / len(terms)
        record = {"family": family, "terms": [names[k] for k in terms], "q": len(terms),
                  "f_classical": f_value, "df": [len(terms), int(df_resid)],
                  "p_classical": float(f_sf(f_value, len(terms), df_resid)),
                  "wald_statistic": quadratic, "p_wild_model": np.nan, "wild_replicates": 0}
        if weights is not None and options.wild > 0:
            _, record["p_wild_model"] = wild_bootstrap_joint(cells, terms, weights)
            record["wild_replicates"] = options.wild
        records.append(record)
    return records
