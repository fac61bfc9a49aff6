"""The analysis: item means + human populations -> similarity files, RQ1/RQ2/RQ3 tables, summary.json.

``analyze(item_means, populations, out_dir=...)`` writes, per survey present in ``item_means`` (layout in
docs/output.md): ``tables/rq{1,2,3}_<survey>.csv``, ``tables/welch_<survey>.csv``,
``similarity_<survey>_<rq>.parquet``, ``reference_similarity_<survey>.csv``, ``human_item_stats.csv``,
``exclusions.csv``, ``populations.json`` and ``summary.json``. A design the data support only in part (one
origin, one language, one population, one persona) still gets its similarity file and a regression of the
terms it can estimate; summary.json lists the dropped terms and why (``analyses.<rq>.dropped_terms``). An
analysis is skipped, with its reason, only when there is nothing to compare (no respondents, no condition).
Populations without respondents (aggregates only) are left to ``aggregate_similarity``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.analysis import format_outputs, inference_outputs, model_means, paper_compat
from whosevalues.analysis.design import (
    EXCLUSION_COLUMNS,
    NONE,
    DesignSkipped,
    RowSet,
    respondent_language,
    rq1,
    rq2,
    rq3,
)
from whosevalues.analysis.llm_responses import original_only
from whosevalues.analysis.model_inference import InferenceOptions
from whosevalues.analysis.vectors import HumanVectors, LLMVectors, human_vectors, llm_vectors, zscore_rows
from whosevalues.errors import WhosevaluesError
from whosevalues.humans.population import Population
from whosevalues.instruments import InstrumentError, load_instrument
from whosevalues.instruments.schema import Instrument
from whosevalues.outfiles import write_json
from whosevalues.special import welch_ttest

ANALYSES = ("rq1", "rq2", "rq3")


class AnalysisError(WhosevaluesError, ValueError):
    """The analysis cannot start (bad input). The message names the problem and the fix."""


# human_item_stats.csv (docs/output.md), written with its header even when no population has respondents
HUMAN_ITEM_STATS_COLUMNS = ["survey", "country", "item", "dimension", "mean", "sd", "z_mean", "n"]


def analyze(item_means: pd.DataFrame, populations: dict[str, list[Population]], *, paper_compatible: bool = False,
            out_dir: Path, bootstrap: int = 1999, seed: int = 0,
            languages: dict[str, str] | None = None, wild_bootstrap: int = 9999, permutations: int = 9999,
            min_valid_samples: int | None = None, item_distributions: pd.DataFrame | None = None,
            country_populations: dict[str, list[Population]] | None = None) -> dict:
    """Run every analysis the data supports and write the output files; returns the summary dict.

    ``populations`` go into the RQ analyses; ``country_populations`` (default: the same) into the
    every-country comparison (countries_<survey>.csv) and steerability.
    ``bootstrap``: replicates of the bootstrap over models; ``wild_bootstrap``: of the wild cluster bootstrap
    by model; ``permutations``: Monte Carlo permutations of origin labels when there are more than 200,000
    assignments. ``min_valid_samples``: in sample mode, fewer valid samples make an item missing (default 5;
    the paper's 1 in paper-compatible mode). ``item_distributions``: per-value answer shares (default
    ``out_dir/item_distributions.csv`` when present), for the LLMs' reliability (analysis/reliability.py).
    """
    out_dir = Path(out_dir)
    (out_dir / "tables").mkdir(parents=True, exist_ok=True)
    item_means = _checked_item_means(item_means)
    # The paper's analyses read its prompt only; other formats are analysed beside it (format_outputs), never
    # pooled in. original_only refuses item means without a single original row, naming the fix.
    other_formats = original_only(item_means)[1]
    item_means, every_variant = format_outputs.split(item_means)
    options = InferenceOptions(bootstrap=bootstrap, wild=wild_bootstrap, permutations=permutations, seed=seed)
    summary: dict = {"paper_compatible": paper_compatible, "bootstrap_replicates": bootstrap, "seed": seed,
                     "surveys": {}, "exclusions": [], "formats": {"analysed": "original",
                                                                 "not_in_these_analyses": other_formats}}
    item_means, llm_side = inference_outputs.prepare_llm_side(item_means, paper_compatible, min_valid_samples,
                                                               out_dir, item_distributions)
    summary["inference"] = inference_outputs.options_summary(options, llm_side)
    every_variant = format_outputs.every_variant_means(every_variant, llm_side["min_valid"])
    every_distributions = format_outputs.split_distributions(llm_side)
    _analyze_surveys(item_means, populations, paper_compatible, out_dir, options, languages, llm_side, summary)
    across = format_outputs.conclusions_across_formats(every_variant, populations, options, languages,
                                                       paper_compatible, summary, out_dir)
    summary["conclusions"] = inference_outputs.write_conclusions(summary, out_dir, across["claims"])
    summary["aggregate_similarity"] = _aggregate_similarity(item_means, _item_level(populations), out_dir)
    country_populations = populations if country_populations is None else country_populations
    _countries_and_steerability(every_variant, country_populations, summary, out_dir, every_distributions)
    format_outputs.write_format_outputs(every_variant, populations, country_populations, summary, out_dir,
                                        every_distributions, across, seed)
    _write_populations(populations, summary, out_dir)
    _write_summary(summary, out_dir)
    return summary


def _checked_item_means(item_means: pd.DataFrame | None) -> pd.DataFrame:
    """The item means with the columns the analyses read (items as text), else the problem and the fix."""
    if item_means is None or item_means.empty:
        raise AnalysisError("no LLM item means to analyse: run `whosevalues run` first or pass --llm-responses")
    missing = [c for c in ("model", "origin", "survey", "language", "persona", "item", "mean")
               if c not in item_means.columns]
    if missing:
        raise AnalysisError(f"item means lack column(s) {', '.join(missing)}: use the item_means.csv layout")
    return item_means.assign(item=item_means["item"].astype(str))


def _analyze_surveys(item_means: pd.DataFrame, populations: dict[str, list[Population]], paper_compatible: bool,
                     out_dir: Path, options: InferenceOptions, languages: dict[str, str] | None, llm_side: dict,
                     summary: dict) -> None:
    """Every survey's analyses (summary.json's ``surveys``), then exclusions.csv (and the summary's
    ``exclusions``) and human_item_stats.csv over all of them."""
    exclusions, item_stats = [], []
    for survey in sorted(item_means["survey"].astype(str).unique()):
        result, survey_exclusions, stats_frame = _analyze_survey(
            survey, item_means, populations.get(survey, []), paper_compatible, out_dir, options, languages, llm_side)
        summary["surveys"][survey] = result
        exclusions.append(survey_exclusions)
        item_stats.append(stats_frame)
    exclusion_frame = pd.concat([e for e in exclusions if len(e)] or [pd.DataFrame(columns=EXCLUSION_COLUMNS)],
                                ignore_index=True)
    exclusion_frame.to_csv(out_dir / "exclusions.csv", index=False)
    summary["exclusions"] = exclusion_frame.to_dict(orient="records")
    pd.concat([s for s in item_stats if len(s)] or [pd.DataFrame(columns=HUMAN_ITEM_STATS_COLUMNS)],
              ignore_index=True).to_csv(out_dir / "human_item_stats.csv", index=False)


def _write_summary(summary: dict, out_dir: Path) -> None:
    """summary.json, with the version of whosevalues that wrote it."""
    try:
        from whosevalues.version import __version__
        summary["version"] = __version__
    except ImportError:  # pragma: no cover
        pass
    write_json(out_dir / "summary.json", summary)


def _item_level(populations: dict[str, list[Population]]) -> dict[str, list[Population]]:
    """Populations with item-level data (not those known only by dimension means)."""
    return {survey: [p for p in pops if p.level == "item"] for survey, pops in populations.items()}


def _countries_and_steerability(item_means: pd.DataFrame, populations: dict[str, list[Population]],
                                summary: dict, out_dir: Path, item_distributions: pd.DataFrame | None) -> None:
    """countries_<survey>.csv (every model against every country) and steerability_<survey>.csv, with their
    headlines in summary.json under surveys.<survey>.countries / .steerability."""
    from whosevalues.analysis.countries import write_countries
    from whosevalues.analysis.steerability import write_steerability

    countries = write_countries(item_means, populations, out_dir, item_distributions)
    steering = write_steerability(out_dir, list(countries))
    for survey, entry in countries.items():
        summary["surveys"].setdefault(survey, {})["countries"] = entry
    for survey, entry in steering.items():
        summary["surveys"].setdefault(survey, {})["steerability"] = entry


def _write_populations(populations: dict[str, list[Population]], summary: dict, out_dir: Path) -> None:
    """populations.json: one record per survey x country as loaded (n, source, loading steps, audit), its
    warnings, and what the analysis used of it (respondents kept, straight-liners dropped, grouping)."""
    from whosevalues.humans.audit import describe

    records = []
    for survey, survey_populations in populations.items():
        used = summary["surveys"].get(survey, {}).get("populations", {})
        for population in survey_populations:
            record = describe(population)
            record["warnings"] = list((population.audit or {}).get("warnings", []))
            if population.country in used:
                record["analysis"] = used[population.country]
            records.append(record)
    write_json(out_dir / "populations.json", records)


def _dimension_groups(instrument) -> dict[str, list[int]]:
    """Dimension -> item column indices (one per question where the survey has no dimensions)."""
    groups: dict[str, list[int]] = {}
    for index, dimension in enumerate(instrument.dimension_of().values()):
        groups.setdefault(dimension, []).append(index)
    return groups


def _human_side(populations: list[Population], items: list[str], paper_compatible: bool,
                entries: dict) -> list[HumanVectors]:
    """The respondent vectors of each population with respondent-level data; ``entries[country]`` records
    what each population gave (or why it gave nothing)."""
    humans: list[HumanVectors] = []
    for population in populations:
        entry = {"source": population.source, "n": population.n}
        entries[population.country] = entry
        if population.responses is None:
            entry["skipped"] = "aggregates only: per-respondent analyses need respondent-level data"
            continue
        if paper_compatible:
            population = paper_compat.paper_population(population)
        vectors = human_vectors(population, items)
        humans.append(vectors)
        entry.update(n_respondents=vectors.n, dropped_incomplete=vectors.dropped_incomplete,
                     dropped_straightliners=vectors.dropped_straightliners,
                     grouping=population.audit.get("grouping", "as loaded"))
    return humans


def _analyze_survey(survey, item_means, populations, paper_compatible, out_dir, options, languages, llm_side):
    result: dict = {"populations": {}, "analyses": {}, "mean_cosine": []}
    empty_exclusions = pd.DataFrame(columns=EXCLUSION_COLUMNS)
    try:
        instrument = load_instrument(survey)
    except InstrumentError as exc:
        result["skipped"] = f"unknown survey: {exc}"
        return result, empty_exclusions, pd.DataFrame()
    items = instrument.item_ids
    survey_means = item_means[item_means["survey"] == survey]
    humans = _human_side(populations, items, paper_compatible, result["populations"])
    stats_frame = _human_item_stats(survey, instrument, humans)
    if paper_compatible:
        result["paper_notes"] = paper_compat.PAPER_NOTES.get(survey, {})
    baselines = inference_outputs.write_baselines(survey, humans, out_dir, result)
    result.update(inference_outputs.llm_reliability(survey, items, item_means, humans, llm_side, out_dir, options,
                                                    baselines))
    if not humans:
        for analysis in ANALYSES:
            result["analyses"][analysis] = {"skipped": "no population with respondent-level data for this survey"}
        return result, empty_exclusions, stats_frame
    data = _SurveyData(survey, instrument, survey_means, humans, paper_compatible, out_dir, options, languages,
                       baselines)
    fits = _Fits()
    _fit_pairwise(data, result, fits)
    _fit_rq2(data, result, fits)
    model_means.write_model_means(survey, fits.figure_rows, humans, survey_means, items, out_dir)
    frame = pd.concat(fits.exclusions, ignore_index=True) if fits.exclusions else empty_exclusions
    frame = inference_outputs.complete_exclusions(survey, survey_means, fits.used, frame.drop_duplicates(),
                                                  paper_compatible, result)
    return result, frame, stats_frame


@dataclass
class _SurveyData:
    """One survey's inputs to its regressions (RQ1, RQ2, RQ3)."""

    survey: str
    instrument: Instrument
    survey_means: pd.DataFrame
    humans: list[HumanVectors]
    paper_compatible: bool
    out_dir: Path
    options: InferenceOptions
    languages: dict[str, str] | None
    baselines: pd.DataFrame | None

    @property
    def items(self) -> list[str]:
        return self.instrument.item_ids

    def vectors_for(self, analysis: str) -> LLMVectors:
        if self.paper_compatible:
            return paper_compat.llm_vectors_for(analysis, self.survey, self.survey_means, self.items)
        return llm_vectors(self.survey_means, self.survey, self.items)


@dataclass
class _Fits:
    """What a survey's fitted analyses leave: their exclusions, the models each used, the rows figures read."""

    exclusions: list[pd.DataFrame] = field(default_factory=list)
    used: dict[str, set] = field(default_factory=dict)
    figure_rows: dict[str, RowSet] = field(default_factory=dict)

    def add(self, name: str, rows: RowSet) -> None:
        self.used[name] = set(rows.models["model"])
        self.exclusions.append(rows.exclusions)


def _fit_pairwise(data: _SurveyData, result: dict, fits: _Fits) -> None:
    """RQ1 and RQ3 for every pair of populations (CHN and USA first; one population: nationality not fitted);
    the first pair's RQ1 also gives the mean cosines, reference similarity and Welch tests."""
    countries = sorted({h.country for h in data.humans}, key=lambda c: (c not in ("CHN", "USA"), c))
    pairs: list[tuple[str, ...]] = list(combinations(countries, 2)) or [tuple(countries)]
    for analysis in ("rq1", "rq3"):
        for number, pair in enumerate(pairs):
            pair = tuple(sorted(pair, key=lambda c: (c != "CHN", c)))
            suffix = "" if number == 0 else f"_{pair[0]}-{pair[1]}"
            name = analysis + suffix
            try:
                rows = _pairwise_rows(data, analysis, pair)
            except DesignSkipped as exc:
                result["analyses"][name] = {"skipped": str(exc)}
                continue
            result["analyses"][name] = _write_rowset(rows, name, data.out_dir, data.options, data.paper_compatible)
            fits.add(name, rows)
            if analysis == "rq1" and number == 0:
                fits.figure_rows["rq1"] = rows
                _rq1_comparisons(data, rows, pair, result)


def _pairwise_rows(data: _SurveyData, analysis: str, pair: tuple[str, ...]) -> RowSet:
    llm = data.vectors_for(analysis)
    if analysis == "rq1":
        return rq1(data.survey, data.humans, llm, pair=pair, languages=data.languages)
    return rq3(data.survey, data.humans, llm, _dimension_groups(data.instrument), pair=pair,
               languages=data.languages)


def _rq1_comparisons(data: _SurveyData, rows: RowSet, pair: tuple[str, ...], result: dict) -> None:
    """From the first pair's RQ1 rows: the mean cosines, reference_similarity_<survey>.csv and, with two
    populations, the Welch t-tests (tables/welch_<survey>.csv)."""
    result["mean_cosine"] = _mean_cosine(rows)
    reference = _reference_similarity(data.survey, data.humans, data.survey_means, data.items, rows, data.languages)
    reference.to_csv(data.out_dir / f"reference_similarity_{data.survey}.csv", index=False)
    if len(pair) == 2:  # Welch t-tests contrast two populations
        welch = inference_outputs.with_ceiling(_welch(rows, reference, pair), data.baselines, pair)
        welch.to_csv(data.out_dir / "tables" / f"welch_{data.survey}.csv", index=False)


def _fit_rq2(data: _SurveyData, result: dict, fits: _Fits) -> None:
    try:
        rows = rq2(data.survey, data.humans, data.vectors_for("rq2"), languages=data.languages,
                   nationality=not data.paper_compatible)
        result["analyses"]["rq2"] = _write_rowset(rows, "rq2", data.out_dir, data.options, data.paper_compatible)
        fits.add("rq2", rows)
        fits.figure_rows["rq2"] = rows
    except DesignSkipped as exc:
        result["analyses"]["rq2"] = {"skipped": str(exc)}


def _write_rowset(rows: RowSet, name: str, out_dir: Path, options: InferenceOptions, paper_compatible: bool) -> dict:
    table = rows.table(options=options)
    table, inference = inference_outputs.rowset_inference(rows, table, options, paper_compatible)
    analysis, _, pair = name.partition("_")  # "rq1" or "rq1_CHN-DEU" (further country pairs)
    table.to_csv(out_dir / "tables" / (f"{analysis}_{rows.survey}" + (f"_{pair}" if pair else "") + ".csv"),
                 index=False)
    # no column statistics: nothing filters these files, and computing them is 40% of writing 1.4 million rows
    rows.frame().to_parquet(out_dir / f"similarity_{rows.survey}_{name}.parquet", index=False, write_statistics=False)
    entry = {"rows": rows.n_rows, "respondents": int(len(rows.respondents)), "models": int(len(rows.models)),
             "models_by_origin": rows.models["origin"].value_counts().sort_index().to_dict(),
             "excluded_models": sorted(set(rows.exclusions["model"])),
             "mean_cosine": float(rows.cosine.mean()),
             "formula": rows.design.formula(), "terms": rows.design.term_names(),
             "dropped_terms": rows.dropped_terms}
    entry.update({key: value for key, value in rows.notes.items()})  # respondent_languages, language_rule
    entry.update(inference)  # model_inference, variance_shares, joint_tests (RQ3), warnings
    if name == "rq2":
        entry.update(inference_outputs.write_rq2_contrasts(rows, table, out_dir, paper_compatible))
    return entry


def _mean_cosine(rows: RowSet) -> list[dict]:
    frame = pd.DataFrame({"population": rows.respondents["nationality"].to_numpy()[rows.respondent],
                          "origin": rows.models["origin"].to_numpy()[rows.model], "cosine": rows.cosine})
    grouped = frame.groupby(["population", "origin"])["cosine"].agg(["mean", "count"]).reset_index()
    return [{"population": r.population, "origin": r.origin, "mean_cosine": float(r.mean), "n": int(r.count)}
            for r in grouped.itertuples()]


def _human_item_stats(survey, instrument, humans: list[HumanVectors]) -> pd.DataFrame:
    dimension = instrument.dimension_of()
    frames = []
    for h in humans:
        frames.append(pd.DataFrame({
            "survey": survey, "country": h.country, "item": instrument.item_ids,
            "dimension": [dimension[i] for i in instrument.item_ids], "mean": h.raw.mean(axis=0),
            "sd": h.raw.std(axis=0, ddof=1) if h.n > 1 else np.nan, "z_mean": h.z.mean(axis=0), "n": h.n}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=HUMAN_ITEM_STATS_COLUMNS)


def _reference_vectors(humans, survey_means, items, rows: RowSet) -> dict[tuple[str, str], np.ndarray]:
    """(reference name, language) -> z-scored item-mean vector: each country's humans, each origin's LLMs."""
    references = {}
    used_languages = sorted(set(rows.conditions["language"]))
    for h in humans:
        for language in used_languages:
            references[(f"Human {h.country}", language)] = h.raw.mean(axis=0)
    kept = survey_means[(survey_means["persona"] == NONE) & survey_means["model"].isin(rows.models["model"])]
    for (origin, language), group in kept.groupby(["origin", "language"]):
        wide = group.pivot_table(index="model", columns="item", values="mean").reindex(columns=items)
        references[(f"LLM {origin}", language)] = wide.mean(axis=0).to_numpy()
    names = list(references)
    z, usable = zscore_rows(np.array([references[n] for n in names]))
    return {name: z[i] for i, name in enumerate(names) if usable[i]}


def _reference_similarity(survey, humans, survey_means, items, rows: RowSet, languages) -> pd.DataFrame:
    """Figure 3C/D: each respondent's cosine with the item means of each country's humans and LLMs (the LLMs
    in the language RQ1 paired the respondent's country with)."""
    references = _reference_vectors(humans, survey_means, items, rows)
    paired = rows.notes.get("respondent_languages", {})
    frames = []
    for h in humans:
        language = paired.get(h.country) or respondent_language(h.country, languages)
        h_norm = np.linalg.norm(h.z, axis=1)
        for (name, ref_language), vector in references.items():
            if ref_language != language:
                continue
            cos = h.z @ vector / (h_norm * np.linalg.norm(vector))
            frames.append(pd.DataFrame({"respondent": h.ids, "nationality": h.country, "reference": name,
                                        "cosine": cos}))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["respondent", "nationality", "reference", "cosine"])


def _welch(rows: RowSet, reference: pd.DataFrame, pair: tuple[str, str]) -> pd.DataFrame:
    """Per model (and per human/LLM mean reference): Welch t-test of cosine, pair[0] vs pair[1] respondents."""
    focal, other = pair
    nationality = rows.respondents["nationality"].to_numpy()[rows.respondent]
    records = []
    for index, model in enumerate(rows.models.itertuples()):
        mine = rows.model == index
        records.append(_welch_row(model.model, model.origin, "model",
                                  rows.cosine[mine & (nationality == focal)],
                                  rows.cosine[mine & (nationality == other)], focal, other))
    for name, group in reference.groupby("reference", sort=True):
        records.append(_welch_row(name, name.split()[-1], "reference",
                                  group.loc[group["nationality"] == focal, "cosine"].to_numpy(),
                                  group.loc[group["nationality"] == other, "cosine"].to_numpy(), focal, other))
    return pd.DataFrame(records)


def _welch_row(name, origin, kind, a, b, focal, other) -> dict:
    if len(a) > 1 and len(b) > 1:
        t, p = welch_ttest(a, b)
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    else:
        t = p = df = np.nan
    return {"model": name, "origin": origin, "kind": kind, f"mean_{focal}": float(np.mean(a)) if len(a) else np.nan,
            f"mean_{other}": float(np.mean(b)) if len(b) else np.nan, f"n_{focal}": len(a), f"n_{other}": len(b),
            "difference": (float(np.mean(a) - np.mean(b)) if len(a) and len(b) else np.nan),
            "t_value": t, "df": df, "p_value": p}


def _aggregate_similarity(item_means, populations, out_dir) -> dict | None:
    """Hand aggregate-only populations to the humans engineer's module when it exists."""
    if not any(p.responses is None for pops in populations.values() for p in pops):
        return None
    try:
        from whosevalues.analysis import aggregate_similarity
    except ImportError:
        return {"skipped": "aggregate similarity module not available"}
    try:
        result = aggregate_similarity.compare(item_means, populations, out_dir)
    except Exception as exc:  # another module's failure must not lose the per-respondent results
        return {"skipped": f"aggregate similarity failed: {type(exc).__name__}: {exc}"}
    return result if isinstance(result, dict) else {"written": True}
