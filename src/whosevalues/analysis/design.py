"""The three research-question designs: which respondent x model x condition rows, and how they are coded.

RQ1  persona none; each respondent against each model answering in the respondent's language.
     cosine ~ nationality * origin (sum codes, +0.5 = the focal country, CHN as in the paper).
RQ2  personas only (no "none"), every language: each respondent against each model in every condition.
     cosine ~ language * persona * origin, each +0.5 when congruent with the respondent's nationality
     (language = the respondent's language, persona = the respondent's country, origin = the respondent's
     country). This coding works for any number of countries.
RQ3  RQ1's rows, each cosine also recomputed with one dimension (MFQ-2 foundation, WVS question) left out;
     cosine ~ nationality * origin * removed, ``removed`` treatment-coded against "none".

Countries. Populations and personas are ISO alpha-3 codes; a respondent's language comes from
``COUNTRY_LANGUAGE`` (or the caller's mapping). RQ1 and RQ3 contrast exactly two countries: the two populations
given, with models made in one of them (models of any other origin are excluded from those analyses, with the
reason recorded). With more than two populations the pipeline runs RQ1/RQ3 for each pair.

Exclusions. A model is excluded from an analysis when a condition that analysis needs is unusable (an item
with no valid answer in any sample, or the same answer to every item) or absent; the reason is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from whosevalues.analysis.ols import CellDesign, regression_table
from whosevalues.analysis.vectors import HumanVectors, LLMVectors, cosine, leave_out_cosine

# Language of a country's respondents (the prompt language paired with them). Extend or override per call.
COUNTRY_LANGUAGE = {
    "CHN": "zh", "TWN": "zh", "HKG": "zh", "MAC": "zh", "SGP": "en",
    "USA": "en", "GBR": "en", "CAN": "en", "AUS": "en", "NZL": "en", "IRL": "en",
    "DEU": "de", "AUT": "de", "FRA": "fr", "ESP": "es", "MEX": "es", "ARG": "es", "JPN": "ja", "KOR": "ko",
    "RUS": "ru", "BRA": "pt", "PRT": "pt", "ITA": "it", "NLD": "nl", "TUR": "tr", "IND": "hi",
}
EXCLUSION_COLUMNS = ["survey", "analysis", "model", "language", "persona", "reason"]
NONE = "none"


class DesignSkipped(Exception):
    """The data cannot support this design (one origin only, no personas, ...). ``str(exc)`` says why."""


@dataclass
class RowSet:
    """The rows of one regression, as integer codes into small tables (no per-row strings)."""

    survey: str
    analysis: str
    cosine: np.ndarray
    respondent: np.ndarray
    respondents: pd.DataFrame  # respondent, nationality
    model: np.ndarray
    models: pd.DataFrame  # model, origin
    condition: np.ndarray
    conditions: pd.DataFrame  # language, persona (+ removed)
    cell: np.ndarray
    design: CellDesign
    exclusions: pd.DataFrame

    @property
    def n_rows(self) -> int:
        return len(self.cosine)

    def table(self, bootstrap: int = 200, seed: int = 0) -> pd.DataFrame:
        stratum = self.models["origin"].to_numpy()
        return regression_table(self.design, self.cosine, self.cell, self.respondent, self.model, stratum,
                                bootstrap=bootstrap, seed=seed)

    def frame(self) -> pd.DataFrame:
        """One row per respondent x model x condition (categorical columns: cheap at 1.4M rows)."""
        def cat(table: pd.DataFrame, column: str, codes: np.ndarray) -> pd.Categorical:
            values = table[column].astype(str)
            categories = pd.Index(values.unique())
            return pd.Categorical.from_codes(categories.get_indexer(values)[codes], categories=categories)

        data = {"respondent": cat(self.respondents, "respondent", self.respondent),
                "nationality": cat(self.respondents, "nationality", self.respondent),
                "model": cat(self.models, "model", self.model), "origin": cat(self.models, "origin", self.model),
                "language": cat(self.conditions, "language", self.condition),
                "persona": cat(self.conditions, "persona", self.condition)}
        if "removed" in self.conditions.columns:
            data["removed"] = cat(self.conditions, "removed", self.condition)
        data["cosine"] = self.cosine
        return pd.DataFrame(data)


def respondent_language(country: str, mapping: dict[str, str] | None = None) -> str | None:
    return (mapping or {}).get(country) or COUNTRY_LANGUAGE.get(country)


def _exclude(survey: str, analysis: str, models: pd.DataFrame, needed: pd.DataFrame,
             llm: LLMVectors) -> tuple[set[str], pd.DataFrame]:
    """Models lacking a usable condition in ``needed`` (language, persona): the set and the records."""
    usable = set(map(tuple, llm.keys[["model", "language", "persona"]].to_numpy()))
    unusable = {(r.model, r.language, r.persona): r.reason for r in llm.unusable.itertuples()}
    records = []
    for model in models["model"]:
        for language, persona in needed[["language", "persona"]].itertuples(index=False):
            key = (model, language, persona)
            if key in usable:
                continue
            reason = unusable.get(key, f"no answers under language {language}, persona {persona}")
            records.append((survey, analysis, model, language, persona, reason))
    frame = pd.DataFrame(records, columns=EXCLUSION_COLUMNS)
    return set(frame["model"]), frame


def _model_table(llm: LLMVectors) -> pd.DataFrame:
    return llm.keys[["model", "origin"]].drop_duplicates("model").sort_values("model").reset_index(drop=True)


def _respondent_table(humans: list[HumanVectors]) -> tuple[pd.DataFrame, dict[str, int]]:
    frames = [pd.DataFrame({"respondent": h.ids, "nationality": h.country}) for h in humans]
    offsets, start = {}, 0
    for h in humans:
        offsets[h.country] = start
        start += h.n
    return pd.concat(frames, ignore_index=True), offsets


class _Blocks:
    """Collects respondent-block x model-block cosine blocks into flat integer-coded arrays."""

    def __init__(self) -> None:
        self.parts: list[tuple[np.ndarray, ...]] = []

    def add(self, values: np.ndarray, respondent0: int, models: np.ndarray, condition: int,
            cells: np.ndarray) -> None:
        """``values``: respondents x models; ``cells``: the cell of each model column."""
        n, m = values.shape
        self.parts.append((values.ravel(), np.repeat(np.arange(respondent0, respondent0 + n, dtype=np.int32), m),
                           np.tile(models.astype(np.int32), n), np.full(n * m, condition, dtype=np.int32),
                           np.tile(cells.astype(np.int32), n)))

    def arrays(self) -> tuple[np.ndarray, ...]:
        return tuple(np.concatenate(column) for column in zip(*self.parts))


def _pair(humans: list[HumanVectors], pair: tuple[str, str] | None) -> tuple[str, str, list[HumanVectors]]:
    countries = [h.country for h in humans]
    if pair is None:
        if len(set(countries)) != 2:
            raise DesignSkipped(f"needs respondents from exactly two countries, got {sorted(set(countries))}")
        pair = tuple(sorted(set(countries), key=lambda c: (c != "CHN", c)))  # CHN is +0.5, as in the paper
    focal, other = pair
    chosen = [h for h in humans if h.country in pair]
    return focal, other, chosen


def _nationality_origin_setup(survey: str, analysis: str, humans: list[HumanVectors], llm: LLMVectors,
                              pair: tuple[str, str] | None, languages: dict[str, str] | None):
    focal, other, humans = _pair(humans, pair)
    models = _model_table(llm)
    records = []
    off_pair = models[~models["origin"].isin([focal, other])]
    for row in off_pair.itertuples():
        records.append((survey, analysis, row.model, "", "", f"origin {row.origin} is neither {focal} nor {other}"))
    models = models[models["origin"].isin([focal, other])]
    human_language = {}
    for h in humans:
        language = respondent_language(h.country, languages)
        if language is None:
            raise DesignSkipped(f"no prompt language known for {h.country} respondents: pass a language mapping")
        human_language[h.country] = language
    needed = pd.DataFrame({"language": sorted(set(human_language.values())), "persona": NONE})
    excluded, exclusion_frame = _exclude(survey, analysis, models, needed, llm)
    models = models[~models["model"].isin(excluded)].reset_index(drop=True)
    if models["origin"].nunique() < 2:
        raise DesignSkipped(f"needs models made in both {focal} and {other}; usable models come from "
                            f"{sorted(models['origin'].unique())}")
    exclusions = pd.concat([pd.DataFrame(records, columns=EXCLUSION_COLUMNS), exclusion_frame], ignore_index=True)
    return focal, other, humans, models, human_language, exclusions


def _llm_rows(llm: LLMVectors, models: pd.DataFrame, language: str, persona: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices into llm rows and into ``models`` of the usable conditions (language, persona), model order."""
    position = {m: i for i, m in enumerate(models["model"])}
    mask = (llm.keys["language"] == language) & (llm.keys["persona"] == persona) & llm.keys["model"].isin(position)
    rows = np.flatnonzero(mask.to_numpy())
    return rows, np.array([position[m] for m in llm.keys["model"].to_numpy()[rows]], dtype=np.int32)


def rq1(survey: str, humans: list[HumanVectors], llm: LLMVectors, *, pair: tuple[str, str] | None = None,
        languages: dict[str, str] | None = None) -> RowSet:
    """Nationality x origin, persona none, each respondent with the models in the respondent's language."""
    focal, other, humans, models, human_language, exclusions = _nationality_origin_setup(
        survey, "rq1", humans, llm, pair, languages)
    respondents, offsets = _respondent_table(humans)
    conditions = pd.DataFrame({"language": sorted(set(human_language.values())), "persona": NONE})
    origin_bit = (models["origin"] == focal).to_numpy().astype(int)
    blocks = _Blocks()
    for h in humans:
        language = human_language[h.country]
        rows, model_index = _llm_rows(llm, models, language, NONE)
        values = cosine(h.z, llm.select(np.isin(np.arange(len(llm.keys)), rows)))
        nationality_bit = int(h.country == focal)
        cells = 2 * nationality_bit + origin_bit[model_index]
        condition = int(np.flatnonzero(conditions["language"] == language)[0])
        blocks.add(values, offsets[h.country], model_index, condition, cells)
    y, respondent, model, condition, cell = blocks.arrays()
    design = CellDesign(codes=np.array([[-.5, -.5], [-.5, .5], [.5, -.5], [.5, .5]]),
                        factors=["nationality", "origin"])
    return RowSet(survey, "rq1", y, respondent, respondents, model, models, condition, conditions, cell, design,
                  exclusions)


def rq3(survey: str, humans: list[HumanVectors], llm: LLMVectors, dimensions: dict[str, list[int]], *,
        pair: tuple[str, str] | None = None, languages: dict[str, str] | None = None) -> RowSet:
    """RQ1's rows with each dimension (item column indices) left out in turn; ``removed`` vs "none"."""
    focal, other, humans, models, human_language, exclusions = _nationality_origin_setup(
        survey, "rq3", humans, llm, pair, languages)
    exclusions["analysis"] = "rq3"
    respondents, offsets = _respondent_table(humans)
    names = list(dimensions)
    groups = [np.asarray(dimensions[name]) for name in names]
    languages_used = sorted(set(human_language.values()))
    conditions = pd.DataFrame([(lang, NONE, removed) for lang in languages_used for removed in [NONE] + names],
                              columns=["language", "persona", "removed"])
    n_levels = len(names) + 1
    origin_bit = (models["origin"] == focal).to_numpy().astype(int)
    blocks = _Blocks()
    for h in humans:
        language = human_language[h.country]
        rows, model_index = _llm_rows(llm, models, language, NONE)
        values = leave_out_cosine(h.z, llm.select(np.isin(np.arange(len(llm.keys)), rows)), groups)
        nationality_bit = int(h.country == focal)
        base_condition = languages_used.index(language) * n_levels
        for level in range(n_levels):
            cells = (2 * nationality_bit + origin_bit[model_index]) * n_levels + level
            blocks.add(np.ascontiguousarray(values[:, :, level]), offsets[h.country], model_index,
                       base_condition + level, cells)
    y, respondent, model, condition, cell = blocks.arrays()
    base = np.array([[-.5, -.5], [-.5, .5], [.5, -.5], [.5, .5]])
    design = CellDesign(codes=np.repeat(base, n_levels, axis=0), factors=["nationality", "origin"],
                        indicator="removed", level=np.tile(np.arange(n_levels) - 1, 4), levels=names)
    return RowSet(survey, "rq3", y, respondent, respondents, model, models, condition, conditions, cell, design,
                  exclusions)


def rq2(survey: str, humans: list[HumanVectors], llm: LLMVectors, *,
        languages: dict[str, str] | None = None) -> RowSet:
    """Congruence of language, persona and origin with each respondent's nationality."""
    countries = sorted({h.country for h in humans})
    if len(countries) < 2:
        raise DesignSkipped(f"needs respondents from at least two countries, got {countries}")
    personas = sorted(set(llm.keys["persona"]) - {NONE}) + sorted(set(llm.unusable["persona"]) - {NONE})
    personas = sorted(set(personas))
    if len(personas) < 2:
        raise DesignSkipped(f"needs answers under at least two national personas, got {personas or 'none'}")
    prompt_languages = sorted(set(llm.keys["language"]) | set(llm.unusable["language"]))
    if len(prompt_languages) < 2:
        raise DesignSkipped(f"needs answers in at least two languages, got {prompt_languages}")
    human_language = {}
    for country in countries:
        language = respondent_language(country, languages)
        if language is None or language not in prompt_languages:
            raise DesignSkipped(f"no answers in the language of {country} respondents ({language})")
        human_language[country] = language
    models = _model_table(llm)
    needed = pd.DataFrame([(lang, p) for lang in prompt_languages for p in personas], columns=["language", "persona"])
    excluded, exclusions = _exclude(survey, "rq2", models, needed, llm)
    models = models[~models["model"].isin(excluded)].reset_index(drop=True)
    if models.empty:
        raise DesignSkipped("every model was excluded (see exclusions)")
    respondents, offsets = _respondent_table([h for h in humans if h.country in countries])
    blocks = _Blocks()
    origins = models["origin"].to_numpy()
    for h in humans:
        for index, (language, persona) in enumerate(needed.itertuples(index=False)):
            rows, model_index = _llm_rows(llm, models, language, persona)
            values = cosine(h.z, llm.select(np.isin(np.arange(len(llm.keys)), rows)))
            congruent = (4 * int(language == human_language[h.country]) + 2 * int(persona == h.country)
                         + (origins[model_index] == h.country).astype(int))
            blocks.add(values, offsets[h.country], model_index, index, congruent)
    y, respondent, model, condition, cell = blocks.arrays()
    bits = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=float) - 0.5
    design = CellDesign(codes=bits, factors=["language", "persona", "origin"])
    return RowSet(survey, "rq2", y, respondent, respondents, model, models, condition, needed.copy(), cell, design,
                  exclusions)
