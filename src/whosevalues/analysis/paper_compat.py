"""Everything the paper's published R scripts did differently from its text, and nowhere else.

``analyze(..., paper_compatible=True)`` swaps these in; the default does what the paper *says*, with real
respondents. Read from the scripts in the paper's repository (Lkh97/Made_in_China, Scripts/Analysis) and
``paper/ANALYSIS_NOTES.md``:

1. MFQ-2 respondents are grouped by the bundled file's ``Participant`` label, which is not a respondent:
   within a country, long-format row r (0-based; r = 36 * block + item - 1) carries label (r mod N) + 1.
   ``label_grouping`` rebuilds those pseudo-respondents from the real ones (36-row blocks, in file order).
2. MFQ-2 RQ2 z-scores each LLM within (LLM, language), pooling the two personas' 72 answers
   (``group_by(LLM, language)`` after joining both personas); WVS RQ2 z-scores within (LLM, language, persona).
3. WVS RQ1 joins the LLM file without its persona column: each LLM is z-scored over its 3 personas' 57
   answers in a language, and then ``distinct(LLM, participant, item)`` keeps, per item, the first of the 3
   persona rows in file order (mostly "none", not always). ``wvs_rq1_vectors`` does exactly that (it needs
   the ``source_row`` column that ``load_llm_responses`` keeps; without it, persona none's values are used).
4. WVS RQ3 joins the same way and never drops the duplicates: each cosine runs over the 3 personas' answers
   concatenated (57 values; each human answer repeated 3 times), z-scored within (LLM, language) over all 57,
   and "removing" a question removes its 3 values. ``wvs_rq3_vectors`` expresses that as an LLM side with
   ``a`` = sum of the persona z-vectors, ``sq`` = sum of their squares and ``rep`` = 3.
5. Model exclusions: the scripts exclude nothing themselves; the published data files simply lack the models
   that refused (WVS none file: 14 of 20 models, without Claude Opus 4, DeepSeek-V2, ERNIE-4.5, GPT-4, GPT-4o
   and also Yi-34B, which the text does not list; WVS persona file: 17 models, without DeepSeek-V2, GPT-4,
   Yi-34B). Given those files, the design records each missing model as an exclusion ("no answers under ..."),
   which reproduces the paper's sets; ``PAPER_NOTES`` keeps the text's own account for summary.json.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.analysis.vectors import LLMVectors, condition_matrix, llm_vectors
from whosevalues.humans.bundled import MFQ2_SOURCE
from whosevalues.humans.population import Population

NONE = "none"
PAPER_NOTES = {
    "wvs7": {
        "rq1": "paper text: Claude Opus 4, DeepSeek-V2, ERNIE-4.5, GPT-4 and GPT-4o refused some item in all 20 "
               "samples under persona none; its data file also lacks Yi-34B (14 models)",
        "rq2": "paper text: DeepSeek-V2, GPT-4 and Yi-34B excluded (persona file: 17 models)",
        "rq3": "as rq1; cosines over the 3 personas' answers concatenated (57 values)",
    },
    "mfq2": {
        "all": "respondents grouped by the file's Participant label (pseudo-respondents), not the real 36-row blocks",
        "rq2": "LLMs z-scored within (LLM, language), pooling both personas' 72 answers",
    },
}


def label_grouping(responses: pd.DataFrame) -> pd.DataFrame:
    """The paper's Participant-label pseudo-respondents from real respondents in file (block) order.

    ``responses``: one row per real respondent in the order of the bundled file's blocks (including
    straight-liners), columns the 36 items in file order. Returns the same shape, index "1".."N".
    """
    values = responses.to_numpy(dtype=float)
    n, k = values.shape
    flat = values.ravel()  # long-format rows in file order: r = k * block + item
    rows = np.arange(n * k)
    grouped = np.full((n, k), np.nan)
    grouped[rows % n, rows % k] = flat
    return pd.DataFrame(grouped, columns=responses.columns, index=pd.Index([str(i + 1) for i in range(n)]))


def needs_label_grouping(population: Population) -> bool:
    """True for the bundled MFQ-2 respondents still in their real grouping (the label bug is that file's)."""
    if population.survey != "mfq2" or population.responses is None:
        return False
    if str(population.audit.get("grouping", "")).lower() == "label":
        return False
    if "participant label" in population.source.lower():  # loaded with paper_labels=True already
        return False
    # Only the bundled file carries the label bug: a user's own MFQ-2 respondents are never regrouped.
    return population.source.startswith(MFQ2_SOURCE)


def paper_population(population: Population) -> Population:
    """The population as the paper's scripts saw it (label grouping for the bundled MFQ-2 file)."""
    if not needs_label_grouping(population):
        return population
    return Population(survey=population.survey, country=population.country,
                      source=population.source + " [paper-compatible: grouped by Participant label]",
                      responses=label_grouping(population.responses), steps=list(population.steps),
                      audit={**population.audit, "grouping": "label"})


def mfq2_rq2_vectors(item_means: pd.DataFrame, items: list[str]) -> LLMVectors:
    """MFQ-2 RQ2: z-scores within (LLM, language), the national personas' answers pooled (not "none")."""
    personas_only = item_means[item_means["persona"] != NONE]
    return llm_vectors(personas_only, "mfq2", items, zscore_by=("model", "language"))


def _pooled_persona_z(item_means: pd.DataFrame, survey: str,
                      items: list[str]) -> tuple[pd.DataFrame, np.ndarray, LLMVectors]:
    """Conditions of the models answering under persona none, z-scored within (model, language) over all
    their personas (as the scripts' join without the persona column did)."""
    frame = item_means[item_means["survey"] == survey]
    with_none = frame.loc[frame["persona"] == NONE, "model"].unique()
    frame = frame[frame["model"].isin(with_none)]
    pooled = llm_vectors(frame, survey, items, zscore_by=("model", "language"))
    # A refused item anywhere in the pool makes the whole (model, language) unusable, as NaNs did in R.
    bad = set(map(tuple, pooled.unusable[["model", "language"]].to_numpy()))
    keep = ~pd.Series(list(zip(pooled.keys["model"], pooled.keys["language"]))).isin(bad).to_numpy()
    pooled = LLMVectors(pooled.keys[keep].reset_index(drop=True), pooled.a[keep], pooled.sq[keep],
                        pooled.rep[keep], pooled.unusable)
    return frame, keep, pooled


def wvs_rq1_vectors(item_means: pd.DataFrame, items: list[str]) -> LLMVectors:
    """WVS RQ1: pooled-persona z-scores; per item, the value of the first persona row in file order."""
    frame, _, pooled = _pooled_persona_z(item_means, "wvs7", items)
    keys = pooled.keys
    groups = keys.groupby(["model", "language"], sort=True).indices
    order = None
    if "source_row" in frame.columns and frame["source_row"].notna().all():
        order_keys, order_matrix = condition_matrix(frame, "wvs7", items, value="source_row")
        position = pd.MultiIndex.from_frame(order_keys).get_indexer(pd.MultiIndex.from_frame(keys))
        order = order_matrix[position]  # aligned with pooled.keys
    out_keys, out_a = [], []
    for (model, language), rows in groups.items():
        rows = np.asarray(rows)
        if order is not None:
            first = np.nanargmin(order[rows], axis=0)  # per item: the persona row first in file order
            vector = pooled.a[rows][first, np.arange(len(items))]
        else:
            none_rows = rows[(keys["persona"].to_numpy()[rows] == NONE)]
            if len(none_rows) == 0:
                continue
            vector = pooled.a[none_rows[0]]
        out_keys.append((model, keys["origin"].iloc[rows[0]], language, NONE))
        out_a.append(vector)
    a = np.array(out_a).reshape(len(out_a), len(items))
    return LLMVectors(pd.DataFrame(out_keys, columns=["model", "origin", "language", "persona"]), a, a ** 2,
                      np.ones(len(a)), pooled.unusable)


def wvs_rq3_vectors(item_means: pd.DataFrame, items: list[str]) -> LLMVectors:
    """WVS RQ3: each LLM vector is its personas' z-vectors concatenated (pooled z-scores, human repeated)."""
    _, _, pooled = _pooled_persona_z(item_means, "wvs7", items)
    keys = pooled.keys
    out_keys, out_a, out_sq, out_rep = [], [], [], []
    for (model, language), rows in keys.groupby(["model", "language"], sort=True).indices.items():
        rows = np.asarray(rows)
        out_keys.append((model, keys["origin"].iloc[rows[0]], language, NONE))
        out_a.append(pooled.a[rows].sum(axis=0))
        out_sq.append(pooled.sq[rows].sum(axis=0))
        out_rep.append(len(rows))
    k = len(items)
    return LLMVectors(pd.DataFrame(out_keys, columns=["model", "origin", "language", "persona"]),
                      np.array(out_a).reshape(-1, k), np.array(out_sq).reshape(-1, k), np.array(out_rep, float),
                      pooled.unusable)


def llm_vectors_for(analysis: str, survey: str, item_means: pd.DataFrame, items: list[str]) -> LLMVectors:
    """The LLM vectors the paper's script for (survey, analysis) used."""
    if survey == "mfq2" and analysis == "rq2":
        return mfq2_rq2_vectors(item_means, items)
    if survey == "wvs7" and analysis == "rq1":
        return wvs_rq1_vectors(item_means, items)
    if survey == "wvs7" and analysis == "rq3":
        return wvs_rq3_vectors(item_means, items)
    return llm_vectors(item_means, survey, items)


__all__ = ["PAPER_NOTES", "label_grouping", "needs_label_grouping", "paper_population", "llm_vectors_for",
           "mfq2_rq2_vectors", "wvs_rq1_vectors", "wvs_rq3_vectors", "condition_matrix"]
