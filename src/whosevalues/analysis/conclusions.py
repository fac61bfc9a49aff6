"""Which of the paper's conclusions hold: each claimed effect against each inference method.

``PAPER_CLAIMS`` lists what the paper's text claims (section, term, sign; a claimed null has sign 0); that
list is the paper's, everything else is computed from this run's RQ tables: the estimate, and the p value of
the term under each method (``METHODS``: classical as in the paper, two-way clustered by respondent and
model, wild cluster bootstrap by model, permutation of the models' origin labels, and CR2 with Satterthwaite
df). The verdict says whether the claim survives the model-level methods.

Multiplicity. Each p is judged after Holm's adjustment within its family (``families.FAMILIES``: RQ3's
``removed[*]`` main effects and each of its three interaction families), method by method; an RQ1 or RQ2
term is a pre-specified hypothesis of its own (a family of one, p unchanged). ``p_*`` columns are the raw
p values of the RQ tables, ``p_*_holm`` the adjusted ones the verdict reads.

Verdicts (``verdict``):
- a claimed effect *holds under every method* when its estimate has the claimed sign and every available
  method gives an adjusted p < .05; *classical only* when the classical p is significant and no model-level
  method is; *mixed* when some methods find it and others do not (the methods named); *does not hold* when
  the sign is the other one or no method finds it;
- a claimed null is never "holds" on non-significance alone: with no method significant it is *not shown*,
  with the model-level 95% CI (``ci_low_model``, ``ci_high_model``: CR2 with Satterthwaite df) that says
  which effects the data cannot rule out; *mixed* or *does not hold* when methods find an effect.
Terms without origin have no permutation p (the labels permuted are origins); the verdict then rests on the
other methods.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from whosevalues.analysis.families import holm_in_family
from whosevalues.special import t_ppf

ALPHA = 0.05
METHODS = {"classical": "p_value", "two-way clustered": "p_twoway", "wild bootstrap (models)": "p_wild_model",
           "permutation (origin labels)": "p_perm_model", "CR2 (Satterthwaite)": "p_cr2_model"}
CONCLUSION_COLUMNS = ["survey", "analysis", "term", "claim", "claimed_sign", "estimate", "p_classical",
                      "p_twoway", "p_wild_model", "p_perm_model", "p_cr2_model", "verdict", "holds_across_formats"]
# after the columns above (the verdict reads these): the Holm family, its size, the adjusted p per method,
# and the model-level 95% CI of the estimate
JUDGEMENT_COLUMNS = ["family", "family_size", "p_classical_holm", "p_twoway_holm", "p_wild_model_holm",
                     "p_perm_model_holm", "p_cr2_model_holm", "ci_low_model", "ci_high_model"]

# (survey, analysis, term, claimed sign, the claim in the paper's words)
PAPER_CLAIMS = [
    ("mfq2", "rq1", "nationality", -1, "LLMs resemble US more than Chinese respondents (4.1)"),
    ("mfq2", "rq1", "nationality:origin", 0, "no nationality x origin interaction, p > .7 (4.1)"),
    ("mfq2", "rq2", "language", 1, "congruent prompt language raises similarity (4.2)"),
    ("mfq2", "rq2", "persona", 1, "congruent persona raises similarity (4.2)"),
    ("mfq2", "rq2", "origin", 1, "congruent LLM origin raises similarity (4.2)"),
    ("mfq2", "rq2", "language:origin", 1, "congruent language steers more with congruent origin (4.2)"),
    ("mfq2", "rq2", "persona:origin", 1, "congruent persona steers more with congruent origin (4.2)"),
    ("mfq2", "rq3", "removed[Authority]", 1, "removing Authority raises similarity (4.3)"),
    ("mfq2", "rq3", "removed[Loyalty]", 1, "removing Loyalty raises similarity (4.3)"),
    ("mfq2", "rq3", "removed[Equality]", -1, "removing Equality lowers similarity (4.3)"),
    ("mfq2", "rq3", "nationality:removed[Authority]", -1, "Authority x nationality negative (4.3)"),
    ("mfq2", "rq3", "nationality:removed[Loyalty]", -1, "Loyalty x nationality negative (4.3)"),
    ("mfq2", "rq3", "nationality:removed[Care]", 1, "Care explains the US skew: Care x nationality positive (4.3)"),
    ("mfq2", "rq3", "origin:removed[Care]", 0, "Care x origin far from significant, p = .45 (4.3)"),
    ("wvs7", "rq1", "nationality", -1, "LLMs resemble US more than Chinese respondents (4.1)"),
    ("wvs7", "rq1", "nationality:origin", 1, "the US skew is smaller in Chinese LLMs (4.1)"),
    ("wvs7", "rq2", "language", 1, "congruent prompt language raises similarity (4.2)"),
    ("wvs7", "rq2", "persona", 1, "congruent persona raises similarity (4.2)"),
    ("wvs7", "rq2", "origin", 1, "congruent LLM origin raises similarity (4.2)"),
    ("wvs7", "rq2", "persona:origin", -1, "personas steer better towards the other country (4.2)"),
    ("wvs7", "rq2", "language:persona:origin", 1, "congruent language helps adopt the congruent persona (4.2)"),
    ("wvs7", "rq3", "nationality:removed[Q177]", 1, "Q177 x nationality positive (4.3)"),
    ("wvs7", "rq3", "nationality:removed[Q182]", 1, "Q182 x nationality positive (4.3)"),
    ("wvs7", "rq3", "nationality:removed[Q190]", 1, "Q190 x nationality positive (4.3)"),
    ("wvs7", "rq3", "nationality:removed[Q193]", 1, "Q193 x nationality positive (4.3)"),
    ("wvs7", "rq3", "nationality:removed[Q184]", 1, "Q184 x nationality positive (4.3)"),
    ("wvs7", "rq3", "nationality:removed[Q185]", 1, "Q185 x nationality positive (4.3)"),
    ("wvs7", "rq3", "nationality:origin:removed[Q182]", 1, "only Q182 has a three-way interaction (4.3)"),
]


@dataclass(frozen=True)
class Verdict:
    """A claim's verdict: its words (``text``, conclusions.csv's ``verdict``) and, as fields, what
    analysis/across_formats.py acts on."""

    text: str
    #: estimated, with model-level inference (not "not estimated", not "cannot be judged ...")
    judged: bool = True
    #: the claimed effect holds under every method
    holds: bool = False


def judge(sign: int, estimate: float, p_values: dict[str, float],
          ci: tuple[float, float] = (np.nan, np.nan)) -> Verdict:
    """The verdict on one claim from its (family-adjusted) p value per method; ``ci``: the model-level 95% CI
    quoted for a claimed null."""
    available = {name: p for name, p in p_values.items() if p is not None and np.isfinite(p)}
    if not available or not np.isfinite(estimate):
        return Verdict("not estimated", judged=False)
    significant = {name for name, p in available.items() if p < ALPHA}
    if set(available) == {"classical"}:
        found = "significant" if significant else "not significant"
        return Verdict(f"cannot be judged at the model level (one model or too few): {found} classically only",
                       judged=False)
    if sign == 0:
        return Verdict(_null_verdict(significant, set(available), ci))
    if np.sign(estimate) != sign:
        return Verdict("does not hold: the estimate has the other sign")
    if significant == set(available):
        return Verdict("holds under every method", holds=True)
    if not significant:
        return Verdict("does not hold: not significant with any method")
    if significant == {"classical"}:
        return Verdict("classical only: not significant with " + _names(set(available) - significant))
    return Verdict(_mixed(significant, set(available)))


def verdict(sign: int, estimate: float, p_values: dict[str, float],
            ci: tuple[float, float] = (np.nan, np.nan)) -> str:
    """The verdict's words (:func:`judge`)."""
    return judge(sign, estimate, p_values, ci).text


def _null_verdict(significant: set[str], available: set[str], ci: tuple[float, float]) -> str:
    if not significant:
        interval = (f" (model-level 95% CI {ci[0]:.3f} to {ci[1]:.3f})" if np.all(np.isfinite(ci)) else "")
        return "not shown: no method finds an effect, which does not show there is none" + interval
    if significant == available:
        return "does not hold: an effect under every method"
    return _mixed(significant, available)


def _mixed(significant: set[str], available: set[str]) -> str:
    return f"mixed: significant with {_names(significant)}; not with {_names(available - significant)}"


def _names(methods: set[str]) -> str:
    return ", ".join(sorted(methods))


def model_level_ci(row: pd.Series) -> tuple[float, float]:
    """95% CI of the estimate at the model level: CR2 SE with Satterthwaite df (NaN when not computed)."""
    se, df = float(row.get("se_cr2_model", np.nan)), float(row.get("df_satterthwaite", np.nan))
    estimate = float(row.get("estimate", np.nan))
    if not (np.isfinite(se) and np.isfinite(df) and df > 0):
        return np.nan, np.nan
    half = float(t_ppf(1 - ALPHA / 2, df)) * se
    return estimate - half, estimate + half


def conclusions(tables: dict[tuple[str, str], pd.DataFrame],
                across_formats: dict[tuple[str, str, str], str] | None = None) -> pd.DataFrame:
    """One row per claim whose survey and analysis were fitted here (CONCLUSION_COLUMNS, JUDGEMENT_COLUMNS).

    ``tables``: (survey, analysis) -> that RQ table (the CSV's columns); ``across_formats``: (survey, analysis,
    term) -> yes / no (analysis/across_formats.py); claims without an entry are "not tested"."""
    records = [record for record, _ in _judged_claims(tables, across_formats or {})]
    return pd.DataFrame.from_records(records, columns=CONCLUSION_COLUMNS + JUDGEMENT_COLUMNS)


def claim_verdicts(tables: dict[tuple[str, str], pd.DataFrame]) -> dict[tuple[str, str, str], Verdict]:
    """(survey, analysis, term) -> the verdict of each claim fitted in ``tables`` (the same as conclusions')."""
    return {record[:3]: found for record, found in _judged_claims(tables, {})}


def _judged_claims(tables: dict[tuple[str, str], pd.DataFrame],
                   across_formats: dict[tuple[str, str, str], str]) -> list[tuple[tuple, Verdict]]:
    """Per claim fitted in ``tables``: its conclusions.csv record and its verdict."""
    judged = []
    for survey, analysis, term, sign, claim in PAPER_CLAIMS:
        table = tables.get((survey, analysis))
        if table is None:
            continue
        row = table.set_index("term").reindex([term]).iloc[0]
        raw = {method: float(row.get(column, np.nan)) for method, column in METHODS.items()}
        adjusted, family, size = {}, "", 1
        for method, column in METHODS.items():
            adjusted[method], method_family, method_size = holm_in_family(table, term, column)
            family, size = (method_family, max(size, method_size)) if method_family else (family, size)
        estimate = float(row.get("estimate", np.nan))
        ci = model_level_ci(row)
        found = judge(sign, estimate, adjusted, ci)
        across = across_formats.get((survey, analysis, term), "not tested")
        judged.append(((survey, analysis, term, claim, sign, estimate, *raw.values(), found.text, across,
                        family or "none (a hypothesis of its own)", size, *adjusted.values(), *ci), found))
    return judged
