"""LLM answers as item means: the project's ``item_means.csv`` or the paper's published CSVs.

``load_llm_responses(paths)`` returns one frame in the contract layout of ``item_means.csv``
(model, origin, survey, language, persona, item, mean, n_valid, n_total, refusal_rate) whatever the input:

- the project's own ``item_means.csv`` (read as is, codes checked);
- the paper's ``llm_mfq_responses.csv`` / ``llm_wvs_responses.csv`` / ``llm_wvs_persona_responses.csv``
  (columns LLM, language [English|Chinese], persona [none|China|USA], item, llm_response, model_nation),
  mapped to the project's codes: en/zh, none/CHN/USA, origin CHN/USA, survey mfq2/wvs7, items "1".."36"
  and "Q177".."Q195". Those files hold one row per item with the item mean over the paper's 20 samples; they
  do not say how many samples of each item were valid, so n_valid, n_total and refusal_rate are left empty
  (unknown) rather than invented. What they do record is kept: ``prop_na``, the share of the condition's
  sampled answers (model x language x persona, all items) that held no valid answer, and ``mode`` "sample".
  ``source_row`` keeps each condition-item's first row number in its file: the paper's WVS RQ1 script keeps
  "the first row" per item after a join, so paper-compatible mode needs the file order. ``temperature`` keeps
  the sampling temperature the files record per model (analysis/reliability.py reports it by origin).

Several files may be given (e.g. the WVS none and persona files); identical duplicate rows are merged,
conflicting ones are an error.

Question formats: a ``variant`` column (``item_means.csv`` from a run with ``--variants``) is kept; a file
without one holds the paper's prompt, ``original`` (the paper's layout always does). ``original_only`` is
what today's analyses read: they never pool formats.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.errors import WhosevaluesError

CONTRACT_COLUMNS = ["model", "origin", "survey", "language", "persona", "item",
                    "mean", "n_valid", "n_total", "refusal_rate"]
PAPER_COLUMNS = ["LLM", "language", "persona", "item", "llm_response", "model_nation"]
KEY = ["model", "survey", "language", "persona", "variant", "item"]
ORIGINAL = "original"  # the paper's prompt (instruments/variants.py)

PAPER_LANGUAGES = {"English": "en", "Chinese": "zh"}
PAPER_PERSONAS = {"none": "none", "China": "CHN", "USA": "USA"}
PAPER_NATIONS = {"China": "CHN", "USA": "USA", "US": "USA"}
PAPER_SURVEYS = {"mfq": "mfq2", "wvs": "wvs7"}


class LLMResponsesError(WhosevaluesError, ValueError):
    """An LLM responses file cannot be read as item means. The message names the file and the fix."""


def load_llm_responses(paths: Path | str | list[Path | str]) -> pd.DataFrame:
    """Item means from one or more files (project ``item_means.csv`` or the paper's ``llm_*_responses.csv``)."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    if not paths:
        raise LLMResponsesError("no LLM responses file given: pass --llm-responses FILE")
    frames = []
    for index, path in enumerate(paths):
        frame = _read_one(Path(path))
        if "source_row" in frame.columns:  # file order across files: earlier files first
            frame["source_row"] = frame["source_row"] + index * 10_000_000
        frames.append(frame)
    return _merge(frames)


def _read_one(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise LLMResponsesError(f"{path}: no such file; check the --llm-responses path")
    if path.is_dir():
        raise LLMResponsesError(f"{path} is a directory; give the CSV file of item means inside it")
    try:
        raw = read_delimited(path)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
        raise LLMResponsesError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    except OSError as exc:
        raise LLMResponsesError(f"{path}: cannot read it ({exc.strerror or exc}); check the --llm-responses path") \
            from None
    if raw.empty:
        raise LLMResponsesError(f"{path}: no rows of answers (only a header); give a file with item means")
    columns = set(raw.columns)
    if {"LLM", "llm_response"} & columns:
        frame = from_paper_layout(raw, where=str(path))  # checks every row against its survey
    else:
        frame = from_contract_layout(raw, where=str(path))
        check_against_surveys(frame, str(path), row_of=pd.Series(frame.index + 2, index=frame.index))
    return frame


def read_delimited(path: Path) -> pd.DataFrame:
    """A CSV with ',' ';' or tab between fields (spreadsheets in many locales write ';' with decimal commas),
    with or without a byte-order mark. Decimal commas ("3,25") in a file not separated by commas become points."""
    with path.open("r", encoding="utf-8-sig", errors="replace") as handle:
        header = handle.readline()
    counts = {sep: header.count(sep) for sep in (",", ";", "\t")}
    sep = max(counts, key=lambda s: counts[s])
    if sep == ",":
        return pd.read_csv(path, encoding="utf-8-sig", dtype={"item": str}, low_memory=False)
    raw = pd.read_csv(path, sep=sep, encoding="utf-8-sig", dtype=str, keep_default_na=True, low_memory=False)
    for column in raw.columns:
        values = raw[column].dropna().str.strip()
        if len(values) and values.str.fullmatch(r"[-+]?\d+(,\d+)?").all() and values.str.contains(",").any():
            raw[column] = raw[column].str.replace(",", ".", regex=False)
    return raw


def _bad_row(where: str, row: int, column: str, problem: str) -> LLMResponsesError:
    return LLMResponsesError(f"{where}, row {row}, column {column}: {problem}")


def check_against_surveys(frame: pd.DataFrame, where: str, row_of: pd.Series, mean_column: str = "mean") -> None:
    """Every row names a known survey and one of its items, and every mean lies on that survey's scale.

    ``row_of`` gives each row's line number in the file (header = line 1), for an error the user can find.
    Nothing outside its scale is ever analysed: item means of 41 on a 1-5 scale are an error, not a result.
    """
    for survey, rows in frame.groupby("survey", sort=False):
        _check_survey_rows(survey, rows, where, row_of, mean_column)
    _check_counts(frame, where, row_of)


def _check_survey_rows(survey: object, rows: pd.DataFrame, where: str, row_of: pd.Series, mean_column: str) -> None:
    """One survey's rows: a known survey, its items, its languages, means on its scale."""
    from whosevalues.instruments import InstrumentError, load_instrument

    try:
        instrument = load_instrument(str(survey))
    except InstrumentError:
        raise _bad_row(where, int(row_of[rows.index[0]]), "survey",
                       f"unknown survey {survey!r}; give its file with --surveys FILE.toml") from None
    unknown_items = ~rows["item"].isin(instrument.item_ids)
    if unknown_items.any():
        first = rows.index[unknown_items.to_numpy()][0]
        raise _bad_row(where, int(row_of[first]), "item",
                       f"{rows.at[first, 'item']!r} is not an item of {survey} (items "
                       f"{instrument.item_ids[0]}..{instrument.item_ids[-1]}); fix the item id")
    unknown_languages = ~rows["language"].isin(list(instrument.languages))
    if unknown_languages.any():
        first = rows.index[unknown_languages.to_numpy()][0]
        raise _bad_row(where, int(row_of[first]), "language",
                       f"{rows.at[first, 'language']!r} is not a language of {survey} (it has "
                       f"{', '.join(instrument.languages)}); answers in another language cannot be compared "
                       f"with its items: fix the code, or give a survey file with that language (--surveys)")
    low, high = instrument.scale.min, instrument.scale.max
    means = rows["mean"]
    outside = means.notna() & ~means.between(low, high) | np.isinf(means)
    if outside.any():
        first = rows.index[outside.to_numpy()][0]
        raise _bad_row(where, int(row_of[first]), mean_column,
                       f"{means[first]:g} is outside {survey}'s answer scale {low}-{high}; the file must hold "
                       f"item means on that scale (fix the value or the survey)")


def _check_counts(frame: pd.DataFrame, where: str, row_of: pd.Series) -> None:
    """Counts and rates within their ranges, and no more valid answers than answers."""
    bounds: tuple[tuple[str, float, float | None], ...] = (("n_valid", 0, None), ("n_total", 0, None),
                                                           ("refusal_rate", 0.0, 1.0))
    for column, least, most in bounds:
        if column not in frame.columns:
            continue
        values = frame[column]
        bad = values.notna() & ((values < least) | (values > most if most is not None else False))
        if bad.any():
            first = frame.index[bad.to_numpy()][0]
            allowed = f"{least}-{most}" if most is not None else f">= {least}"
            raise _bad_row(where, int(row_of[first]), column, f"{values[first]:g} is outside the allowed range "
                                                              f"{allowed}; fix the value")
    if {"n_valid", "n_total"} <= set(frame.columns):
        bad = frame["n_valid"] > frame["n_total"]
        if bad.any():
            first = frame.index[bad.to_numpy()][0]
            raise _bad_row(where, int(row_of[first]), "n_valid", f"{frame.at[first, 'n_valid']:g} valid answers "
                           f"exceed n_total {frame.at[first, 'n_total']:g}; fix the counts")


def _require(frame: pd.DataFrame, needed: list[str], where: str, layout: str) -> None:
    missing = [column for column in needed if column not in frame.columns]
    if missing:
        raise LLMResponsesError(f"{where}: missing column(s) {', '.join(missing)} for the {layout} layout "
                                f"(expected {', '.join(needed)})")


def from_contract_layout(raw: pd.DataFrame, where: str = "item means") -> pd.DataFrame:
    """Check and normalise a frame in the project's item_means layout."""
    _require(raw, CONTRACT_COLUMNS, where, "item_means.csv")
    frame = raw.copy()
    if "variant" not in frame.columns:  # written before question formats existed: the paper's prompt
        frame["variant"] = ORIGINAL
    frame["variant"] = frame["variant"].fillna(ORIGINAL)
    for column in ("model", "origin", "survey", "language", "persona", "variant", "item"):
        frame[column] = frame[column].astype(str)
    for column in ("mean", "n_valid", "n_total", "refusal_rate"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    for column in ("mean", "n_valid", "n_total", "refusal_rate"):
        not_numbers = raw[column].notna() & frame[column].isna()
        if not_numbers.any():
            first = int(frame.index[not_numbers.to_numpy()][0])
            raise _bad_row(where, first + 2, column, f"{raw.at[first, column]!r} is not a number; fix the value")
    frame["origin"] = _country_codes(frame["origin"], "origin", where)
    frame["persona"] = _country_codes(frame["persona"], "persona", where, none_allowed=True)
    check_one_origin_per_model(frame, where, row_of=frame.index + 2)
    return frame


def _country_codes(values: pd.Series, column: str, where: str, none_allowed: bool = False) -> pd.Series:
    """ISO alpha-3 codes upper-cased (``chn`` is CHN); ``none`` in any case; anything else refused by row.

    A code in the wrong case must not become a level of its own: it would remove the factor from the analysis.
    """
    from whosevalues.countries import CountryError, check_codes

    text = values.str.strip()
    is_none = text.str.lower() == "none"
    codes = text.str.upper().where(~is_none, "none")
    for code in codes[~is_none].unique():
        try:
            check_codes([code], column)
        except CountryError as exc:
            first = int(values.index[(codes == code).to_numpy()][0])
            allowed = "none or " if none_allowed else ""
            raise _bad_row(where, first + 2, column, f"{allowed}{exc}") from None
    if not none_allowed and is_none.any():
        first = int(values.index[is_none.to_numpy()][0])
        raise _bad_row(where, first + 2, column, "'none' is not a country: give the ISO alpha-3 code of the "
                                                 "country the model comes from, like CHN or USA")
    return codes


def check_one_origin_per_model(frame: pd.DataFrame, where: str, row_of) -> None:
    """A model comes from one country: rows that disagree are refused, naming them (never a silent pick)."""
    origins = frame.groupby("model", sort=False)["origin"].agg(lambda o: list(dict.fromkeys(o)))
    for model, seen in origins.items():
        if len(seen) < 2:
            continue
        rows = frame.index[(frame["model"] == model).to_numpy()]
        described = "; ".join(_rows_with(frame, rows, row_of, origin) for origin in seen)
        raise LLMResponsesError(f"{where}: model {model!r} has {len(seen)} origins ({described}); a model has "
                                f"one origin: fix the rows that are wrong")


def _rows_with(frame: pd.DataFrame, rows, row_of, origin: str) -> str:
    numbers = [int(row_of[i]) for i in rows if frame.at[i, "origin"] == origin]
    shown = ", ".join(map(str, numbers[:5])) + (f" and {len(numbers) - 5} more" if len(numbers) > 5 else "")
    return f"{origin} in row{'s' if len(numbers) > 1 else ''} {shown}"


def from_paper_layout(raw: pd.DataFrame, where: str = "paper responses") -> pd.DataFrame:
    """Map the paper's published layout to the contract layout (one row per model x condition x item)."""
    _require(raw, PAPER_COLUMNS, where, "paper's llm_*_responses.csv")
    frame = raw.reset_index(drop=True)
    survey = _paper_survey(frame, where)
    mapped = pd.DataFrame({
        "model": frame["LLM"].astype(str),
        "origin": _map(frame["model_nation"], PAPER_NATIONS, "model_nation", where),
        "survey": survey,
        "language": _map(frame["language"], PAPER_LANGUAGES, "language", where),
        "persona": _map(frame["persona"], PAPER_PERSONAS, "persona", where),
        "variant": ORIGINAL,
        "item": _paper_items(frame["item"], survey, where),
        "mean": pd.to_numeric(frame["llm_response"], errors="coerce"),
        "source_row": np.arange(len(frame)),
        "temperature": pd.to_numeric(frame["temperature"], errors="coerce") if "temperature" in frame else np.nan,
    })
    not_numbers = frame["llm_response"].notna() & mapped["mean"].isna()
    if not_numbers.any():
        first = int(np.flatnonzero(not_numbers.to_numpy())[0])
        raise _bad_row(where, first + 2, "llm_response", f"{frame.at[first, 'llm_response']!r} is not a number; "
                                                         "fix the value")
    check_against_surveys(mapped, where, row_of=mapped["source_row"] + 2, mean_column="llm_response")
    mapped["prop_na"] = pd.to_numeric(frame["prop_na"], errors="coerce") if "prop_na" in frame else np.nan
    # One row per sample in a full export, one per item in the published files: the item mean repeats.
    grouped = mapped.groupby(KEY, sort=False, as_index=False).agg(
        origin=("origin", "first"), mean=("mean", "first"), source_row=("source_row", "min"),
        prop_na=("prop_na", "first"), temperature=("temperature", "first"))
    # Unknown per item (see the module docstring): never an invented count of valid samples.
    grouped["n_total"] = grouped["n_valid"] = grouped["refusal_rate"] = np.nan
    grouped["mode"] = "sample"  # the paper sampled 20 answers per item and condition
    return grouped[CONTRACT_COLUMNS + ["variant", "mode", "prop_na", "source_row", "temperature"]]


def _paper_survey(frame: pd.DataFrame, where: str) -> str:
    if "survey" in frame.columns:
        values = set(frame["survey"].astype(str).str.lower().unique())
        if len(values) == 1 and next(iter(values)) in PAPER_SURVEYS:
            return PAPER_SURVEYS[next(iter(values))]
    items = pd.to_numeric(frame["item"].astype(str).str.lstrip("Qq"), errors="coerce")
    if items.between(1, 36).all():
        return "mfq2"
    if items.between(177, 195).all():
        return "wvs7"
    raise LLMResponsesError(f"{where}: cannot tell the survey (column survey is not mfq/wvs and items are neither "
                            f"1..36 nor 177..195)")


def _paper_items(items: pd.Series, survey: str, where: str) -> pd.Series:
    numbers = pd.to_numeric(items.astype(str).str.lstrip("Qq"), errors="coerce")
    if numbers.isna().any():
        raise LLMResponsesError(f"{where}: column item has non-numeric values like "
                                f"{items[numbers.isna()].iloc[0]!r}")
    as_int = numbers.astype(int).astype(str)
    return "Q" + as_int if survey == "wvs7" else as_int


def _map(values: pd.Series, mapping: dict[str, str], column: str, where: str) -> pd.Series:
    text = values.astype(str)
    unknown = sorted(set(text.unique()) - set(mapping))
    if unknown:
        raise LLMResponsesError(f"{where}: column {column} has value {unknown[0]!r}; "
                                f"expected one of {', '.join(mapping)}")
    return text.map(mapping)


def original_only(item_means: pd.DataFrame | None, require: bool = True) -> tuple[pd.DataFrame | None, list[str]]:
    """(the rows asked in the paper's prompt, the other formats present). Absent column: all ``original``.

    ``require``: raise LLMResponsesError when no row is ``original`` (the analyses compare the paper's format)."""
    if item_means is None or "variant" not in item_means.columns:
        return item_means, []
    variants = item_means["variant"].fillna(ORIGINAL).astype(str)
    others = sorted(set(variants) - {ORIGINAL})
    if require and others and not (variants == ORIGINAL).any():
        raise LLMResponsesError(f"the item means hold only the format(s) {', '.join(others)}, none asked in the "
                                f"paper's prompt (variant original); run with --variants original,{others[0]}")
    return item_means[variants == ORIGINAL].reset_index(drop=True), others


def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    combined = pd.concat(frames, ignore_index=True)
    origins = combined.groupby("model")["origin"].nunique()
    if (origins > 1).any():
        model = origins.index[(origins > 1).to_numpy()][0]
        seen = ", ".join(sorted(combined.loc[combined["model"] == model, "origin"].unique()))
        raise LLMResponsesError(f"the input files give model {model!r} different origins ({seen}); a model has one "
                                f"origin: fix the files")
    if "source_row" not in combined.columns:
        combined["source_row"] = np.nan
    duplicated = combined.duplicated(KEY, keep=False)
    if duplicated.any():
        groups = combined[duplicated].groupby(KEY)["mean"]
        spread = (groups.max() - groups.min()).fillna(0.0)
        conflicts = spread[spread > 1e-9]
        if len(conflicts):
            key = dict(zip(KEY, conflicts.index[0]))
            raise LLMResponsesError(f"two input files disagree on the mean of {key}: pass only one of them")
        combined = combined.drop_duplicates(KEY, keep="first")
    return combined.reset_index(drop=True)
