"""Question formats ("variants") on the analysis side: which variants a frame holds, one variant's rows, and
the canonical value of the option each variant lists first and last (for the first/last-option respondents).

Every analysis file that carries answers (item_means.csv, item_distributions.csv) may have a ``variant``
column; a frame without it holds the paper's prompt only (``original``). Values are always on the survey's
canonical scale, so the variants of one condition are directly comparable.
"""

from __future__ import annotations

from typing import overload

import pandas as pd

from whosevalues.instruments import Instrument
from whosevalues.instruments.variants import ORIGINAL, AnswerFormat

VARIANT = "variant"

# How a built-in variant lists and codes its options, for instruments that do not yet describe their variants
# (Instrument.answer_format). Values: (reversed coding, listed from the highest answer value to the lowest).
_BUILT_IN_LAYOUT = {"descending": (False, True), "recoded": (True, False)}


@overload
def with_variant(frame: None) -> None: ...
@overload
def with_variant(frame: pd.DataFrame) -> pd.DataFrame: ...
def with_variant(frame: pd.DataFrame | None) -> pd.DataFrame | None:
    """The frame with a ``variant`` column (``original`` where it had none or the cell is empty)."""
    if frame is None:
        return None
    if VARIANT not in frame.columns:
        return frame.assign(**{VARIANT: ORIGINAL})
    return frame.assign(**{VARIANT: frame[VARIANT].fillna(ORIGINAL).astype(str).replace("", ORIGINAL)})


def variants_of(frame: pd.DataFrame | None) -> list[str]:
    """The variants present, ``original`` first, the others sorted."""
    if frame is None or frame.empty:
        return []
    present = set(with_variant(frame)[VARIANT])
    return sorted(present, key=lambda name: (name != ORIGINAL, name))


def has_other_variants(frame: pd.DataFrame | None) -> bool:
    return any(name != ORIGINAL for name in variants_of(frame))


@overload
def rows_of_variant(frame: None, variant: str) -> None: ...
@overload
def rows_of_variant(frame: pd.DataFrame, variant: str) -> pd.DataFrame: ...
def rows_of_variant(frame: pd.DataFrame | None, variant: str) -> pd.DataFrame | None:
    """The rows of one variant (the ``variant`` column kept)."""
    if frame is None:
        return None
    frame = with_variant(frame)
    return frame[frame[VARIANT] == variant]


def answer_format(instrument: Instrument, variant: str, language: str | None = None) -> AnswerFormat:
    """The variant's AnswerFormat: the instrument's own when it describes its variants, else the built-in
    layout of the variant's name (``descending`` lists high to low, ``recoded`` reverses the numbers; every
    other built-in variant lists the canonical order)."""
    describe = getattr(instrument, "answer_format", None)
    if callable(describe):
        try:
            return describe(variant, language)
        except (KeyError, ValueError):
            pass  # a variant the survey file does not declare: fall back to the built-in layout
    reversed_coding, descending = _BUILT_IN_LAYOUT.get(variant, (False, False))
    return AnswerFormat(variant=variant, scale_min=instrument.scale.min, scale_max=instrument.scale.max,
                        reversed=reversed_coding, listed_descending=descending)
