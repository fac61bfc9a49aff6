"""Respondent-level files: the official WVS-7 data file and a generic respondents table.

Both end in the same cleaning, recorded step by step in ``Population.steps``: answers outside the survey's
scale (WVS uses negative codes for don't know / no answer / not asked / missing) become missing, and
respondents missing any item are dropped (listwise), because a respondent's z-scored answer vector needs
every item.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from whosevalues.countries import WVS_TO_ISO
from whosevalues.humans.files import read_columns
from whosevalues.humans.population import Population, PopulationError, PopulationWarning
from whosevalues.instruments import Instrument

WVS_COUNTRY = "B_COUNTRY_ALPHA"
WVS_NATIONALITY = "Q254"  # "National pride"; 5 = "I am not [nationality]"
WVS_NON_NATIONAL = 5
WVS_INTERVIEW = "D_INTERVIEW"
MISSING_TEXT = {"", "NA", "NAN", ".", "NULL", "NONE"}


def _by_upper(columns: list[str]) -> dict[str, str]:
    return {str(column).strip().upper(): column for column in columns}


def item_column_map(columns: list[str], instrument: Instrument, path: Path) -> dict[str, str]:
    """item id -> the file's column for it: the id itself, any case, or ``item_<id>``."""
    upper = _by_upper(columns)
    found, missing = {}, []
    for item_id in instrument.item_ids:
        column = upper.get(item_id.upper()) or upper.get(f"ITEM_{item_id.upper()}")
        if column is None:
            missing.append(item_id)
        else:
            found[item_id] = column
    if missing:
        shown = ", ".join(missing[:6]) + (", ..." if len(missing) > 6 else "")
        raise PopulationError(f"{path}: no column for item(s) {shown} of {instrument.id}; the file needs one column "
                              f"per item ({instrument.item_ids[0]}..{instrument.item_ids[-1]})")
    return found


def numeric_column(values: pd.Series, column: str, path: Path) -> pd.Series:
    """Numbers, with blanks/NA as missing; text anywhere else is a wrong-type error naming the column."""
    if pd.api.types.is_numeric_dtype(values):
        return values.astype(float)
    text = values.astype(str).str.strip()
    text = text.mask(text.str.upper().isin(MISSING_TEXT))
    numbers = pd.to_numeric(text, errors="coerce")
    wrong = text[numbers.isna() & text.notna()]
    if len(wrong):
        examples = ", ".join(repr(v) for v in wrong.unique()[:3])
        raise PopulationError(f"{path}: column {column} holds text ({examples}) where answer codes are expected; "
                              "export the file with numeric codes, not value labels")
    return numbers.astype(float)


def clean_answers(answers: pd.DataFrame, instrument: Instrument) -> tuple[pd.DataFrame, list[tuple[str, int]]]:
    """Codes outside the scale -> missing, then listwise deletion. Returns the kept rows and the steps."""
    low, high = instrument.scale.min, instrument.scale.max
    outside = answers.notna() & ((answers < low) | (answers > high))
    answers = answers.mask(outside)
    complete = answers.notna().all(axis=1)
    first, last = instrument.item_ids[0], instrument.item_ids[-1]
    steps = [(f"answers outside {low}..{high} set to missing (cells)", int(outside.to_numpy().sum())),
             (f"dropped: incomplete respondents (listwise over {first}..{last})", int((~complete).sum()))]
    return answers.loc[complete], steps


def _select_countries(codes: pd.Series, countries: Sequence[str] | None, path: Path) -> list[str]:
    present = sorted(code for code in codes.dropna().unique() if code)
    if countries is None:
        return present
    absent = [country for country in countries if country not in set(present)]
    if absent:
        shown = ", ".join(present[:60]) + (", ..." if len(present) > 60 else "")
        raise PopulationError(f"{path}: no respondents from {', '.join(absent)}; the file has {shown or 'none'}: "
                              "choose among those")
    return list(countries)


#: dropping more than this share of a country's respondents for answers off the scale is said, with the count
SAY_DROPS_OVER = 0.05
#: dropping more than this share for any reason (missing answers too, which WVS codes as negative numbers) is said
SAY_ANY_DROPS_OVER = 0.5


def check_coding(answers: pd.DataFrame, instrument: Instrument, path: Path) -> None:
    """Refuse a file whose answer codes are shifted as a whole (0-4 for a 1-5 scale): most respondents would be
    dropped for answers "outside the scale" that are really the scale's own answers, coded otherwise.

    Negative codes are WVS's missing codes (don't know, no answer, ...) and say nothing about the coding.
    """
    low, high = instrument.scale.min, instrument.scale.max
    values = answers.to_numpy(dtype=float)
    coded = values[~pd.isna(values) & (values >= 0)]
    if not len(coded):
        return
    outside = (coded < low) | (coded > high)
    if outside.mean() <= SAY_DROPS_OVER:
        return
    for shift in (1, -1):
        shifted = coded + shift
        if ((shifted >= low) & (shifted <= high)).all():
            raise PopulationError(f"{path}: the answers are coded {coded.min():g}-{coded.max():g} where "
                                  f"{instrument.id}'s scale is {low}-{high} ({outside.mean():.0%} of answers outside "
                                  f"it): recode the file ({'add' if shift > 0 else 'subtract'} {abs(shift)} to "
                                  f"every answer) and load it again")


def _say_drops(country: str, steps: list[tuple[str, int]], answers: pd.DataFrame, kept: pd.DataFrame,
               instrument: Instrument, path: Path) -> None:
    """More than a few percent of a country's respondents dropped for answers off the scale (or more than half
    for any reason): a warning with the reasons and the counts. Missing answers are the usual listwise cleaning,
    recorded in the population's steps; no respondent at all left has its own message."""
    total, dropped = len(answers), len(answers) - len(kept)
    low, high = instrument.scale.min, instrument.scale.max
    off_scale = int(((answers >= 0) & ((answers < low) | (answers > high))).any(axis=1).sum())
    if not total or kept.empty or (off_scale / total <= SAY_DROPS_OVER and dropped / total <= SAY_ANY_DROPS_OVER):
        return
    reason = (f"{off_scale} with an answer off the {low}-{high} scale, the others with an answer missing or coded "
              f"as missing" if off_scale else "each with an answer missing or coded as missing (a negative code)")
    warnings.warn(f"{path}: {dropped} of {total} respondents from {country} ({dropped / total:.0%}) dropped, "
                  f"{reason}; every item is needed for a respondent's answer vector", PopulationWarning, stacklevel=4)


def _population(instrument: Instrument, country: str, source: str, answers: pd.DataFrame,
                steps: list[tuple[str, int]], warnings_: list[str], strict: bool, path: Path) -> Population | None:
    kept, cleaning = clean_answers(answers, instrument)
    _say_drops(country, steps, answers, kept, instrument, path)
    steps = steps + cleaning + [("kept", len(kept))]
    if kept.empty:
        message = (f"{path}: none of the {steps[0][1]} respondents from {country} answered every item of "
                   f"{instrument.id}; choose another country or check the item columns")
        if strict:
            raise PopulationError(message)
        warnings.warn(message, PopulationWarning, stacklevel=4)
        return None
    kept.index = kept.index.astype(str)
    kept.index.name = "respondent"
    return Population(survey=instrument.id, country=country, source=source, responses=kept, steps=steps,
                      audit={"warnings": list(warnings_)})


def _respondent_ids(frame: pd.DataFrame, id_column: str | None, strict: bool, path: Path) -> pd.Index:
    """The id column when present and unique; for WVS (D_INTERVIEW) else the row number in the file (1-based).
    A respondents table must have unique ids: duplicates mean a long-format or merged file."""
    if id_column is not None:
        column = frame[id_column]
        # SPSS/Stata store integers as doubles: 15600001.0 is respondent "15600001".
        if pd.api.types.is_float_dtype(column) and column.notna().all() and (column % 1 == 0).all():
            column = column.astype("int64")
        ids = column.astype(str).str.strip()
        if ids.is_unique:
            return pd.Index(ids)
        if strict:
            duplicate = ids[ids.duplicated()].iloc[0]
            raise PopulationError(f"{path}: respondent id {duplicate!r} appears more than once; give each "
                                  "respondent one row (wide format) with a unique id")
    return pd.Index([f"row{i + 1}" for i in range(len(frame))])


def _choose_columns(names: list[str], instrument: Instrument, path: Path, columns: dict[str, str]) -> list[str]:
    """Recognise the file (official WVS or respondents table) and pick its columns into ``columns``."""
    upper = _by_upper(names)
    if WVS_COUNTRY in upper:
        columns["kind"] = "wvs"
        columns["country"] = upper[WVS_COUNTRY]
        for key, name in (("nationality", WVS_NATIONALITY), ("respondent", WVS_INTERVIEW)):
            if name in upper:
                columns[key] = upper[name]
    elif "RESPONDENT" in upper and "COUNTRY" in upper:
        columns["kind"] = "table"
        columns["respondent"], columns["country"] = upper["RESPONDENT"], upper["COUNTRY"]
    else:
        raise PopulationError(f"{path}: not a WVS file (no {WVS_COUNTRY} column) nor a respondents table (columns "
                              f"respondent, country, one per item); give the official WVS-7 data file or such a table")
    columns.update(item_column_map(names, instrument, path))
    return list(dict.fromkeys(value for key, value in columns.items() if key != "kind"))


def _warn_non_iso(codes: list[str], path: Path) -> None:
    """Countries are ISO 3166-1 alpha-3 everywhere in whosevalues: say so when a file's codes are not."""
    from whosevalues.countries import NON_ISO_SAMPLES, is_iso_alpha3

    odd = [code for code in codes if not is_iso_alpha3(code) and code not in NON_ISO_SAMPLES]
    if odd:
        warnings.warn(f"{path}: country code(s) {', '.join(odd[:5])} are not ISO 3166-1 alpha-3; they are kept as "
                      "written, but personas, names and the bundled data use ISO codes (e.g. DEU, MAR)",
                      PopulationWarning, stacklevel=3)


def load_respondent_file(path: Path, instrument: Instrument, countries: Sequence[str] | None) -> list[Population]:
    """An official WVS-7 data file (one population per B_COUNTRY_ALPHA, nationals only) or a generic
    respondents table (columns respondent, country, one per item id), in any supported format."""
    columns: dict[str, str] = {}
    frame = read_columns(path, lambda names: _choose_columns(names, instrument, path, columns))
    is_wvs = columns["kind"] == "wvs"
    frame.index = _respondent_ids(frame, columns.get("respondent"), strict=not is_wvs, path=path)
    codes = frame[columns["country"]].astype(str).str.strip().str.upper()
    if is_wvs:  # WVS writes Morocco MOR; everywhere else the tool says ISO's MAR
        codes = codes.replace(WVS_TO_ISO)
    selected = _select_countries(codes, countries, path)
    _warn_non_iso(selected, path)
    answers = pd.DataFrame({item_id: numeric_column(frame[columns[item_id]], columns[item_id], path)
                            for item_id in instrument.item_ids}, index=frame.index)
    check_coding(answers[(codes.isin(selected)).to_numpy()], instrument, path)
    notes, nationality = [], None
    if is_wvs and "nationality" in columns:
        nationality = numeric_column(frame[columns["nationality"]], columns["nationality"], path).to_numpy()
    elif is_wvs:
        notes.append(f"no {WVS_NATIONALITY} column: non-nationals cannot be identified and are kept "
                     f"(the paper drops {WVS_NATIONALITY} == {WVS_NON_NATIONAL})")
        warnings.warn(f"{path}: {notes[0]}", PopulationWarning, stacklevel=3)
    source = f"{'WVS file' if is_wvs else 'respondents table'} {path}"
    populations = []
    for country in selected:
        rows = (codes == country).to_numpy()
        steps = [(f"respondents from {country} in file", int(rows.sum()))]
        if nationality is not None:
            non_national = rows & (nationality == WVS_NON_NATIONAL)
            steps.append((f"dropped: non-nationals ({WVS_NATIONALITY} == {WVS_NON_NATIONAL})", int(non_national.sum())))
            rows = rows & ~non_national
        population = _population(instrument, country, source, answers.loc[rows], steps, notes,
                                 strict=countries is not None, path=path)
        if population is not None:
            populations.append(population)
    return populations
