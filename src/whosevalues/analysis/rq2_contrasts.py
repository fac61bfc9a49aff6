"""RQ2's congruence contrasts, read from the full factorial fit, with model-level inference.

The default RQ2 fit is the full factorial ``cosine ~ language * persona * origin * nationality``, the three
congruence factors coded +0.5 when congruent with the respondent (design.rq2). The paper's effects are then
named contrasts of that one fit:

- the congruence effects (``language``, ``persona``, ``origin``) and their interactions
  (``language:origin``: congruent language steers more when the model's origin is congruent, as the paper
  reads it; ``persona:origin``; ``language:persona``; ``language:persona:origin``) are the coefficients of
  the same name: with codes centred over the rows, each is the effect averaged over the other factors,
  weighted by their rows (nationality too);
- with two countries A (coded +0.5, CHN when present) and B, the raw main effects the paper's model leaves
  out are half the congruence term's interaction with nationality: a persona of A instead of B, for every
  respondent, = ``persona:nationality`` / 2 (congruence codes c = 2 n r for raw codes r, so n c = r / 2);
  the same for a model made in A instead of B (``origin:nationality``) and a prompt in A's language instead
  of B's (``language:nationality``).

Each contrast is one coefficient times a constant, so its model-level inference is that coefficient's:
p values unchanged, estimates, SEs and CIs scaled. ``tables/rq2_contrasts_<survey>.csv`` has one row per
contrast the fit estimated (CONTRAST_COLUMNS); summary.json has the same records under
``analyses.rq2.contrasts``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.analysis.conclusions import ALPHA
from whosevalues.special import t_ppf

MODEL_LEVEL_P = ["p_wild_model", "p_perm_model", "p_cr2_model"]
CONTRAST_COLUMNS = ["contrast", "term", "scale", "meaning", "estimate", "std_error", "p_value", "se_cr2_model",
                    "df_satterthwaite", "ci_low_model", "ci_high_model", *MODEL_LEVEL_P, "model_methods_agree"]

# (contrast, term of the full factorial, what it means)
CONGRUENCE = [
    ("language congruence", "language", "a prompt in the respondent's language rather than the other one"),
    ("persona congruence", "persona", "a persona of the respondent's country rather than the other one"),
    ("origin congruence", "origin", "a model made in the respondent's country rather than the other one"),
    ("language x persona", "language:persona", "how much a congruent language adds to a congruent persona"),
    ("language x origin", "language:origin",
     "how much more a congruent language steers when the model's origin is congruent (the paper's reading)"),
    ("persona x origin", "persona:origin",
     "how much more a congruent persona steers when the model's origin is congruent (the paper's reading)"),
    ("language x persona x origin", "language:persona:origin",
     "whether a congruent language helps a model of congruent origin adopt the congruent persona"),
]
# (contrast, term, what it means): the raw main effects, two countries only
RAW_MAIN = [
    ("prompt language {a} vs {b}", "language:nationality",
     "a prompt in {a}'s language instead of {b}'s, for every respondent"),
    ("persona {a} vs {b}", "persona:nationality", "a persona of {a} instead of {b}, for every respondent"),
    ("origin {a} vs {b}", "origin:nationality", "a model made in {a} instead of {b}, for every respondent"),
]


def contrasts(table: pd.DataFrame, countries: list[str]) -> pd.DataFrame:
    """The named contrasts ``table`` (an RQ2 table) estimates; ``countries``: the respondents' countries,
    the one coded +0.5 first."""
    rows = table.set_index("term")
    records = [_record(rows.loc[term], name, term, 1.0, meaning)
               for name, term, meaning in CONGRUENCE if term in rows.index]
    if len(countries) == 2:
        a, b = countries
        records += [_record(rows.loc[term], name.format(a=a, b=b), term, 0.5, meaning.format(a=a, b=b))
                    for name, term, meaning in RAW_MAIN if term in rows.index]
    return pd.DataFrame.from_records(records, columns=CONTRAST_COLUMNS)


def _record(row: pd.Series, name: str, term: str, scale: float, meaning: str) -> dict:
    se, df = float(row.get("se_cr2_model", np.nan)), float(row.get("df_satterthwaite", np.nan))
    estimate = scale * float(row["estimate"])
    half = float(t_ppf(1 - ALPHA / 2, df)) * scale * se if np.isfinite(df) and df > 0 else np.nan
    p = {column: float(row.get(column, np.nan)) for column in MODEL_LEVEL_P}
    return {"contrast": name, "term": term, "scale": scale, "meaning": meaning, "estimate": estimate,
            "std_error": scale * float(row["std_error"]), "p_value": float(row["p_value"]),
            "se_cr2_model": scale * se, "df_satterthwaite": df, "ci_low_model": estimate - half,
            "ci_high_model": estimate + half, **p, "model_methods_agree": methods_agree(p.values())}


def methods_agree(p_values) -> str:
    """"yes" when every available model-level p is on the same side of .05, "no" when not, "one method"
    or "not estimated" when there is nothing to compare."""
    finite = [p for p in p_values if np.isfinite(p)]
    if len(finite) < 2:
        return "one method" if finite else "not estimated"
    return "yes" if len({p < ALPHA for p in finite}) == 1 else "no"
