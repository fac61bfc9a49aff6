"""Every model against every country with data: ``countries_<survey>.csv``.

One row per model x language x persona x country x level:

- ``level``: ``item`` where the country has item means (respondents, answer distributions or item means);
  ``dimension`` for surveys with dimensions (MFQ-2 foundations): every country with item data gets this level
  too, beside the countries known only by dimension means, so that all are comparable at that level.
- ``similarity``: cosine between the LLM's vector and the country's mean vector, each z-scored (sample SD) over
  the dimensions both have (``n_dims`` of them). At the dimension level an LLM's (and a country's) score is the
  mean of its item means in that dimension.
- ``rank``: 1 for the most similar country within model x language x persona x level.
- Extra columns where the country has respondents: ``n_respondents`` and the mean per-respondent cosine
  (each respondent's own answers z-scored at that level) with its 95% t interval (``respondent_cosine``,
  ``respondent_cosine_low``, ``respondent_cosine_high``).
- ``variant``: the question format the model was asked in (``original`` = the paper's prompt); ranks are within
  a variant. Then the distributional columns of analysis/distributional.py (item level, where both sides have
  answer distributions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis import distributional
from whosevalues.analysis.aggregate_similarity import cosines_of_means
from whosevalues.analysis.formats import VARIANT, with_variant
from whosevalues.analysis.vectors import zscore_rows
from whosevalues.humans.population import Population
from whosevalues.instruments import Instrument, load_instrument
from whosevalues.instruments.variants import ORIGINAL
from whosevalues.intervals import mean_ci

CONDITION = ["model", "origin", "language", "persona"]
COLUMNS = [*CONDITION, "country", "level", "n_dims", "similarity", "rank"]
RESPONDENT_COLUMNS = ["n_respondents", "respondent_cosine", "respondent_cosine_low", "respondent_cosine_high"]
LLM_INDEX = [*CONDITION, VARIANT]  # one LLM vector per condition and question format
RANK_WITHIN = ["model", "language", "persona", VARIANT, "level"]
ITEM, DIMENSION = "item", "dimension"
NONE = "none"


def has_dimension_level(instrument: Instrument) -> bool:
    """A survey whose items group into fewer dimensions (MFQ-2), not one whose items are their own (WVS)."""
    return bool(instrument.dimensions) and len(set(instrument.dimension_of().values())) < len(instrument.items)


def dimension_scores(item_values: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Rows x items -> rows x dimensions: the mean of the items of each dimension (items without a value skipped)."""
    dimension_of = instrument.dimension_of()
    grouped = item_values.T.groupby(lambda item: dimension_of[str(item)], sort=False).mean().T
    return grouped.reindex(columns=instrument.dimensions)


def country_vectors(population: Population, instrument: Instrument) -> dict[str, pd.Series]:
    """level -> the country's mean vector at that level (items, or dimensions)."""
    vectors = {}
    if population.level == ITEM:
        item_means = population.item_means().reindex(instrument.item_ids).astype(float)
        vectors[ITEM] = item_means
        if has_dimension_level(instrument):
            vectors[DIMENSION] = dimension_scores(item_means.to_frame().T, instrument).iloc[0]
    elif has_dimension_level(instrument):
        means = population.dimension_means
        assert means is not None, "a population given at dimension level carries its dimension means"
        vectors[DIMENSION] = means.reindex(instrument.dimensions).astype(float)
    return vectors


def respondent_matrix(population: Population, instrument: Instrument, level: str) -> np.ndarray | None:
    """Respondents x (items or dimensions), or None without respondents."""
    if population.responses is None:
        return None
    answers = population.responses.reindex(columns=instrument.item_ids).astype(float)
    if level == DIMENSION:
        answers = dimension_scores(answers, instrument)
    return answers.to_numpy()


def respondent_cosines(respondents: np.ndarray, llm: np.ndarray) -> list[np.ndarray]:
    """Per LLM vector (rows of ``llm``), each respondent's cosine with it, both z-scored over the columns
    both have; respondents with a missing answer there or no spread (straight-liners) are left out.
    LLM vectors with every column share one matrix product; the others are done one by one."""
    results: list[np.ndarray] = [np.array([])] * len(llm)
    complete = ~np.isnan(llm).any(axis=1)
    if complete.any():
        z_h, usable = zscore_rows(respondents)
        z_l, ok = zscore_rows(llm[complete])
        z_h = z_h[usable]
        cos = (z_h @ z_l.T) / np.outer(np.linalg.norm(z_h, axis=1), np.linalg.norm(z_l, axis=1))
        for column, index in enumerate(np.flatnonzero(complete)):
            results[index] = cos[:, column] if ok[column] else np.array([])
    for index in np.flatnonzero(~complete):
        both = ~np.isnan(llm[index])
        if both.sum() < 2:
            continue
        z_h, usable = zscore_rows(respondents[:, both])
        z_l, ok = zscore_rows(llm[index, both][None, :])
        if ok[0]:
            z_h = z_h[usable]
            results[index] = z_h @ z_l[0] / (np.linalg.norm(z_h, axis=1) * np.linalg.norm(z_l[0]))
    return results


def llm_matrix(item_means: pd.DataFrame, survey: str, instrument: Instrument) -> pd.DataFrame:
    """(model, origin, language, persona, variant) x items: the LLM's item means."""
    rows = with_variant(item_means[item_means["survey"].astype(str) == survey])
    rows = rows.assign(item=rows["item"].astype(str))
    return rows.pivot_table(index=LLM_INDEX, columns="item", values="mean", aggfunc="first") \
        .reindex(columns=instrument.item_ids).astype(float)


def compare_countries(item_means: pd.DataFrame, populations: list[Population], survey: str,
                      item_distributions: pd.DataFrame | None = None) -> pd.DataFrame:
    """The countries table of one survey (columns COLUMNS + RESPONDENT_COLUMNS + variant + the distributional
    columns)."""
    instrument = load_instrument(survey)
    llm = {ITEM: llm_matrix(item_means, survey, instrument)}
    if has_dimension_level(instrument):
        llm[DIMENSION] = dimension_scores(llm[ITEM], instrument)
    records = []
    for population in populations:
        for level, human in country_vectors(population, instrument).items():
            human_values = human.to_numpy(dtype=float)
            asked = ~np.isnan(human_values)  # items not asked in the country are left out of both sides
            conditions = llm[level]
            llm_values = conditions.to_numpy(dtype=float)
            respondents = respondent_matrix(population, instrument, level)
            cosines = (respondent_cosines(respondents[:, asked], llm_values[:, asked])
                       if respondents is not None else None)
            similarities, n_dims = cosines_of_means(llm_values, human_values)
            for row, (*condition, variant) in enumerate(conditions.index):
                record = [*condition, population.country, level, int(n_dims[row]), similarities[row], np.nan]
                if cosines is not None:
                    mean, low, high, _ = mean_ci(cosines[row])
                    record += [len(cosines[row]), mean, low, high]
                else:
                    record += [np.nan] * len(RESPONDENT_COLUMNS)
                records.append(record + [variant])
    table = pd.DataFrame.from_records(records, columns=COLUMNS + RESPONDENT_COLUMNS + [VARIANT])
    table["n_respondents"] = table["n_respondents"].astype("Int64")
    table = distributional.add_alignment(table, populations, instrument, item_distributions, survey)
    return rank_countries(table)


def rank_countries(table: pd.DataFrame) -> pd.DataFrame:
    """rank 1 = most similar country within model x language x persona x variant x level (ties share the best
    rank)."""
    if table.empty:
        return table
    table = with_variant(table)
    group = table.groupby(RANK_WITHIN, sort=False)["similarity"]
    table["rank"] = group.rank(ascending=False, method="min").astype("Int64")
    order = sorted(set(table[VARIANT]), key=lambda name: (name != ORIGINAL, name))
    table["_variant_order"] = table[VARIANT].map({name: i for i, name in enumerate(order)})
    table = table.sort_values(["model", "language", "persona", "_variant_order", "level", "rank", "country"],
                              na_position="last")
    return table.drop(columns="_variant_order").reset_index(drop=True)


# -- the sentence: each model's closest and furthest countries --------------------------------
def headline_level(table: pd.DataFrame) -> str:
    """The level that compares the most countries (item on a tie: the finer one)."""
    counts = table.groupby("level")["country"].nunique()
    return max(counts.index, key=lambda level: (counts[level], level == ITEM))


def model_extremes(table: pd.DataFrame, few: int = 3) -> list[dict]:
    """Per model, with no persona, at the level comparing the most countries: the ``few`` closest and
    furthest countries by similarity averaged over the prompt languages, and one sentence saying so."""
    if table.empty or table["similarity"].notna().sum() == 0:
        return []
    every_variant = with_variant(table)
    table = every_variant[every_variant[VARIANT] == ORIGINAL]
    if table.empty or table["similarity"].notna().sum() == 0:
        return []
    level = headline_level(table)
    rows = table[(table["level"] == level) & (table["persona"] == NONE)]
    if rows.empty:  # no persona-free condition: use every persona
        rows = table[table["level"] == level]
    results = []
    of_model = dict(tuple(every_variant.groupby("model", sort=False)))  # each model's rows, split once
    for (model, origin), group in rows.groupby(["model", "origin"], sort=True):
        by_country = group.groupby("country")["similarity"].mean().dropna().sort_values(ascending=False)
        if by_country.empty:
            continue
        across = extremes_across_formats(of_model[model], group, by_country)
        shown = min(few, len(by_country) // 2) or 1
        closest = [(c, float(v)) for c, v in by_country.head(shown).items()]
        furthest = [(c, float(v)) for c, v in by_country.tail(shown).iloc[::-1].items()]
        languages = sorted(group["language"].unique())
        personas = sorted(group["persona"].unique())
        results.append({"model": model, "origin": origin, "level": level, "n_countries": int(len(by_country)),
                        "languages": languages, "personas": personas, "closest": closest, "furthest": furthest,
                        "holds_across_formats": across["holds"], "variants": across["variants"],
                        "sentence": extremes_sentence(model, level, len(by_country), languages, personas,
                                                      closest, furthest) + across["sentence"]})
    return results


def extremes_across_formats(every_variant: pd.DataFrame, original_rows: pd.DataFrame,
                            by_country: pd.Series) -> dict:
    """Does the model's closest and furthest country (under ``original``) stay the same in every other
    question format, over the same conditions (level, languages, personas)? holds: yes / no / not tested."""
    if not set(every_variant[VARIANT]) - {ORIGINAL} or len(by_country) < 2:  # nothing to compare with
        return {"holds": "not tested", "variants": [ORIGINAL], "sentence": ""}
    conditions = original_rows[["model", "level", "language", "persona"]].drop_duplicates()
    rows = every_variant.merge(conditions, on=list(conditions.columns))
    others = sorted(set(rows[VARIANT]) - {ORIGINAL})
    if not others:
        return {"holds": "not tested", "variants": [ORIGINAL], "sentence": ""}
    closest, furthest = by_country.index[0], by_country.index[-1]
    changed = []
    for variant in others:
        ranked = (rows[rows[VARIANT] == variant].groupby("country")["similarity"].mean().dropna()
                  .sort_values(ascending=False))
        if ranked.empty or ranked.index[0] != closest or ranked.index[-1] != furthest:
            changed.append(variant)
    if changed:
        return {"holds": "no", "variants": [ORIGINAL, *others],
                "sentence": f" This does not hold across question formats: the closest or furthest country "
                            f"differs under {', '.join(changed)}."}
    return {"holds": "yes", "variants": [ORIGINAL, *others],
            "sentence": f" It holds across the question formats asked ({', '.join(others)})."}


def _listed(pairs: list[tuple[str, float]]) -> str:
    return ", ".join(f"{country} ({value:.2f})" for country, value in pairs)


def extremes_sentence(model, level, n_countries, languages, personas, closest, furthest) -> str:
    persona = "no persona" if personas == [NONE] else "personas " + ", ".join(personas)
    where = f"{level} level, {n_countries} countries, {persona}, mean over prompts in {', '.join(languages)}"
    if n_countries < 2:
        return f"{model} was compared with one country only ({where}): {_listed(closest)}."
    return f"{model} is closest to {_listed(closest)} and furthest from {_listed(furthest)} ({where})."


# -- writing ----------------------------------------------------------------------------------
def _sources(populations: list[Population], table: pd.DataFrame) -> list[dict]:
    """Each data source with its countries and the levels they were compared at (populations.json describes
    only the RQ populations)."""
    levels = table.groupby("country")["level"].agg(lambda values: " and ".join(sorted(set(values), reverse=True)))
    by_source: dict[tuple[str, str], list[str]] = {}
    for population in populations:
        level = levels.get(population.country, population.level)
        by_source.setdefault((population.source, level), []).append(population.country)
    return [{"source": source, "level": level, "countries": countries}
            for (source, level), countries in by_source.items()]


def write_countries(item_means: pd.DataFrame, populations: dict[str, list[Population]], out_dir: Path,
                    item_distributions: pd.DataFrame | None = None) -> dict:
    """Write ``countries_<survey>.csv`` for every survey with LLM answers and populations; return, per
    survey, what summary.json keeps (countries per level, each model's closest and furthest)."""
    out_dir = Path(out_dir)
    result = {}
    surveys = set(item_means["survey"].astype(str))
    for survey, survey_populations in populations.items():
        if survey not in surveys or not survey_populations:
            continue
        table = compare_countries(item_means, survey_populations, survey, item_distributions)
        table.to_csv(out_dir / f"countries_{survey}.csv", index=False)
        result[survey] = {
            "file": f"countries_{survey}.csv",
            "sources": _sources(survey_populations, table),
            "countries": {level: sorted(group["country"].unique())
                          for level, group in table.groupby("level", sort=True)},
            "models": model_extremes(table),
        }
    return result
