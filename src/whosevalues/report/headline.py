"""The report's headline: per survey, which population the models are closer to, with a 95% confidence
interval of the difference and the coverage behind it (items and valid answers), or "no clear difference"
when the interval contains zero.

The difference is, per model, its mean cosine to the closest population minus its mean cosine to the next
one. Its interval is over models (t interval) when there are several; for one model, over respondents (Welch)
when respondent-level similarities exist, else over items (bootstrap of the items, cosines recomputed from
the item means), and it says which.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from whosevalues.report.answers import DISTRIBUTION, LOW_VALID_MASS, model_modes, validity_data
from whosevalues.report.figures import RESPONDENT_LANGUAGE, model_similarity, rq1_rows
from whosevalues.report.outdir import OutputDir, display_name, mean_ci, survey_label
from whosevalues.report.tables import fmt_number

BOOTSTRAP = 2000


@dataclass
class Headline:
    survey: str
    populations: list[str]  # closest first (mean over models)
    means: dict[str, float]
    models: list[str]
    n_closer: int  # models closer to populations[0] than to populations[1]
    difference: float = float("nan")
    ci: tuple[float, float] = (float("nan"), float("nan"))
    ci_over: str = ""  # what the interval is over, or why there is none
    coverage: list[str] = field(default_factory=list)

    @property
    def clear(self) -> bool:
        low, high = self.ci
        return bool(np.isfinite(low) and np.isfinite(high) and (low > 0 or high < 0))


def headlines(out: OutputDir) -> list[Headline]:
    """One headline per survey with similarities (computed once per directory object)."""
    return list(out.memo("headlines", lambda: _headlines(out)))


def _headlines(out: OutputDir) -> list[Headline]:
    found = []
    for survey in out.surveys():
        data = out.memo(f"model_similarity_{survey}", lambda: model_similarity(out, survey))  # noqa: B023
        if data is not None and not data.empty:
            found.append(_headline(out, survey, data))
    return found


def _headline(out: OutputDir, survey: str, data: pd.DataFrame) -> Headline:
    grid = data.pivot_table(index="model", columns="population", values="mean")
    overall = grid.mean().sort_values(ascending=False)
    populations = list(overall.index)
    result = Headline(survey, populations, overall.to_dict(), list(grid.index), n_closer=len(grid))
    result.coverage = coverage(out, survey, result.models)
    if len(populations) < 2:
        return result
    top, other = populations[:2]
    per_model = (grid[top] - grid[other]).dropna()
    result.n_closer = int((per_model > 0).sum())
    result.difference = float(per_model.mean())
    if len(per_model) >= 2:
        _, low, high, n = mean_ci(per_model)
        result.ci, result.ci_over = (low, high), f"over the {n} models"
    elif rq1_rows(out, survey)[1] == "respondent":
        result.ci, result.ci_over = _welch_over_respondents(out, survey, per_model.index[0], top, other)
    else:
        result.ci, result.ci_over = _bootstrap_over_items(out, survey, per_model.index[0], top, other)
    return result


def _welch_over_respondents(out: OutputDir, survey: str, model: str, top: str, other: str):
    rows, _ = rq1_rows(out, survey)
    rows = rows[rows["model"] == model]
    a = rows.loc[rows["population"] == top, "cosine"].dropna().to_numpy()
    b = rows.loc[rows["population"] == other, "cosine"].dropna().to_numpy()
    if len(a) < 2 or len(b) < 2:
        return (np.nan, np.nan), "no interval: too few respondents"
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * np.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return (diff - half, diff + half), f"over the {len(a):,} and {len(b):,} respondents, Welch"


def _human_item_means(out: OutputDir, survey: str, country: str) -> pd.Series | None:
    stats_frame = out.human_item_stats()
    if stats_frame is not None:
        rows = stats_frame[(stats_frame["survey"] == survey) & (stats_frame["country"].astype(str) == country)]
        if len(rows):
            return rows.set_index("item")["mean"].astype(float)
    for record in out.populations():
        means = (record.get("audit") or {}).get("item_means")
        if record.get("survey") == survey and str(record.get("country")) == country and isinstance(means, dict):
            return pd.Series(means, dtype=float)
    return None


def _bootstrap_over_items(out: OutputDir, survey: str, model: str, top: str, other: str):
    """Resample the items (with replacement) and recompute the model's cosine to each population's item
    means as the headline's cosines were computed (z-scored across items, persona none): averaged over every
    prompt language when they come from the aggregate comparison, else in the population's own language."""
    humans = {c: _human_item_means(out, survey, c) for c in (top, other)}
    means = out.survey_means(survey)
    means = means[(means["model"] == model) & (means["persona"] == "none")]
    if any(h is None for h in humans.values()) or means.empty:
        return (np.nan, np.nan), "no interval: the populations' item means are not in this directory"
    wide = means.pivot_table(index="language", columns="item", values="mean")
    items = [i for i in wide.columns if all(i in h.index for h in humans.values())]
    if len(items) < 3:
        return (np.nan, np.nan), "no interval: fewer than 3 items in common"
    llm = wide[items].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(items), size=(BOOTSTRAP, len(items)))
    every_language = out.aggregate_similarity(survey) is not None
    cosines = {}
    for country, human in humans.items():
        h = human.reindex(items).to_numpy(dtype=float)
        own = RESPONDENT_LANGUAGE.get(country)
        languages = list(wide.index) if every_language or own not in wide.index else [own]
        per_language = [_resampled_cosines(llm[list(wide.index).index(lang)], h, draws) for lang in languages]
        cosines[country] = np.nanmean(per_language, axis=0)
    difference = cosines[top] - cosines[other]
    difference = difference[np.isfinite(difference)]
    if len(difference) < BOOTSTRAP / 2:
        return (np.nan, np.nan), "no interval: the cosine is undefined on most resamples of the items"
    low, high = np.percentile(difference, [2.5, 97.5])
    return (float(low), float(high)), f"over {BOOTSTRAP:,} bootstrap resamples of the {len(items)} items"


def _resampled_cosines(llm: np.ndarray, human: np.ndarray, draws: np.ndarray) -> np.ndarray:
    a, b = llm[draws], human[draws]
    ok = ~(np.isnan(a) | np.isnan(b))
    a, b = np.where(ok, a, np.nan), np.where(ok, b, np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        za = (a - np.nanmean(a, axis=1, keepdims=True)) / np.nanstd(a, axis=1, ddof=1, keepdims=True)
        zb = (b - np.nanmean(b, axis=1, keepdims=True)) / np.nanstd(b, axis=1, ddof=1, keepdims=True)
        return np.nansum(za * zb, axis=1) / np.sqrt(np.nansum(za ** 2, axis=1) * np.nansum(zb ** 2, axis=1))


# -- coverage --------------------------------------------------------------------------------------

def coverage(out: OutputDir, survey: str, models: list[str]) -> list[str]:
    """Items and valid answers behind a survey's headline (persona none, the headline's models)."""
    means = out.survey_means(survey)
    means = means[means["model"].isin(models) & (means["persona"] == "none")]
    if means.empty:
        return []
    n_items = _survey_items(survey, means)
    answered = means.dropna(subset=["mean"]).groupby(["model", "language"])["item"].nunique()
    answered = answered.reindex(means.groupby(["model", "language"]).size().index, fill_value=0)
    parts = []
    if answered.min() == answered.max() == n_items:
        parts.append(f"all {n_items} items for every model and language")
    else:
        (model, language) = answered.idxmin()
        parts.append(f"{answered.min()}-{answered.max()} of {n_items} items per model and language (fewest: "
                     f"{display_name(model)}, {language})")
    parts.append(_valid_answers(out, survey, means, models))
    parts += _sample_check_flags(out, models)
    return parts


def _sample_check_flags(out: OutputDir, models: list[str]) -> list[str]:
    """The run's check of distribution mode against sampled answers, where it disagreed (run_notes.json)."""
    from whosevalues.report.answers import sample_check_disagrees, sample_check_text

    notes = out.run_notes().get("models") or {}
    return [f"the run's sample check of {display_name(m)} disagrees ({sample_check_text(notes[m]['sample_check'])}): "
            f"its probability distributions may not describe the answers it gives"
            for m in models if isinstance(notes.get(m), dict) and sample_check_disagrees(notes[m].get("sample_check"))]


def _survey_items(survey: str, means: pd.DataFrame) -> int:
    from whosevalues.report.figures.common import _instrument

    instrument = _instrument(survey)
    return len(instrument.item_ids) if instrument is not None else int(means["item"].nunique())


def _valid_answers(out: OutputDir, survey: str, means: pd.DataFrame, models: list[str]) -> str:
    modes = model_modes(out)
    texts = []
    sampled = means[means["model"].map(lambda m: modes.get(m) != DISTRIBUTION)]
    counts = pd.to_numeric(sampled["n_valid"], errors="coerce") if "n_valid" in sampled else pd.Series(dtype=float)
    if counts.notna().any():
        known = sampled[counts.notna()].assign(n_valid=counts[counts.notna()])
        worst = known.loc[known["n_valid"].idxmin()]
        totals = pd.to_numeric(known["n_total"], errors="coerce")
        text = f"valid samples per item: median {known['n_valid'].median():g} of {totals.median():g}"
        if worst["n_valid"] < known["n_valid"].median():
            text += (f", as few as {worst['n_valid']:g} ({display_name(worst['model'])}, {worst['language']}, "
                     f"item {worst['item']})")
        texts.append(text)
    elif len(sampled):
        validity = validity_data(out, survey)
        recorded = validity[(validity["measure"] == "recorded") & validity["model"].isin(models)
                            & (validity["persona"] == "none")] if validity is not None else pd.DataFrame()
        if len(recorded):
            worst = recorded["prop_na"].max()
            texts.append("valid samples per item not recorded; the answers file records " + (
                f"up to {worst:.1%} missing answers per condition (prop_na)" if worst > 0
                else "no missing answers in these conditions (prop_na 0)"))
        else:
            texts.append("how many answers were valid is not recorded")
    mass = means[means["model"].map(lambda m: modes.get(m) == DISTRIBUTION)]
    if "valid_mass" in mass and pd.to_numeric(mass["valid_mass"], errors="coerce").notna().any():
        by_language = mass.assign(valid_mass=pd.to_numeric(mass["valid_mass"], errors="coerce")) \
            .groupby("language")["valid_mass"].mean()
        text = "probability on valid answers (distribution mode): " + ", ".join(
            f"{value:.0%} in {language}" for language, value in by_language.items())
        if (by_language < LOW_VALID_MASS).any():
            text += (" (below half: those answers rest on a small part of the model's probability, see "
                     "Answer validity)")
        texts.append(text)
    return "; ".join(texts)


# -- sentences -------------------------------------------------------------------------------------

def headline_sentence(h: Headline, total_models: int | None = None) -> str:
    label = survey_label(h.survey)
    n = len(h.models)
    if len(h.populations) == 1:
        return (f"On {label}, the mean cosine similarity of the {n} model(s) to {h.populations[0]} respondents is "
                f"{fmt_number(h.means[h.populations[0]], 2)} (one population: no comparison).")
    top, other = h.populations[:2]
    means = " vs ".join(fmt_number(h.means[p], 2) for p in h.populations)
    others = f"{other} respondents" if len(h.populations) == 2 else \
        f"respondents of any other population ({', '.join(h.populations[1:])})"
    numbers = f"mean cosine {means}; difference {fmt_number(h.difference, 2)}, " + (
        f"95% CI {fmt_number(h.ci[0], 2)} to {fmt_number(h.ci[1], 2)} {h.ci_over}" if np.isfinite(h.ci[0])
        else h.ci_over)
    if h.clear:
        who = (f"The one model ({display_name(h.models[0])}) is" if n == 1 else
               f"All {n} models are" if h.n_closer == n else f"{h.n_closer} of {n} models are")
        sentence = f"{who} closer to {top} respondents than to {others} on {label} ({numbers})."
    else:
        who = f"the one model ({display_name(h.models[0])})" if n == 1 else f"the {n} models"
        verdict = "no clear difference" if np.isfinite(h.ci[0]) else "no established difference"
        sentence = (f"On {label}, {verdict} between the similarity of {who} to {top} and to {other} respondents "
                    f"({numbers}" + (f"; {h.n_closer} of {n} are closer to {top}" if n > 1 else "") + ").")
    if total_models and total_models > n:
        sentence += (f" These are {n} of the {total_models} models; \"Models in each analysis\" says who is left "
                     f"out and why.")
    return sentence


def coverage_sentence(h: Headline) -> str:
    return ("Coverage: " + "; ".join(p for p in h.coverage if p) + ".") if h.coverage else ""
