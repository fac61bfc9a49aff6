"""The three research-question designs: which respondent x model x condition rows, and how they are coded.

RQ1  persona none; each respondent against each model answering in the respondent's language.
     cosine ~ nationality * origin (sum codes, +0.5 = the focal country, CHN as in the paper).
RQ2  personas only (no "none"), every language: each respondent against each model in every condition.
     cosine ~ language * persona * origin * nationality (the default, the full factorial) with language,
     persona and origin each +0.5 when congruent with the respondent's nationality (language = the
     respondent's language, persona = the respondent's country, origin = the respondent's country). With
     two countries this is the full factorial of the raw factors too: a raw main effect (a Chinese prompt,
     a CHN persona, a model made in China, whoever the respondent) is the congruence term's interaction with
     nationality, so no main effect is omitted. The paper's specification (``--paper-compatible``) is
     cosine ~ language * persona * origin, without nationality. This coding works for any number of
     countries.
RQ3  RQ1's rows, each cosine also recomputed with one dimension (MFQ-2 foundation, WVS question) left out;
     cosine ~ nationality * origin * removed, ``removed`` treatment-coded against "none".

Countries. Populations and personas are ISO alpha-3 codes; a respondent's language comes from
``COUNTRY_LANGUAGE`` (or the caller's mapping). RQ1 and RQ3 contrast two countries: the two populations
given, with models made in one of them (models of any other origin are excluded from those analyses, with the
reason recorded). With more than two populations the pipeline runs RQ1/RQ3 for each pair.

Reduced designs. What the data cannot contrast is left out of the regression, not the whole analysis: one
population drops ``nationality``, models of one origin (or not of both countries) drop ``origin`` (and then
every usable model is kept), RQ2 with one prompt language / one national persona / one origin drops that
congruence term (it would only restate the respondent's nationality). When no answers exist in a
respondent's language under persona none, RQ1/RQ3 pair those respondents with the language that was asked
(English when several were) and say so in ``RowSet.notes``. Dropped terms and their reasons are in
``RowSet.dropped_terms``; the cosines (``RowSet.frame()``) are all there.

Exclusions. A model is excluded from an analysis when a condition that analysis needs is unusable (an item
with no valid answer in any sample, or the same answer to every item) or absent; the reason is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from whosevalues.analysis.model_inference import InferenceOptions, ModelCells, model_level_columns
from whosevalues.analysis.ols import CellDesign, identifiable, regression_table
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
    notes: dict = field(default_factory=dict)  # respondent_languages {country: language}, language_rule

    @property
    def n_rows(self) -> int:
        return len(self.cosine)

    @property
    def dropped_terms(self) -> dict[str, str]:
        """Terms of the full design the data cannot estimate -> why (empty for a full design)."""
        return dict(self.design.dropped)

    def table(self, bootstrap: int = 1999, seed: int = 0, options: InferenceOptions | None = None) -> pd.DataFrame:
        """The regression table: the contract's five columns, the robust ones, then the model-level ones
        (model_inference.MODEL_COLUMNS). ``options`` overrides ``bootstrap`` and ``seed``."""
        options = options or InferenceOptions(bootstrap=bootstrap, seed=seed)
        stratum = self.models["origin"].to_numpy()
        table = regression_table(self.design, self.cosine, self.cell, self.respondent, self.model, stratum,
                                 bootstrap=options.bootstrap, seed=options.seed)
        labels, _ = self.origin_labels()
        cells = self.model_cells()
        for name, values in model_level_columns(cells, labels, options).items():
            table[name] = values
        return table

    def model_cells(self) -> ModelCells:
        """Per model x cell counts and sums (what every model-level method needs)."""
        if getattr(self, "_model_cells", None) is None:
            self._model_cells = ModelCells.from_rows(self.design, self.cosine, self.cell, self.model,
                                                     len(self.models))
        return self._model_cells

    def origin_labels(self) -> tuple[np.ndarray | None, str]:
        """Per model 1/0 for the two origins the design contrasts (CHN first), or None and why the models'
        origin labels cannot be permuted."""
        if not any("origin" in name.split(":") for name in self.design.term_names()):
            return None, "origin is not fitted"
        origins = sorted(set(self.models["origin"]), key=lambda c: (c != "CHN", c))
        if len(origins) != 2:
            return None, f"models of {len(origins)} origins: no two labels to permute"
        if self.analysis == "rq2" and not set(self.respondents["nationality"]) <= set(origins):
            return None, ("respondents of a country no model comes from: relabelling a model would not flip "
                          "their origin congruence")
        return (self.models["origin"].to_numpy() == origins[0]).astype(int), ""

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
    """Every model with a condition, usable or not (a model with no usable condition must still be recorded
    as excluded, with the reason)."""
    both = pd.concat([llm.keys[["model", "origin"]], llm.unusable[["model", "origin"]]], ignore_index=True)
    return both.drop_duplicates("model").sort_values("model").reset_index(drop=True)


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


def _countries(humans: list[HumanVectors], pair: tuple[str, ...] | None
               ) -> tuple[tuple[str, ...], list[HumanVectors]]:
    """The one or two countries contrasted (CHN first: +0.5, as in the paper) and their respondents."""
    if pair is None:
        present = sorted({h.country for h in humans}, key=lambda c: (c != "CHN", c))
        if not present:
            raise DesignSkipped("no respondents to compare")
        if len(present) > 2:
            raise DesignSkipped(f"needs respondents from one or two countries, got {present}: pass a pair")
        pair = tuple(present)
    chosen = [h for h in humans if h.country in pair]
    if not chosen:
        raise DesignSkipped(f"no respondents from {', '.join(pair)}")
    return tuple(pair), chosen


def _preferred(asked: list[str], llm: LLMVectors) -> str:
    """The language to pair respondents with when theirs was not asked: English if asked, else the language
    most models answered in (the first in alphabetical order on a tie)."""
    if "en" in asked:
        return "en"
    counts = llm.keys.groupby("language")["model"].nunique()
    return max(asked, key=lambda language: int(counts.get(language, 0)))


def _persona_none_languages(countries: tuple[str, ...], llm: LLMVectors,
                            languages: dict[str, str] | None) -> tuple[dict[str, str], dict]:
    """Each country's prompt language under persona none (its own when asked), and notes on fallbacks."""
    asked = sorted(set(llm.keys.loc[llm.keys["persona"] == NONE, "language"])
                   | set(llm.unusable.loc[llm.unusable["persona"] == NONE, "language"]))
    if not asked:
        raise DesignSkipped("no LLM answers under persona none")
    chosen: dict[str, str] = {}
    fallbacks = []
    for country in countries:
        own = respondent_language(country, languages)
        chosen[country] = own if own is not None and own in asked else _preferred(asked, llm)
        if chosen[country] != own:
            fallbacks.append(f"{country} respondents ({own or 'language unknown'}) compared with answers in "
                             f"{chosen[country]}")
    notes: dict = {"respondent_languages": chosen}
    if fallbacks:
        notes["language_rule"] = (f"the respondent's-language rule could not be applied (answers under persona "
                                  f"none only in {', '.join(asked)}): " + "; ".join(fallbacks))
    return chosen, notes


def _origin_contrast(countries: tuple[str, ...], usable: pd.DataFrame) -> tuple[tuple[str, str] | None, str | None]:
    """The two origins RQ1/RQ3 contrast (+0.5 first), or None and why origin cannot be fitted."""
    origins = sorted(set(usable["origin"]), key=lambda c: (c != "CHN", c))
    if len(origins) == 1:
        return None, f"every usable model is made in {origins[0]}: no contrast between model origins"
    if len(countries) == 2:
        missing = [c for c in countries if c not in origins]
        if not missing:
            return (countries[0], countries[1]), None
        return None, (f"no usable model made in {' or '.join(missing)} (models come from {', '.join(origins)}): "
                      f"origin {countries[0]} vs {countries[1]} cannot be contrasted; every usable model is compared")
    if len(origins) == 2:
        return (origins[0], origins[1]), None
    return None, (f"respondents from one country and models from {len(origins)} origins ({', '.join(origins)}): "
                  f"no two-origin contrast to fit")


@dataclass
class _Setup:
    """What RQ1 and RQ3 share: countries, respondents, models, languages, codes and what cannot be fitted."""

    countries: tuple[str, ...]
    humans: list[HumanVectors]
    models: pd.DataFrame
    human_language: dict[str, str]
    exclusions: pd.DataFrame
    nationality_bit: dict[str, int]  # 1 = the +0.5 country
    origin_bit: np.ndarray  # per model, 1 = the +0.5 origin (0 everywhere when origin is not fitted)
    factor_reasons: dict[str, str]
    notes: dict


def _nationality_origin_setup(survey: str, analysis: str, humans: list[HumanVectors], llm: LLMVectors,
                              pair: tuple[str, ...] | None, languages: dict[str, str] | None) -> _Setup:
    countries, humans = _countries(humans, pair)
    human_language, notes = _persona_none_languages(countries, llm, languages)
    models = _model_table(llm)
    needed = pd.DataFrame({"language": sorted(set(human_language.values())), "persona": NONE})
    excluded, language_exclusions = _exclude(survey, analysis, models, needed, llm)
    usable = models[~models["model"].isin(excluded)]
    if usable.empty:
        raise DesignSkipped("every model was excluded (see exclusions)")
    origin_pair, origin_reason = _origin_contrast(countries, usable)
    factor_reasons, records = {}, []
    if len(countries) == 1:
        factor_reasons["nationality"] = (f"respondents from one country only ({countries[0]}): no contrast "
                                         f"between nationalities")
    if origin_pair:  # models of other origins cannot be coded on the origin contrast: excluded
        for row in models[~models["origin"].isin(origin_pair)].itertuples():
            records.append((survey, analysis, row.model, "", "",
                            f"origin {row.origin} is neither {origin_pair[0]} nor {origin_pair[1]}"))
        in_pair = set(models.loc[models["origin"].isin(origin_pair), "model"])
        language_exclusions = language_exclusions[language_exclusions["model"].isin(in_pair)]
        usable = usable[usable["origin"].isin(origin_pair)]
    elif origin_reason:  # no pair: always a reason
        factor_reasons["origin"] = origin_reason
    usable = usable.reset_index(drop=True)
    exclusions = pd.concat([pd.DataFrame(records, columns=EXCLUSION_COLUMNS), language_exclusions],
                           ignore_index=True)
    origin_bit = ((usable["origin"] == origin_pair[0]).to_numpy().astype(int) if origin_pair
                  else np.zeros(len(usable), dtype=int))
    return _Setup(countries, humans, usable, human_language, exclusions,
                  {c: int(c == countries[0]) for c in countries}, origin_bit, factor_reasons, notes)


def _llm_rows(llm: LLMVectors, models: pd.DataFrame, language: str, persona: str) -> tuple[np.ndarray, np.ndarray]:
    """Indices into llm rows and into ``models`` of the usable conditions (language, persona), model order."""
    position = {m: i for i, m in enumerate(models["model"])}
    mask = (llm.keys["language"] == language) & (llm.keys["persona"] == persona) & llm.keys["model"].isin(position)
    rows = np.flatnonzero(mask.to_numpy())
    return rows, np.array([position[m] for m in llm.keys["model"].to_numpy()[rows]], dtype=np.int32)


NATIONALITY_ORIGIN = np.array([[-.5, -.5], [-.5, .5], [.5, -.5], [.5, .5]])


def _reduced(design: CellDesign, cell: np.ndarray, factor_reasons: dict[str, str]) -> CellDesign:
    return identifiable(design, np.bincount(cell, minlength=design.n_cells).astype(float), factor_reasons)


def rq1(survey: str, humans: list[HumanVectors], llm: LLMVectors, *, pair: tuple[str, ...] | None = None,
        languages: dict[str, str] | None = None) -> RowSet:
    """Nationality x origin, persona none, each respondent with the models in the respondent's language."""
    setup = _nationality_origin_setup(survey, "rq1", humans, llm, pair, languages)
    respondents, offsets = _respondent_table(setup.humans)
    conditions = pd.DataFrame({"language": sorted(set(setup.human_language.values())), "persona": NONE})
    blocks = _Blocks()
    for h in setup.humans:
        language = setup.human_language[h.country]
        rows, model_index = _llm_rows(llm, setup.models, language, NONE)
        values = cosine(h.z, llm.select(np.isin(np.arange(len(llm.keys)), rows)))
        row_cells = 2 * setup.nationality_bit[h.country] + setup.origin_bit[model_index]
        condition_index = int(np.flatnonzero(conditions["language"] == language)[0])
        blocks.add(values, offsets[h.country], model_index, condition_index, row_cells)
    y, respondent, model, condition, cell = blocks.arrays()
    design = _reduced(CellDesign(codes=NATIONALITY_ORIGIN, factors=["nationality", "origin"]), cell,
                      setup.factor_reasons)
    return RowSet(survey, "rq1", y, respondent, respondents, model, setup.models, condition, conditions, cell,
                  design, setup.exclusions, setup.notes)


def rq3(survey: str, humans: list[HumanVectors], llm: LLMVectors, dimensions: dict[str, list[int]], *,
        pair: tuple[str, ...] | None = None, languages: dict[str, str] | None = None) -> RowSet:
    """RQ1's rows with each dimension (item column indices) left out in turn; ``removed`` vs "none"."""
    setup = _nationality_origin_setup(survey, "rq3", humans, llm, pair, languages)
    setup.exclusions["analysis"] = "rq3"
    respondents, offsets = _respondent_table(setup.humans)
    names = list(dimensions)
    groups = [np.asarray(dimensions[name]) for name in names]
    languages_used = sorted(set(setup.human_language.values()))
    conditions = pd.DataFrame([(lang, NONE, removed) for lang in languages_used for removed in [NONE] + names],
                              columns=["language", "persona", "removed"])
    n_levels = len(names) + 1
    blocks = _Blocks()
    for h in setup.humans:
        language = setup.human_language[h.country]
        rows, model_index = _llm_rows(llm, setup.models, language, NONE)
        values = leave_out_cosine(h.z, llm.select(np.isin(np.arange(len(llm.keys)), rows)), groups)
        base_condition = languages_used.index(language) * n_levels
        for level in range(n_levels):
            cells = (2 * setup.nationality_bit[h.country] + setup.origin_bit[model_index]) * n_levels + level
            blocks.add(np.ascontiguousarray(values[:, :, level]), offsets[h.country], model_index,
                       base_condition + level, cells)
    y, respondent, model, condition, cell = blocks.arrays()
    design = CellDesign(codes=np.repeat(NATIONALITY_ORIGIN, n_levels, axis=0), factors=["nationality", "origin"],
                        indicator="removed", level=np.tile(np.arange(n_levels) - 1, 4), levels=names)
    return RowSet(survey, "rq3", y, respondent, respondents, model, setup.models, condition, conditions, cell,
                  _reduced(design, cell, setup.factor_reasons), setup.exclusions, setup.notes)


def _national_conditions(llm: LLMVectors) -> tuple[list[str], list[str]]:
    """National personas (not "none") and the languages they were asked in (usable or not)."""
    both = pd.concat([llm.keys[["language", "persona"]], llm.unusable[["language", "persona"]]])
    national = both[both["persona"] != NONE]
    return sorted(set(national["persona"])), sorted(set(national["language"]))


def rq2(survey: str, humans: list[HumanVectors], llm: LLMVectors, *,
        languages: dict[str, str] | None = None, nationality: bool = True) -> RowSet:
    """Congruence of language, persona and origin with each respondent's nationality.

    ``nationality``: also fit the respondent's nationality (sum-coded, centred) crossed with the three
    congruence factors, the default: the full factorial. Origin congruence is nationality x model origin,
    so without nationality the residuals carry the nationality gap: every model of one origin gets residuals
    of one sign, which inflates the model-level SEs of the origin terms and, with unequal numbers of models
    per origin, biases the origin estimate; without its interactions the raw main effects of prompt
    language, persona and origin (the same for every respondent) are left in the residuals the same way.
    The paper's specification (``nationality=False``) leaves all of them out.
    """
    countries = sorted({h.country for h in humans}, key=lambda c: (c != "CHN", c))
    if not countries:
        raise DesignSkipped("no respondents to compare")
    personas, prompt_languages = _national_conditions(llm)
    if not personas:
        raise DesignSkipped("needs answers under a national persona (persona none belongs to RQ1); got none")
    human_language = {country: respondent_language(country, languages) for country in countries}
    models = _model_table(llm)
    needed = pd.DataFrame([(lang, p) for lang in prompt_languages for p in personas], columns=["language", "persona"])
    excluded, exclusions = _exclude(survey, "rq2", models, needed, llm)
    models = models[~models["model"].isin(excluded)].reset_index(drop=True)
    if models.empty:
        raise DesignSkipped("every model was excluded (see exclusions)")
    reasons, notes = _rq2_reasons(countries, personas, prompt_languages, models, human_language)
    respondents, offsets = _respondent_table(humans)
    blocks = _Blocks()
    origins = models["origin"].to_numpy()
    for h in humans:
        country_cells = 8 * countries.index(h.country) if nationality else 0
        for index, (language, persona) in enumerate(needed.itertuples(index=False)):
            rows, model_index = _llm_rows(llm, models, language, persona)
            values = cosine(h.z, llm.select(np.isin(np.arange(len(llm.keys)), rows)))
            congruent = (4 * int(language == human_language[h.country]) + 2 * int(persona == h.country)
                         + (origins[model_index] == h.country).astype(int))
            blocks.add(values, offsets[h.country], model_index, index, congruent + country_cells)
    y, respondent, model, condition, cell = blocks.arrays()
    bits = np.array([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)], dtype=float) - 0.5
    if nationality:
        design = _rq2_with_nationality(bits, countries)
        if len(countries) == 1:
            reasons["nationality"] = (f"respondents from one country only ({countries[0]}): "
                                      "no contrast between nationalities")
    else:
        design = CellDesign(codes=bits, factors=["language", "persona", "origin"])
    design = _reduced(design, cell, reasons)
    return RowSet(survey, "rq2", y, respondent, respondents, model, models, condition, needed.copy(), cell, design,
                  exclusions, notes)


def _rq2_with_nationality(bits: np.ndarray, countries: list[str]) -> CellDesign:
    """RQ2's congruence design crossed with nationality (the full factorial); cells: 8 congruence cells per
    country.

    Two countries: one column ``nationality``, +0.5 for the first (CHN when present), as in RQ1. More:
    sum coding, one column ``nationality[<country>]`` per country but the last (+0.5 that country, -0.5 the
    last, 0 the others), each crossed with the congruence factors but not with each other. The codes are
    centred over the rows like every other factor.
    """
    if len(countries) <= 2:
        names = ["nationality"]
        per_country = np.array([[.5], [-.5]])[:len(countries)]
    else:
        names = [f"nationality[{c}]" for c in countries[:-1]]
        per_country = np.vstack([np.eye(len(countries) - 1) * .5, np.full((1, len(countries) - 1), -.5)])
    codes = np.hstack([np.tile(bits, (len(countries), 1)), np.repeat(per_country, 8, axis=0)])
    return CellDesign(codes=codes, factors=["language", "persona", "origin", *names],
                      one_factor=tuple(names) if len(names) > 1 else ())


def _rq2_reasons(countries, personas, prompt_languages, models, human_language) -> tuple[dict[str, str], dict]:
    """Congruence terms that would only restate the respondent's nationality, and notes on languages."""
    restates = "congruence would only restate the respondent's nationality"
    reasons = {}
    if len(prompt_languages) == 1:
        reasons["language"] = f"one prompt language ({prompt_languages[0]}): language {restates}"
    if len(personas) == 1:
        reasons["persona"] = f"one national persona ({personas[0]}): persona {restates}"
    origins = sorted(set(models["origin"]))
    if len(origins) == 1:
        reasons["origin"] = f"every usable model is made in {origins[0]}: origin {restates}"
    notes: dict = {"respondent_languages": dict(human_language)}
    unasked = [f"{c} ({lang or 'language unknown'})" for c, lang in human_language.items()
               if lang not in prompt_languages]
    if unasked and "language" not in reasons:
        notes["language_rule"] = (f"no answers in the language of {', '.join(unasked)} respondents: every "
                                  f"condition counts as language-incongruent for them")
    return reasons, notes
