"""Means with error bars at the unit of inference, the model: what Figures 1, 3B and 4 draw.

The model-level tests treat the model as the unit (14-20 of them); an interval over respondent x model pairs
treats hundreds of thousands of rows as independent and is 5-8 times too narrow for a comparison between
origins. ``model_means_<survey>.csv`` (MODEL_MEANS_COLUMNS) gives, per figure cell:

- ``figure`` ``1`` (RQ1 rows: population x origin) and ``4`` (RQ2 rows: origin x language x persona x
  population): each model's mean cosine over the cell's respondents, then the mean over the origin's models,
  their SD and a t interval over models (n_models - 1 df; NaN with one model);
- ``figure`` ``3B``: each population's respondents against the mean item vector of the LLMs of each origin
  (the "LLM <origin>" references of reference_similarity_<survey>.csv): the mean cosine over respondents and
  a 95% t interval (n_models - 1 df) with the jackknife SE over that origin's models (each model left out in
  turn, the others' item means averaged and z-scored). Not a percentile bootstrap: resampling models with
  replacement averages fewer distinct models, whose mean vector is noisier, so its cosines sit below the
  observed one and the percentile interval would hardly contain it. The human references ("Human
  <country>") involve no model and keep their interval over respondents there.

``interval`` names how each interval was computed.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis.design import NONE, RowSet
from whosevalues.analysis.vectors import HumanVectors, zscore_rows
from whosevalues.special import t_ppf

MODEL_MEANS_COLUMNS = ["figure", "analysis", "population", "origin", "language", "persona", "reference",
                       "n_models", "mean", "sd_models", "se_models", "ci_low", "ci_high", "interval"]
T_INTERVAL = "t interval over the models' means (n_models - 1 df)"


def over_models(rows: RowSet, by: list[str]) -> pd.DataFrame:
    """Per group of ``by`` (population, origin, language, persona): the mean over models of each model's
    mean cosine, the models' SD and a 95% t interval over models."""
    frame = rows.frame().rename(columns={"nationality": "population"})
    per_model = frame.groupby([*by, "model"], observed=True)["cosine"].mean().reset_index()
    records = []
    for keys, group in per_model.groupby(by, observed=True):
        keys = keys if isinstance(keys, tuple) else (keys,)
        records.append({**dict(zip(by, map(str, keys))), **t_interval(group["cosine"].to_numpy())})
    return pd.DataFrame.from_records(records)


def t_interval(values: np.ndarray) -> dict:
    n = len(values)
    mean = float(values.mean()) if n else np.nan
    sd = float(values.std(ddof=1)) if n > 1 else np.nan
    se = sd / np.sqrt(n) if n > 1 else np.nan
    half = float(t_ppf(0.975, n - 1)) * se if n > 1 else np.nan
    return {"n_models": n, "mean": mean, "sd_models": sd, "se_models": se, "ci_low": mean - half,
            "ci_high": mean + half, "interval": T_INTERVAL}


def llm_reference_over_models(humans: list[HumanVectors], survey_means: pd.DataFrame, items: list[str],
                              rows: RowSet) -> pd.DataFrame:
    """Figure 3B's LLM references: each population against each origin's mean item vector (persona none, in
    the language RQ1 paired the population with), with a jackknife interval over that origin's models."""
    paired = rows.notes.get("respondent_languages", {})
    kept = survey_means[(survey_means["persona"] == NONE) & survey_means["model"].isin(rows.models["model"])]
    records = []
    for h in humans:
        language = paired.get(h.country)
        # the mean of the respondents' unit vectors: the mean cosine with v is direction @ v / |v|
        direction = (h.z / np.linalg.norm(h.z, axis=1, keepdims=True)).mean(axis=0)
        for origin, group in kept[kept["language"] == language].groupby("origin"):
            vectors = group.pivot_table(index="model", columns="item", values="mean").reindex(columns=items)
            vectors = vectors.to_numpy()
            if not len(vectors):
                continue
            with warnings.catch_warnings():  # an item no remaining model answered: NaN, that replicate unusable
                warnings.simplefilter("ignore", RuntimeWarning)
                observed = float(_mean_cosine(direction, np.nanmean(vectors, axis=0, keepdims=True))[0])
                n = len(vectors)
                left_out = np.array([np.nanmean(np.delete(vectors, g, axis=0), axis=0) for g in range(n)]) \
                    if n > 1 else np.empty((0, len(items)))
                replicated = _mean_cosine(direction, left_out)
            se = float(np.sqrt((n - 1) / n * np.sum((replicated - replicated.mean()) ** 2))) if n > 1 else np.nan
            half = float(t_ppf(0.975, n - 1)) * se if n > 1 else np.nan
            records.append({"population": h.country, "origin": str(origin), "language": language, "persona": NONE,
                            "reference": f"LLM {origin}", "n_models": n, "mean": observed, "sd_models": np.nan,
                            "se_models": se, "ci_low": observed - half, "ci_high": observed + half,
                            "interval": "t interval with the jackknife SE over the origin's models "
                                        "(n_models - 1 df)"})
    return pd.DataFrame.from_records(records)


def _mean_cosine(direction: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Mean cosine of the respondents (their mean unit vector ``direction``) with each row of ``means``
    z-scored (NaN for a row that cannot be z-scored)."""
    z, usable = zscore_rows(means)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = (z @ direction) / np.linalg.norm(z, axis=1)
    return np.where(usable, out, np.nan)


def write_model_means(survey: str, figure_rows: dict[str, RowSet], humans: list[HumanVectors],
                      survey_means: pd.DataFrame, items: list[str], out_dir: Path) -> pd.DataFrame:
    """model_means_<survey>.csv from RQ1's rows (Figures 1 and 3B) and RQ2's (Figure 4), whichever exist."""
    frames = []
    if "rq1" in figure_rows:
        rq1 = figure_rows["rq1"]
        frames.append(over_models(rq1, ["population", "origin"]).assign(figure="1", analysis="rq1"))
        frames.append(llm_reference_over_models(humans, survey_means, items, rq1)
                      .assign(figure="3B", analysis="rq1"))
    if "rq2" in figure_rows:
        frames.append(over_models(figure_rows["rq2"], ["origin", "language", "persona", "population"])
                      .assign(figure="4", analysis="rq2"))
    frames = [f for f in frames if len(f)]
    table = (pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()).reindex(columns=MODEL_MEANS_COLUMNS)
    table.to_csv(Path(out_dir) / f"model_means_{survey}.csv", index=False)
    return table
