"""Response vectors, z-scores and cosine similarity as matrix operations.

Humans: one vector per respondent (the survey's items in order), z-scored within the respondent with the
sample SD (ddof=1). Respondents with a missing answer are dropped (counted), and so are straight-liners
(all answers equal: SD 0, the z-score is undefined), counted too.

LLMs: the item means of one model under one condition (language x persona), z-scored within that condition
(ddof=1). A condition whose vector has a missing item (every sample refused) or no spread cannot be z-scored:
it is reported back so the design can exclude the model from the analyses that need that condition.

Cosine: with ``Zh`` (respondents x items) and an LLM side ``a`` (conditions x items) the cosines of every pair
are one matrix product divided by the outer product of the norms. The LLM side is kept general
(``a``, ``sq``, ``rep``) so that the paper's WVS RQ3 quirk (each LLM vector is 3 personas concatenated, the
human vector repeated 3 times) is the same formula: dot = h . sum_p l_p, |l|^2 = sum_p |l_p|^2, |h|^2 x 3.
A leave-one-dimension-out cosine needs no recomputation: subtract the dimension's share of the dot product
and of both squared norms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from whosevalues.humans.population import Population, PopulationError

CONDITION_COLUMNS = ["model", "origin", "language", "persona"]


def zscore_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise z-scores (ddof=1) and a mask of rows that could be z-scored (complete, SD > 0)."""
    values = np.asarray(values, dtype=float)
    complete = ~np.isnan(values).any(axis=1)
    mean = np.nanmean(values, axis=1, keepdims=True) if values.size else values[:, :1]
    sd = np.nanstd(values, axis=1, ddof=1, keepdims=True) if values.shape[1] > 1 else np.zeros((len(values), 1))
    usable = complete & (sd[:, 0] > 1e-12)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - mean) / sd
    z[~usable] = np.nan
    return z, usable


@dataclass
class HumanVectors:
    """z-scored respondents of one population, in the survey's item order."""

    survey: str
    country: str
    ids: np.ndarray  # respondent ids (str), kept respondents only
    z: np.ndarray  # respondents x items
    raw: np.ndarray  # respondents x items, the answers behind z
    dropped_incomplete: int = 0
    dropped_straightliners: int = 0

    @property
    def n(self) -> int:
        return len(self.ids)


def human_vectors(population: Population, items: list[str]) -> HumanVectors:
    """z-score a population's respondents over ``items`` (drops incomplete rows and straight-liners)."""
    if population.responses is None:
        raise PopulationError(f"population {population.survey}/{population.country} has no respondents "
                         f"(aggregates only): per-respondent analyses need respondent-level data")
    missing = [item for item in items if item not in population.responses.columns]
    if missing:
        raise PopulationError(f"population {population.survey}/{population.country} lacks item column(s) "
                         f"{missing[:5]}: its responses must have one column per item id")
    raw = population.responses[items].to_numpy(dtype=float)
    complete = ~np.isnan(raw).any(axis=1)
    z, usable = zscore_rows(raw)
    return HumanVectors(
        survey=population.survey, country=population.country,
        ids=population.responses.index.astype(str).to_numpy()[usable], z=z[usable], raw=raw[usable],
        dropped_incomplete=int((~complete).sum()), dropped_straightliners=int((complete & ~usable).sum()))


@dataclass
class LLMVectors:
    """LLM conditions of one survey, ready for cosines.

    ``keys``: one row per condition (model, origin, language, persona). ``a``: the vector dotted with the
    human z-vector; ``sq``: per-item squared norm contributions; ``rep``: how often the human vector repeats
    (1 normally). ``unusable``: conditions that could not be z-scored, with the reason.
    """

    keys: pd.DataFrame
    a: np.ndarray
    sq: np.ndarray
    rep: np.ndarray
    unusable: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=CONDITION_COLUMNS + ["reason"]))

    def select(self, mask: np.ndarray) -> "LLMVectors":
        mask = np.asarray(mask, dtype=bool)
        return LLMVectors(self.keys[mask].reset_index(drop=True), self.a[mask], self.sq[mask], self.rep[mask],
                          self.unusable)


def condition_matrix(item_means: pd.DataFrame, survey: str, items: list[str],
                     value: str = "mean") -> tuple[pd.DataFrame, np.ndarray]:
    """A survey's ``value`` per (condition x item), items in ``items`` order (NaN where absent).

    Conditions (model, origin, language, persona) are sorted; the first row wins for a duplicated item.
    """
    frame = item_means[item_means["survey"] == survey]
    frame = frame[frame["item"].astype(str).isin(items)]
    grouped = frame.groupby(CONDITION_COLUMNS, sort=True, observed=True)
    keys = grouped.size().index.to_frame(index=False)[CONDITION_COLUMNS]
    row = grouped.ngroup().to_numpy()
    column = pd.Index(items).get_indexer(frame["item"].astype(str))
    matrix = np.full((len(keys), len(items)), np.nan)
    values = pd.to_numeric(frame[value], errors="coerce").to_numpy(dtype=float)
    matrix[row[::-1], column[::-1]] = values[::-1]  # reversed: the first occurrence is written last
    return keys, matrix


def llm_vectors(item_means: pd.DataFrame, survey: str, items: list[str],
                zscore_by: tuple[str, ...] = ("model", "language", "persona")) -> LLMVectors:
    """z-score each condition's item means within the groups ``zscore_by`` (default: each condition alone).

    Pooling groups (e.g. ``("model", "language")``, as the paper's MFQ-2 RQ2 script did) z-scores the
    concatenated answers of all personas of a model and language with one mean and SD.
    """
    keys, values = condition_matrix(item_means, survey, items)
    n_missing = np.isnan(values).sum(axis=1)
    group = keys.groupby(list(zscore_by), sort=False).ngroup().to_numpy()
    row_sum = np.nansum(values, axis=1)
    row_sq = np.nansum(values ** 2, axis=1)
    row_n = (~np.isnan(values)).sum(axis=1)
    g_n = np.bincount(group, row_n)
    g_mean = np.bincount(group, row_sum) / np.maximum(g_n, 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        g_var = (np.bincount(group, row_sq) - g_n * g_mean ** 2) / (g_n - 1)
    g_sd = np.sqrt(np.clip(g_var, 0, None))
    sd = g_sd[group][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (values - g_mean[group][:, None]) / sd
    refused = n_missing > 0
    flat = ~refused & (sd[:, 0] <= 1e-12)
    usable = ~refused & ~flat
    unusable = keys[~usable].copy()
    few = _below_minimum(item_means, survey, items, keys)
    unusable["reason"] = [_missing_reason(n_missing[i], few[i]) if refused[i] else
                          "the same answer to every item (z-score undefined)" for i in np.flatnonzero(~usable)]
    z = z[usable]
    return LLMVectors(keys=keys[usable].reset_index(drop=True), a=z, sq=z ** 2,
                      rep=np.ones(int(usable.sum())), unusable=unusable.reset_index(drop=True))


def _below_minimum(item_means: pd.DataFrame, survey: str, items: list[str], keys: pd.DataFrame) -> np.ndarray:
    """Per condition of ``keys``: items made missing by the minimum-valid-samples rule (reliability.py)."""
    if "below_min_valid" not in item_means.columns or not len(keys) or not item_means["below_min_valid"].any():
        return np.zeros(len(keys), dtype=int)
    flagged = item_means.assign(below_min_valid=item_means["below_min_valid"].astype(float))
    flag_keys, flags = condition_matrix(flagged, survey, items, value="below_min_valid")
    position = pd.MultiIndex.from_frame(flag_keys).get_indexer(pd.MultiIndex.from_frame(keys))
    return np.nan_to_num(flags[position]).sum(axis=1).astype(int)


def _missing_reason(n_missing: int, below_minimum: int) -> str:
    refused = n_missing - below_minimum
    parts = [f"no valid answer to {refused} item(s) (every sample refused)"] if refused else []
    if below_minimum:
        parts.append(f"{below_minimum} item(s) with fewer valid samples than the minimum (see min_valid_samples)")
    return "; ".join(parts)


def cosine(h: np.ndarray, llm: LLMVectors) -> np.ndarray:
    """Cosine of every respondent (rows of h) with every LLM condition: respondents x conditions."""
    dot = h @ llm.a.T
    h_sq = np.einsum("ij,ij->i", h, h)
    return dot / np.sqrt(np.outer(h_sq, llm.sq.sum(axis=1) * llm.rep))


def leave_out_cosine(h: np.ndarray, llm: LLMVectors, groups: list[np.ndarray]) -> np.ndarray:
    """Cosines with each group of item columns left out: respondents x conditions x (1 + len(groups)).

    Index 0 along the last axis is "none removed"; index g+1 leaves out ``groups[g]`` (column indices).
    Closed form: the z-scores stay those of the full vectors (as the paper did), so removing columns D
    changes dot -> dot - sum_D h*a and |.|^2 -> |.|^2 - sum_D (.)^2.
    """
    n, m = len(h), len(llm.a)
    out = np.empty((n, m, 1 + len(groups)))
    dot = h @ llm.a.T
    h_sq = np.einsum("ij,ij->i", h, h)
    l_sq = llm.sq.sum(axis=1)
    out[:, :, 0] = dot / np.sqrt(np.outer(h_sq, l_sq * llm.rep))
    for g, columns in enumerate(groups):
        part_dot = h[:, columns] @ llm.a[:, columns].T
        part_h = np.einsum("ij,ij->i", h[:, columns], h[:, columns])
        part_l = llm.sq[:, columns].sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[:, :, g + 1] = (dot - part_dot) / np.sqrt(np.outer(h_sq - part_h, (l_sq - part_l) * llm.rep))
    return out
