"""The report's headline: per survey, which population the models are closer to, with a 95% confidence
interval of the difference and the coverage behind it (items and valid answers), or "no clear difference"
when the interval contains zero.

The difference is, per model, its mean cosine to the closest population minus its mean cosine to the next
one. Its interval is over models (t interval) when there are several; for one model, over respondents (Welch)
when respondent-level similarities exist, else over items (bootstrap of the items, cosines recomputed from
the item means), and it says which. A one-model interval over respondents also carries the uncertainty of
the model's own item vector: its half-width is combined (root sum of squares) with that of the bootstrap over
items, so a model whose answers carry no values (a hash of the item id) does not get a narrow interval.

The sentence also says (report/headline_checks.py) when a model is no further from chance than a respondent
who answers at random, and whether "closer to A than to B" and the origin conclusions hold across the
question formats asked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from whosevalues.intervals import mean_ci
from whosevalues.report import headline_checks
from whosevalues.report.answers import DISTRIBUTION, LOW_VALID_MASS, model_modes, validity_data
from whosevalues.report.figures import RESPONDENT_LANGUAGE, model_similarity, rq1_rows
from whosevalues.report.outdir import OutputDir, display_name, survey_label
from whosevalues.report.run_notes import sample_check_disagrees, sample_check_text
from whosevalues.report.tables import fmt_number
from whosevalues.special import t_ppf

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
    near_chance: list[str] = field(default_factory=list)  # models inside the random respondent's 95% range
    chance_band: str = ""  # that range per population, as text
    across_formats: str = "not tested"  # yes / no / not tested
    across_formats_text: str = ""
    origin_text: str = ""

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
    unit = rq1_rows(out, survey)[1]
    if len(per_model) >= 2:
        _, low, high, n = mean_ci(per_model)
        result.ci, result.ci_over = (low, high), f"over the {n} models"
    elif unit == "respondent":
        result.ci, result.ci_over = _respondents_and_items(out, survey, per_model.index[0], top, other,
                                                           result.difference)
    else:
        result.ci, result.ci_over = _bootstrap_over_items(out, survey, per_model.index[0], top, other)
    bands = headline_checks.chance_bands(out, survey, unit)
    result.near_chance = headline_checks.near_chance(grid[[top, other]], bands)
    result.chance_band = headline_checks.band_text(bands, [top, other])
    result.across_formats, result.across_formats_text = headline_checks.across_formats(
        out, survey, result.models, top, other)
    result.origin_text = headline_checks.origin_comparisons(out, survey)
    return result


def _respondents_and_items(out: OutputDir, survey: str, model: str, top: str, other: str, difference: float):
    """The Welch interval over respondents widened by the model's own uncertainty (bootstrap over items):
    half-widths combined as the root of the sum of their squares."""
    welch, welch_over = _welch_over_respondents(out, survey, model, top, other)
    items, items_over = _respondent_cosine_over_items(out, survey, model, top, other)
    if not np.isfinite(welch[0]):
        return welch, welch_over
    if not np.isfinite(items[0]):
        return welch, f"{welch_over} (the model's own uncertainty not included: {items_over})"
    half = np.hypot((welch[1] - welch[0]) / 2, (items[1] - items[0]) / 2)
    return ((difference - half, difference + half),
            f"{welch_over}, widened by the model's own uncertainty ({items_over})")


def _welch_over_respondents(out: OutputDir, survey: str, model: str, top: str, other: str):
    rows, _ = rq1_rows(out, survey)
    if rows is None:
        return (np.nan, np.nan), "no interval: no cosines in this directory"
    rows = rows[rows["model"] == model]
    a = rows.loc[rows["population"] == top, "cosine"].dropna().to_numpy()
    b = rows.loc[rows["population"] == other, "cosine"].dropna().to_numpy()
    if len(a) < 2 or len(b) < 2:
        return (np.nan, np.nan), "no interval: too few respondents"
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = t_ppf(0.975, df) * np.sqrt(va + vb)
    diff = a.mean() - b.mean()
    return (diff - half, diff + half), f"over the {len(a):,} and {len(b):,} respondents, Welch"


def _respondent_cosine_over_items(out: OutputDir, survey: str, model: str, top: str, other: str):
    """Bootstrap over items of the difference in the model's mean per-respondent cosine (top - other)."""
    contributions, reason = item_contributions(out, survey, model, top, other)
    if contributions is None:
        return (np.nan, np.nan), f"no interval over items: {reason}"
    draws = np.random.default_rng(0).integers(0, len(contributions), size=(BOOTSTRAP, len(contributions)))
    low, high = np.percentile(contributions[draws].sum(axis=1), [2.5, 97.5])
    return (float(low), float(high)), f"over {BOOTSTRAP:,} bootstrap resamples of the {len(contributions)} items"


def item_contributions(out: OutputDir, survey: str, model: str, top: str, other: str):
    """Per item, its share of the difference in the model's mean per-respondent cosine (top - other), and
    why there is none.

    A respondent's z-scored answers have norm sqrt(n - 1) over n items, so the mean over a country's
    respondents of cos(z_i, u) is z_mean . u / sqrt(n - 1), with z_mean the mean of their z-scores
    (human_item_stats.csv) and u the model's unit z-vector in the language RQ1 paired them with: the
    difference is a sum over items (the respondents' z-scores are kept as they are when items are resampled)."""
    stats_frame = out.human_item_stats()
    means = out.survey_means(survey)
    means = means[(means["model"] == model) & (means["persona"] == "none")]
    if stats_frame is None or means.empty:
        return None, "no human_item_stats.csv or model answers"
    stats_frame = stats_frame[stats_frame["survey"] == survey].assign(item=lambda f: f["item"].astype(str))
    wide = means.assign(item=means["item"].astype(str)).pivot_table(index="language", columns="item",
                                                                   values="mean")
    paired = out.analyses(survey).get("rq1", {}).get("respondent_languages") or {}
    total = np.zeros(wide.shape[1])
    for country, sign in ((top, 1.0), (other, -1.0)):
        z_mean = stats_frame[stats_frame["country"].astype(str) == country].set_index("item")["z_mean"]
        z_mean = z_mean.reindex(wide.columns).to_numpy(dtype=float)
        language = paired.get(country) or RESPONDENT_LANGUAGE.get(country)
        if np.isnan(z_mean).any() or language not in wide.index:
            return None, f"no item statistics or {language} answers for {country}"
        llm = wide.loc[language].to_numpy(dtype=float)
        if np.isnan(llm).any() or np.std(llm) == 0:
            return None, "the model's item vector is incomplete or flat"
        unit = (llm - llm.mean()) / np.linalg.norm(llm - llm.mean())
        total += sign * z_mean * unit / np.sqrt(len(llm) - 1)
    return total, ""


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
    known = {country: h for country, h in humans.items() if h is not None}
    if len(known) < len(humans) or means.empty:
        return (np.nan, np.nan), "no interval: the populations' item means are not in this directory"
    wide = means.pivot_table(index="language", columns="item", values="mean")
    items = [i for i in wide.columns if all(i in h.index for h in known.values())]
    if len(items) < 3:
        return (np.nan, np.nan), "no interval: fewer than 3 items in common"
    llm = wide[items].to_numpy(dtype=float)
    rng = np.random.default_rng(0)
    draws = rng.integers(0, len(items), size=(BOOTSTRAP, len(items)))
    every_language = out.aggregate_similarity(survey) is not None
    cosines = {}
    for country, human in known.items():
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
    notes = out.run_notes().get("models") or {}
    return [f"the run's sample check of {display_name(m)} disagrees ({sample_check_text(notes[m]['sample_check'])}): "
            f"its probability distributions may not describe the answers it gives"
            for m in models if isinstance(notes.get(m), dict) and sample_check_disagrees(notes[m].get("sample_check"))]


def _survey_items(survey: str, means: pd.DataFrame) -> int:
    from whosevalues.report.figures.common import _instrument

    instrument = _instrument(survey)
    return len(instrument.item_ids) if instrument is not None else int(means["item"].nunique())


def _valid_answers(out: OutputDir, survey: str, means: pd.DataFrame, models: list[str]) -> str:
    """How many of the headline's answers were valid, per answer mode, in that mode's terms."""
    modes = model_modes(out)
    in_distribution = means["model"].map(lambda m: modes.get(m) == DISTRIBUTION)
    texts = [_sampled_validity(out, survey, means[~in_distribution], models),
             _distribution_validity(means[in_distribution])]
    return "; ".join(t for t in texts if t)


def _sampled_validity(out: OutputDir, survey: str, sampled: pd.DataFrame, models: list[str]) -> str:
    if sampled.empty:
        return ""
    counts = pd.to_numeric(sampled["n_valid"], errors="coerce") if "n_valid" in sampled else None
    if counts is not None and counts.notna().any():
        known = sampled[counts.notna()].assign(n_valid=counts[counts.notna()])
        worst = known.loc[known["n_valid"].idxmin()]
        text = (f"valid samples per item: median {known['n_valid'].median():g} of "
                f"{pd.to_numeric(known['n_total'], errors='coerce').median():g}")
        if worst["n_valid"] < known["n_valid"].median():
            text += (f", as few as {worst['n_valid']:g} ({display_name(worst['model'])}, {worst['language']}, "
                     f"item {worst['item']})")
        return text
    validity = validity_data(out, survey)
    recorded = validity[(validity["measure"] == "recorded") & validity["model"].isin(models)
                        & (validity["persona"] == "none")] if validity is not None else pd.DataFrame()
    if recorded.empty:
        return "how many answers were valid is not recorded"
    worst = recorded["prop_na"].max()
    return "valid samples per item not recorded; the answers file records " + (
        f"up to {worst:.1%} missing answers per condition (prop_na)" if worst > 0
        else "no missing answers in these conditions (prop_na 0)")


def _distribution_validity(rows: pd.DataFrame) -> str:
    mass = pd.to_numeric(rows["valid_mass"], errors="coerce") if "valid_mass" in rows else None
    if mass is None or mass.isna().all():
        return ""
    by_language = rows.assign(valid_mass=mass).groupby("language")["valid_mass"].mean()
    text = "probability on valid answers (distribution mode): " + ", ".join(
        f"{value:.0%} in {language}" for language, value in by_language.items())
    if (by_language < LOW_VALID_MASS).any():
        text += " (below half: those answers rest on a small part of the model's probability, see Answer validity)"
    return text


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
    if h.near_chance and len(h.near_chance) == n:
        who = f"the one model ({display_name(h.models[0])}) is" if n == 1 else f"all {n} models are"
        sentence = (f"On {label}, {who} no further from chance than a respondent who answers at random: its "
                    f"similarity to {top} and to {other} respondents lies within a random respondent's 95% range "
                    f"({h.chance_band}), so which population it is closer to says nothing about its values "
                    f"({numbers}).")
    elif h.clear:
        who = (f"The one model ({display_name(h.models[0])}) is" if n == 1 else
               f"All {n} models are" if h.n_closer == n else f"{h.n_closer} of {n} models are")
        sentence = f"{who} closer to {top} respondents than to {others} on {label} ({numbers})."
    else:
        who = f"the one model ({display_name(h.models[0])})" if n == 1 else f"the {n} models"
        verdict = "no clear difference" if np.isfinite(h.ci[0]) else "no established difference"
        sentence = (f"On {label}, {verdict} between the similarity of {who} to {top} and to {other} respondents "
                    f"({numbers}" + (f"; {h.n_closer} of {n} are closer to {top}" if n > 1 else "") + ").")
    if h.near_chance and len(h.near_chance) < n:
        sentence += (f" But {', '.join(display_name(m) for m in h.near_chance)} "
                     f"{'is' if len(h.near_chance) == 1 else 'are'} no further from chance than a random "
                     f"respondent ({h.chance_band}).")
    sentence += h.across_formats_text + h.origin_text
    if total_models and total_models > n:
        sentence += (f" These are {n} of the {total_models} models; \"Models in each analysis\" says who is left "
                     f"out and why.")
    return sentence


def coverage_sentence(h: Headline) -> str:
    return ("Coverage: " + "; ".join(p for p in h.coverage if p) + ".") if h.coverage else ""
