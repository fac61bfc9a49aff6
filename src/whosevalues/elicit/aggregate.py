"""From stored answers to item means, answer distributions and a per-condition summary (plain pandas).

Input: the answers frame of ``Store.answers_frame()``, one row per answer, with at least the columns
model, survey, item, language, persona, status, and (when present) origin, variant (absent: ``original``),
sample, mode, value (NaN unless valid), distribution (dict value -> probability, distribution mode),
valid_mass. Values and distributions are on the survey's canonical scale whatever the question format (the
readers map each format's answers back), so formats are compared value for value; they are never pooled:
``variant`` is part of every grouping.

Counting rules
--------------
- An answer with status ``error`` is not an answer (the request failed; the next run retries it): it is not
  counted in ``n_total``. Every other status is an answer the model gave and counts in ``n_total``.
- Sample mode: ``mean`` over the valid samples, ``n_valid`` valid samples, ``n_total`` answers,
  ``refusal_rate`` = refusals / ``n_total``, ``valid_mass`` empty.
- Distribution mode (one answer per item and condition): ``mean`` is the expectation of the distribution
  renormalised over the scale, ``n_valid`` is 1 when valid, ``n_total`` 1, ``valid_mass`` the probability
  mass that fell on valid answers before renormalising, ``refusal_rate`` 0 unless the status is refusal.
  Should a condition hold several distribution answers for an item, the same formulas average them.
- Rows are sorted by model, survey, language, persona (``none`` first), format (``original`` first, then the
  survey's order) and item in the survey's own order.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from whosevalues.errors import WhosevaluesError
from whosevalues.instruments import NO_PERSONA, Instrument, InstrumentError, load_instrument
from whosevalues.instruments.variants import ORIGINAL

# the contract's ten columns first (DESIGN.md), then the question format and the extras
ITEM_MEANS_COLUMNS = ["model", "origin", "survey", "language", "persona", "item", "mean", "n_valid", "n_total",
                      "refusal_rate", "variant", "mode", "valid_mass"]
DISTRIBUTION_COLUMNS = ["model", "survey", "language", "persona", "variant", "item", "value", "probability", "mode"]
CONDITION = ["model", "origin", "survey", "language", "persona", "variant"]
REQUIRED = ["model", "survey", "item", "language", "persona", "status"]
SORT_KEYS = ["model", "survey", "language", "persona", "variant", "item"]

__all__ = ["AggregateError", "item_means", "item_distributions", "condition_summary",
           "ITEM_MEANS_COLUMNS", "DISTRIBUTION_COLUMNS"]


class AggregateError(WhosevaluesError, ValueError):
    """The answers frame lacks what aggregation needs. The message names the columns."""


# -- inputs ------------------------------------------------------------------------------------
def _prepared(answers: pd.DataFrame) -> pd.DataFrame:
    """A copy with every optional column present, ``item`` as text, and each answer's value on the scale."""
    missing = [column for column in REQUIRED if column not in answers.columns]
    if missing:
        raise AggregateError(f"answers frame has no column(s) {', '.join(missing)}: pass the frame of "
                             f"Store.answers_frame() or add them")
    frame = answers.reset_index(drop=True).copy()
    defaults = {"origin": "UNK", "variant": ORIGINAL, "mode": "sample", "value": np.nan, "distribution": None,
                "valid_mass": np.nan}
    for column, default in defaults.items():
        if column not in frame.columns:
            frame[column] = default
    frame["item"] = frame["item"].astype(str)
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    frame["valid_mass"] = pd.to_numeric(frame["valid_mass"], errors="coerce")
    expectation = _expectations(frame)
    from_distribution = expectation.notna()
    frame["answer"] = np.where(from_distribution, expectation, frame["value"])
    frame["is_valid"] = (frame["status"] == "valid") & frame["answer"].notna()
    frame["answer"] = frame["answer"].where(frame["is_valid"])
    frame["is_answer"] = frame["status"] != "error"
    frame["is_refusal"] = frame["status"] == "refusal"
    return frame


def _distribution_long(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (answer row, scale value) of the stored distributions, renormalised within each row."""
    stored = frame["distribution"].map(lambda d: d if isinstance(d, dict) and d else None).dropna()
    if stored.empty:
        return pd.DataFrame({"row": pd.Series(dtype=int), "value": pd.Series(dtype=int),
                             "probability": pd.Series(dtype=float)})
    long = pd.DataFrame({
        "row": np.repeat(stored.index.to_numpy(), stored.map(len).to_numpy()),
        "value": [int(value) for dist in stored for value in dist],
        "probability": [float(p) for dist in stored for p in dist.values()],
    })
    total = long.groupby("row")["probability"].transform("sum")
    long["probability"] = (long["probability"] / total).where(total > 0)
    return long.dropna(subset=["probability"])


def _expectations(frame: pd.DataFrame) -> pd.Series:
    """Expectation of each row's renormalised distribution (NaN where the row has none)."""
    long = _distribution_long(frame)
    weighted = (long["value"] * long["probability"]).groupby(long["row"]).sum()
    return weighted.reindex(frame.index)


# -- ordering ----------------------------------------------------------------------------------
def _natural_key(text: str) -> tuple:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text))


def _instrument(survey: str) -> Instrument | None:
    try:
        return load_instrument(survey)
    except InstrumentError:
        return None


def _item_ranks(frame: pd.DataFrame) -> pd.DataFrame:
    """survey, item -> rank in the survey's own order (natural order for surveys not loadable here)."""
    rows = []
    for survey, items in frame.groupby("survey")["item"].unique().items():
        instrument = _instrument(str(survey))
        order = instrument.item_ids if instrument else []
        extra = sorted(set(items) - set(order), key=_natural_key)
        rows += [(survey, item, rank) for rank, item in enumerate([*order, *extra])]
    return pd.DataFrame(rows, columns=["survey", "item", "_item_rank"])


def _variant_ranks(frame: pd.DataFrame) -> pd.Series:
    """Each row's format rank: ``original`` first, then the survey's declared order, then unknown names."""
    ranks = {}
    for survey in frame["survey"].unique():
        instrument = _instrument(str(survey))
        ranks.update({(survey, name): rank for rank, name in enumerate(
            instrument.variant_names if instrument else [ORIGINAL])})
    unknown = max(ranks.values(), default=0) + 1  # formats a survey file no longer declares: last
    return pd.Series([ranks.get((survey, variant), unknown) for survey, variant
                      in zip(frame["survey"], frame["variant"])], index=frame.index)


def _sorted(frame: pd.DataFrame, by_item: bool = True) -> pd.DataFrame:
    keyed = frame.assign(_persona_rank=(frame["persona"] != NO_PERSONA).astype(int),
                         _variant_rank=_variant_ranks(frame))
    keys = ["model", "survey", "language", "_persona_rank", "persona", "_variant_rank", "variant"]
    if by_item:
        keyed = keyed.merge(_item_ranks(frame), on=["survey", "item"], how="left")
        keys.append("_item_rank")
        if "value" in keyed.columns:
            keys.append("value")
    result = keyed.sort_values(keys, kind="stable").drop(columns=["_persona_rank", "_variant_rank", "_item_rank"],
                                                         errors="ignore")
    return result.reset_index(drop=True)


# -- item means --------------------------------------------------------------------------------
def item_means(answers: pd.DataFrame) -> pd.DataFrame:
    """One row per model x condition x item: the contract columns of ``item_means.csv`` (see DESIGN.md)."""
    frame = _prepared(answers)
    if frame.empty:
        return pd.DataFrame(columns=ITEM_MEANS_COLUMNS)
    keys = [*CONDITION, "item", "mode"]
    grouped = frame.groupby(keys, sort=False, dropna=False).agg(
        mean=("answer", "mean"), n_valid=("is_valid", "sum"), n_total=("is_answer", "sum"),
        n_refusal=("is_refusal", "sum"), valid_mass=("valid_mass", "mean"),
    ).reset_index()
    grouped["refusal_rate"] = grouped["n_refusal"] / grouped["n_total"].where(grouped["n_total"] > 0)
    grouped[["n_valid", "n_total"]] = grouped[["n_valid", "n_total"]].astype(int)
    return _sorted(grouped[ITEM_MEANS_COLUMNS])


# -- distributions -----------------------------------------------------------------------------
def item_distributions(answers: pd.DataFrame) -> pd.DataFrame:
    """The answer distribution of each model x condition x item, every scale point listed.

    Distribution mode: the stored next-token distribution renormalised over the scale (its raw mass is
    ``valid_mass`` in ``item_means``). Sample mode: the share of each value among the valid samples.
    """
    frame = _prepared(answers)
    keys = ["model", "survey", "language", "persona", "variant", "item", "mode"]
    long = _distribution_long(frame)
    from_model = frame.loc[long["row"], keys].reset_index(drop=True).assign(
        row=long["row"].to_numpy(), value=long["value"].to_numpy(), probability=long["probability"].to_numpy())
    # Several distribution answers for one item (rare) are averaged: sum, then divide by how many there are.
    n_rows = from_model.groupby(keys, dropna=False)["row"].transform("nunique")
    from_model = (from_model.assign(probability=from_model["probability"] / n_rows)
                  .groupby([*keys, "value"], dropna=False)["probability"].sum())

    sampled = frame[frame["is_valid"] & ~frame.index.isin(long["row"])]
    counts = sampled.assign(value=sampled["answer"].round().astype("Int64")).groupby([*keys, "value"]).size()
    from_samples = (counts / counts.groupby(level=keys).transform("sum")).rename("probability")

    both = pd.concat([from_model.reset_index(), from_samples.reset_index()], ignore_index=True)
    if both.empty:
        return pd.DataFrame(columns=DISTRIBUTION_COLUMNS)
    both["value"] = both["value"].astype(int)
    return _sorted(_with_every_scale_point(both, keys))[DISTRIBUTION_COLUMNS]


def _with_every_scale_point(long: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Add the scale points nobody chose, with probability 0, so every item lists its whole scale."""
    scales = []
    for survey in long["survey"].unique():
        instrument = _instrument(str(survey))
        values = instrument.scale.values if instrument else sorted(long.loc[long["survey"] == survey, "value"])
        scales.append(pd.DataFrame({"survey": survey, "value": sorted(set(values))}))
    grid = long[keys].drop_duplicates().merge(pd.concat(scales), on="survey")
    full = grid.merge(long, on=[*keys, "value"], how="outer")
    full["probability"] = full["probability"].fillna(0.0)
    return full


# -- per-condition summary ---------------------------------------------------------------------
def condition_summary(item_means: pd.DataFrame) -> pd.DataFrame:
    """Per model x survey x language x persona: n_items, valid_rate, refusal_rate, mean valid_mass, mean
    answer, then the mean answer per dimension (MFQ-2 foundations, in the survey's order) for surveys that
    declare dimensions; reverse-keyed items are reversed first. NaN where a survey lacks a column."""
    means = item_means.assign(item=item_means["item"].astype(str))
    if "origin" not in means.columns:
        means["origin"] = "UNK"
    if "variant" not in means.columns:  # item means written before question formats existed
        means["variant"] = ORIGINAL
    means["n_refusal"] = means["refusal_rate"].fillna(0) * means["n_total"]
    means["has_mean"] = means["mean"].notna()
    valid_mass = means["valid_mass"] if "valid_mass" in means.columns else np.nan
    summary = means.assign(valid_mass=valid_mass).groupby(CONDITION, sort=False).agg(
        n_items=("item", "nunique"), n_valid=("n_valid", "sum"), n_total=("n_total", "sum"),
        n_refusal=("n_refusal", "sum"), valid_mass=("valid_mass", "mean"), mean=("mean", "mean"),
    ).reset_index()
    total = summary["n_total"].where(summary["n_total"] > 0)
    summary["valid_rate"] = summary["n_valid"] / total
    summary["refusal_rate"] = summary["n_refusal"] / total
    summary = summary[[*CONDITION, "n_items", "valid_rate", "refusal_rate", "valid_mass", "mean"]]
    dimensions = _dimension_means(means)
    if not dimensions.empty:
        summary = summary.merge(dimensions, on=CONDITION, how="left")
    return _sorted(summary, by_item=False)


def _dimension_means(means: pd.DataFrame) -> pd.DataFrame:
    """Wide: condition columns, then one column per declared dimension (mean of its items' means)."""
    rows, order = [], []
    for survey in means["survey"].unique():
        instrument = _instrument(str(survey))
        if not instrument or not instrument.dimensions:
            continue
        order += [d for d in instrument.dimensions if d not in order]
        reverse = {item.id for item in instrument.items if item.reverse}
        rows.append(pd.DataFrame({
            "survey": survey, "item": instrument.item_ids,
            "dimension": [instrument.dimension_of()[item_id] for item_id in instrument.item_ids],
            "flip": [instrument.scale.min + instrument.scale.max if i in reverse else np.nan
                     for i in instrument.item_ids],
        }))
    if not rows:
        return pd.DataFrame()
    keyed = means.merge(pd.concat(rows, ignore_index=True), on=["survey", "item"], how="inner")
    keyed["scored"] = np.where(keyed["flip"].notna(), keyed["flip"] - keyed["mean"], keyed["mean"])
    wide = keyed.pivot_table(index=CONDITION, columns="dimension", values="scored", aggfunc="mean", dropna=False)
    return wide.reindex(columns=order).reset_index().rename_axis(columns=None)
