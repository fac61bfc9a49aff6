"""Which question formats a study asks of each survey: ``--variants original|core|all|NAME,...``.

- ``original``: the survey's top-level prompt (the paper's design);
- ``core``: ``CORE_VARIANTS`` (every survey asked with them must declare them);
- ``all``: whatever each survey declares (a survey lacking another's formats is asked what it has, and
  ``skipped_notes`` says what it skipped);
- a name: that format, which every survey of the study must declare;
- the default, ``original,recoded``: ``recoded`` where a survey declares it (a survey file of one's own may
  have no formats at all); ``skipped_notes`` names a survey asked ``original`` only.

``original`` must be among them: every other format is measured against it.
"""

from __future__ import annotations

from collections.abc import Iterable

from whosevalues.errors import WhosevaluesError
from whosevalues.instruments.schema import Instrument
from whosevalues.instruments.variants import CORE_VARIANTS, DEFAULT_RUN_VARIANTS, ORIGINAL

CORE, ALL = "core", "all"


class VariantError(WhosevaluesError, ValueError):
    """A requested question format is unknown or missing from a survey. The message says what to give."""


def known_variants(instruments: Iterable[Instrument]) -> list[str]:
    """Every format some survey declares, ``original`` first, in the surveys' order."""
    names = [ORIGINAL]
    for instrument in instruments:
        names += [name for name in instrument.variant_names if name not in names]
    return names


def check_variant_names(requested: list[str], instruments: list[Instrument]) -> None:
    """Every requested name is ``core``, ``all`` or a format some survey declares; ``original`` is asked."""
    if is_default(requested):
        return
    known = known_variants(instruments)
    unknown = [name for name in requested if name not in (CORE, ALL) and name not in known]
    if unknown:
        raise VariantError(f"variants: unknown variant {unknown[0]!r}; the surveys have {', '.join(known)} "
                           f"(or core, all)")
    if not {ORIGINAL, CORE, ALL} & set(requested):
        raise VariantError(f"variants {','.join(requested)}: include original, the format every other one is "
                           f"compared with (e.g. --variants original,{requested[0]})")


def is_default(requested: list[str]) -> bool:
    return list(requested) == list(DEFAULT_RUN_VARIANTS)


def resolve_variants(requested: list[str], instrument: Instrument) -> list[str]:
    """The formats asked of ``instrument``, in its own order. Raises VariantError naming what it lacks."""
    if is_default(requested):
        return [name for name in instrument.variant_names if name in DEFAULT_RUN_VARIANTS]
    wanted: set[str] = set()
    for name in requested:
        if name == ALL:
            wanted.update(instrument.variant_names)
        elif name == CORE:
            wanted.update(_declared(instrument, CORE_VARIANTS, "core"))
        else:
            wanted.update(_declared(instrument, [name], name))
    return [name for name in instrument.variant_names if name in wanted]


def _declared(instrument: Instrument, names: Iterable[str], asked_as: str) -> list[str]:
    missing = [name for name in names if name not in instrument.variant_names]
    if missing:
        via = "" if asked_as == missing[0] else f" (part of --variants {asked_as})"
        raise VariantError(f"survey {instrument.id} has no variant {missing[0]!r}{via}; it has "
                           f"{', '.join(instrument.variant_names)}: leave it out of --variants, or add "
                           f"[variants.{missing[0]}] to the survey's file")
    return list(names)


def skipped_notes(requested: list[str], instruments: list[Instrument]) -> list[str]:
    """With ``all`` or the default: one note per survey that lacks formats asked of the others."""
    if is_default(requested):
        return [f"survey {instrument.id} has no {', '.join(missing)} (asked by default): asked original only; "
                f"add [variants.recoded] to its file for a format check"
                for instrument in instruments
                if (missing := [name for name in DEFAULT_RUN_VARIANTS if name not in instrument.variant_names])]
    if ALL not in requested:
        return []
    known = known_variants(instruments)
    notes = []
    for instrument in instruments:
        lacking = [name for name in known if name not in instrument.variant_names]
        if lacking:
            notes.append(f"--variants all: survey {instrument.id} has no {', '.join(lacking)}; asked what it "
                         f"has ({', '.join(instrument.variant_names)})")
    return notes
