"""Read an analysis output directory (docs/output.md) as plain files, for figures, tables and the report.

The report never imports the analysis: it reads what ``run``/``analyze`` wrote, so it works on any directory
with that layout, and every file except ``item_means.csv`` or a similarity file may be missing.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import overload

import pandas as pd

from whosevalues.errors import WhosevaluesError
from whosevalues.models.catalog import load_catalog

# Codes the analysis uses for "nothing removed" in the rq3 similarity file.
REFERENCE_REMOVED = {"none", "None", "", "nan", "reference", "(none)"}
SURVEY_SHORT_NAMES = {"mfq2": "MFQ-2", "wvs7": "WVS"}


class ReportInputError(WhosevaluesError, ValueError):
    """The directory cannot be reported on. The message names the problem and the fix."""


def survey_label(survey: str) -> str:
    return SURVEY_SHORT_NAMES.get(survey, survey)


@lru_cache(maxsize=None)
def display_name(model_id: str) -> str:
    """The catalog's display name of a model, or its id when the catalog does not know it."""
    catalog = load_catalog()
    spec = catalog.get(str(model_id))
    if spec is None:  # answers loaded from the paper's files name models by their API name
        by_api = {s.api_model.rsplit("/", 1)[-1]: s for s in catalog.values() if s.api_model}
        spec = by_api.get(str(model_id).rsplit("/", 1)[-1])
    return spec.label if spec is not None else str(model_id)


@overload
def original_format(frame: None) -> None: ...
@overload
def original_format(frame: pd.DataFrame) -> pd.DataFrame: ...
def original_format(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The rows of the paper's original prompt when a file has a variant column (issue 18); others as they are
    (a file without the column holds the original format only)."""
    if frame is None or "variant" not in frame:
        return frame
    return frame[is_original(frame["variant"])]


def is_original(variant: pd.Series) -> pd.Series:
    """True for the original format: the name, or no name (empty or missing, however pandas read it)."""
    return variant.isna() | variant.astype(str).str.strip().isin(["original", "nan", ""])


def ci_table(frame: pd.DataFrame, by: list[str], value: str, names: list[str] | None = None) -> pd.DataFrame:
    """One row per group of ``by`` (renamed to ``names``): mean, ci_low, ci_high and n of ``value``."""
    from whosevalues.intervals import mean_ci  # scipy.special: not for a rerun that prints a saved summary

    records = []
    for keys, values in frame.groupby(by)[value]:
        mean, low, high, n = mean_ci(values)
        keys = keys if isinstance(keys, tuple) else (keys,)
        records.append({**dict(zip(names or by, keys)), "mean": mean, "ci_low": low, "ci_high": high, "n": n})
    return pd.DataFrame(records, columns=[*(names or by), "mean", "ci_low", "ci_high", "n"])


class OutputDir:
    """Lazy, cached access to the files of one analysis output directory."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        if not self.path.is_dir():
            raise ReportInputError(f"{self.path}: no such analysis directory; create it with "
                                   f"`whosevalues run --out {self.path}` or `whosevalues analyze --out {self.path}`")
        self._cache: dict[str, object] = {}
        if self.item_means() is None and not self.surveys():
            raise ReportInputError(f"{self.path}: holds neither item_means.csv nor similarity files; "
                                   f"is this the --out directory of `whosevalues run` or `analyze`?")

    # -- generic readers -----------------------------------------------------------------------
    def _read(self, key: str, names: list[str], text: tuple[str, ...] = ()) -> pd.DataFrame | None:
        """The first of ``names`` that exists, read once; the ``text`` columns as str (codes like "1" or
        "USA" must not become numbers), converted once too: the report asks for the same frames many times."""
        if key not in self._cache:
            self._cache[key] = None
            for name in names:
                file = self.path / name
                if file.is_file():
                    frame = _read_table(file)
                    for column in text:
                        if column in frame:
                            frame[column] = _as_str(frame[column])
                    self._cache[key] = frame
                    break
        return self._cache[key]

    def memo(self, key: str, compute):
        """A derived value computed once per directory object."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def _json(self, name: str) -> object | None:
        if name not in self._cache:
            file = self.path / name
            try:
                self._cache[name] = json.loads(file.read_text(encoding="utf-8")) if file.is_file() else None
            except json.JSONDecodeError as exc:
                raise ReportInputError(f"{file}: not valid JSON ({exc}); re-run the analysis to rewrite it") from None
        return self._cache[name]

    # -- the files -----------------------------------------------------------------------------
    def item_means(self, all_formats: bool = False) -> pd.DataFrame | None:
        """The item means of the paper's prompt (``original``) only, unless ``all_formats`` (answer validity and
        the format checks read every format)."""
        frame = self._read("item_means", ["item_means.csv"],
                           ("model", "origin", "survey", "language", "persona", "item", "variant"))
        return frame if all_formats else self.memo("item_means_original", lambda: original_format(frame))

    def similarity(self, survey: str, rq: str) -> pd.DataFrame | None:
        stem = f"similarity_{survey}_{rq}"
        return self._read(stem, [f"{stem}.parquet", f"{stem}.csv.gz", f"{stem}.csv"],
                          ("nationality", "model", "origin", "language", "persona", "removed"))

    def similarity_models(self, survey: str, rq: str) -> list[str] | None:
        """The models of a similarity file, without reading the whole file when it is parquet."""
        stem = f"similarity_{survey}_{rq}"
        parquet = self.path / f"{stem}.parquet"
        if stem not in self._cache and parquet.is_file():
            try:
                return sorted(map(str, pd.read_parquet(parquet, columns=["model"])["model"].unique()))
            except Exception:
                pass
        frame = self.similarity(survey, rq)
        return sorted(frame["model"].unique()) if frame is not None and "model" in frame else None

    def reference_similarity(self, survey: str) -> pd.DataFrame | None:
        return self._read(f"ref_{survey}", [f"reference_similarity_{survey}.csv"])

    def aggregate_similarity(self, survey: str) -> pd.DataFrame | None:
        return self._read(f"agg_{survey}", [f"aggregate_similarity_{survey}.csv"])

    def human_item_stats(self) -> pd.DataFrame | None:
        return self._read("human_item_stats", ["human_item_stats.csv"], ("item",))

    def human_distributions(self) -> pd.DataFrame | None:
        return self._read("human_distributions", ["human_distributions.csv"], ("item",))

    def item_distributions(self, all_formats: bool = False) -> pd.DataFrame | None:
        """The answer distributions of the paper's prompt (``original``) only, unless ``all_formats``."""
        frame = self._read("item_distributions", ["item_distributions.csv"],
                           ("model", "survey", "language", "persona", "variant", "item"))
        return frame if all_formats else self.memo("item_distributions_original", lambda: original_format(frame))

    def exclusions(self) -> pd.DataFrame | None:
        return self._read("exclusions", ["exclusions.csv"])

    def table(self, kind: str, survey: str) -> pd.DataFrame | None:
        return self._read(f"table_{kind}_{survey}", [f"tables/{kind}_{survey}.csv"])

    def summary(self) -> dict:
        data = self._json("summary.json")
        return data if isinstance(data, dict) else {}

    def run_notes(self) -> dict:
        """run_notes.json (written by ``run``: per model the answer mode and why, reasoning, adaptations,
        versions, seed, sample check; see docs/output.md), or {} when absent."""
        data = self._json("run_notes.json")
        return data if isinstance(data, dict) else {}

    def populations(self) -> list[dict]:
        """populations.json as a list of records, each with at least ``survey`` and ``country``; failing that,
        the populations summary.json records per survey."""
        records = _population_records(self._json("populations.json"))
        if records:
            return records
        surveys = self.summary().get("surveys", {})
        return [{"survey": survey, "country": country, **info}
                for survey, entry in surveys.items() if isinstance(entry, dict)
                for country, info in (entry.get("populations") or {}).items() if isinstance(info, dict)]

    def analyses(self, survey: str) -> dict[str, dict]:
        """summary.json's record of each analysis (rq1, rq2, rq3) of a survey: formula, terms, dropped_terms
        {term: reason}, language_rule, or skipped."""
        entry = self.summary().get("surveys", {}).get(survey)
        analyses = entry.get("analyses") if isinstance(entry, dict) else None
        return {str(k): v for k, v in (analyses or {}).items() if isinstance(v, dict)}

    def skipped_analyses(self) -> list[tuple[str, str, str]]:
        """(survey, analysis, reason) for every analysis summary.json says was skipped."""
        skipped = []
        for survey, entry in self.summary().get("surveys", {}).items():
            if not isinstance(entry, dict):
                continue
            if entry.get("skipped"):
                skipped.append((survey, "all", str(entry["skipped"])))
            for analysis, info in (entry.get("analyses") or {}).items():
                if isinstance(info, dict) and info.get("skipped"):
                    skipped.append((survey, analysis, str(info["skipped"])))
        return skipped

    # -- the design ----------------------------------------------------------------------------
    def surveys(self) -> list[str]:
        return list(self.memo("surveys", self._surveys))

    def _surveys(self) -> list[str]:
        found: list[str] = []
        means = self.item_means()
        if means is not None and "survey" in means:
            found += list(dict.fromkeys(means["survey"]))
        for file in sorted(self.path.glob("similarity_*_rq*.*")) + sorted(self.path.glob("aggregate_similarity_*.csv")):
            stem = file.name.split(".")[0]
            survey = stem.removeprefix("aggregate_similarity_") if stem.startswith("aggregate_") \
                else stem.removeprefix("similarity_").rsplit("_", 1)[0]
            if survey not in found:
                found.append(survey)
        return found

    def survey_means(self, survey: str) -> pd.DataFrame:
        """item_means.csv's rows of one survey in the original question format (every row when the file has
        no variant column); answer validity reads every format from item_means(all_formats=True)."""
        return self.memo(f"survey_means_{survey}", lambda: self._survey_means(survey))

    def _survey_means(self, survey: str) -> pd.DataFrame:
        means = self.item_means()
        if means is None or "survey" not in means:
            return pd.DataFrame(columns=["model", "origin", "survey", "language", "persona", "item", "mean"])
        return original_format(means[means["survey"] == survey])  # the paper's figures compare the original

    def design(self, survey: str | None = None) -> dict[str, list[str]]:
        """Models, origins, languages and personas present (in item_means, else in the similarity files)."""
        frames = [self.survey_means(s) for s in ([survey] if survey else self.surveys())]
        frame = pd.concat(frames) if frames else pd.DataFrame()
        if frame.empty:
            frame = pd.concat([f for s in ([survey] if survey else self.surveys())
                               for f in [self.similarity(s, "rq1")] if f is not None] or [pd.DataFrame()])
        return {key: sorted(map(str, frame[key].dropna().unique())) if key in frame else []
                for key in ("model", "origin", "language", "persona")}

    def populations_of(self, survey: str) -> list[str]:
        """Countries of the human populations for a survey, from whatever file names them."""
        countries: list[str] = []
        for record in self.populations():
            if record.get("survey") == survey:
                countries.append(str(record["country"]))
        for frame, column in ((self.similarity(survey, "rq1"), "nationality"),
                              (self.aggregate_similarity(survey), "country")):
            if frame is not None and column in frame:
                countries += [str(c) for c in frame[column].unique()]
        stats = self.human_item_stats()
        if stats is not None:
            countries += [str(c) for c in stats.loc[stats["survey"] == survey, "country"].unique()]
        return sorted(dict.fromkeys(countries))

    def model_origins(self) -> dict[str, str]:
        """model id -> origin, from item_means (else the similarity files)."""
        return dict(self.memo("model_origins", self._model_origins))

    def _model_origins(self) -> dict[str, str]:
        origins: dict[str, str] = {}
        means = self.item_means()
        frames = [means] if means is not None else []
        frames += [f for s in self.surveys() for f in [self.similarity(s, "rq1"), self.aggregate_similarity(s)]
                   if f is not None]
        for frame in frames:
            if {"model", "origin"} <= set(frame.columns):
                for model, origin in frame[["model", "origin"]].drop_duplicates().itertuples(index=False):
                    origins.setdefault(str(model), str(origin))
        return origins


def _as_str(column: pd.Series) -> pd.Series:
    """``column.astype(str)``; a categorical column (the similarity files: 1.4 million rows for WVS RQ3) by
    converting its few categories and taking them by code, ten times faster than converting every row."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        codes = column.cat.codes.to_numpy()
        if len(codes) and codes.min() >= 0:  # a missing value's code (-1) would need astype's "nan"
            categories = pd.array(column.cat.categories.astype(str).to_numpy(dtype=object), dtype="str")
            return pd.Series(categories.take(codes), index=column.index, name=column.name)
    return column.astype(str)


def _read_table(file: Path) -> pd.DataFrame:
    try:
        if file.suffix == ".parquet":
            return pd.read_parquet(file)
        return pd.read_csv(file)
    except Exception as exc:
        raise ReportInputError(f"{file}: cannot be read ({type(exc).__name__}: {exc}); "
                               f"re-run the analysis to rewrite it") from None


def _population_records(data: object) -> list[dict]:
    """Accept a list of records, {survey: {country: record}} or {"survey/country": record}."""
    if data is None:
        return []
    if isinstance(data, dict) and "populations" in data:
        data = data["populations"]
    records: list[dict] = []
    if isinstance(data, list):
        return [dict(r) for r in data if isinstance(r, dict) and "survey" in r and "country" in r]
    if isinstance(data, dict):
        for key, value in data.items():
            if not isinstance(value, dict):
                continue
            if "country" in value or "n" in value:
                survey, _, country = str(key).replace(":", "/").partition("/")
                records.append({"survey": value.get("survey", survey), "country": value.get("country", country),
                                **value})
            else:
                for country, record in value.items():
                    if isinstance(record, dict):
                        records.append({"survey": key, "country": country, **record})
    return records
