"""Country codes and names: ISO 3166-1 alpha-3 everywhere, names in any language from CLDR (through Babel).

CLDR lists every ISO alpha-3 code as an alias of its alpha-2 territory code (``DEU`` -> ``DE``); its names
for territories come per language (``DE`` is "Germany" in English, "德国" in Chinese). A few of those aliases
are withdrawn ISO codes (``BUR`` for Burma, ``ZAR`` for Zaire...): they are refused here.

WVS writes two of its samples with codes ISO does not have: Morocco is ``MOR`` (ISO ``MAR``), and Northern
Ireland is ``NIR`` (no ISO 3166-1 code: it is part of GBR). ``from_wvs`` turns MOR into MAR and keeps NIR as
the one documented exception.
"""

from __future__ import annotations

from functools import lru_cache

from whosevalues.errors import WhosevaluesError

# Withdrawn ISO 3166-1 alpha-3 codes that CLDR still lists as aliases of a current territory.
WITHDRAWN_ALPHA3 = frozenset({"BUR", "ZAR", "DDR", "FXX", "TMP", "YMD"})
# WVS B_COUNTRY_ALPHA codes that are not ISO 3166-1 alpha-3 -> the ISO code (WVS-7 v5.0 codebook).
WVS_TO_ISO = {"MOR": "MAR"}
# WVS samples with no ISO 3166-1 code at all, kept under WVS's code, with their names (CLDR has none).
NON_ISO_SAMPLES = {"NIR": "Northern Ireland"}
NON_ISO_NAMES = {"NIR": {"en": "Northern Ireland", "zh": "北爱尔兰"}}


class CountryError(WhosevaluesError, ValueError):
    """A country code is not ISO 3166-1 alpha-3, or has no name in a language."""


@lru_cache(maxsize=1)
def _alpha3_to_alpha2() -> dict[str, str]:
    from babel import Locale
    from babel.core import get_global

    named = Locale("en").territories
    return {alias: targets[0] for alias, targets in get_global("territory_aliases").items()
            if len(alias) == 3 and alias.isalpha() and len(targets) == 1 and targets[0] in named
            and alias not in WITHDRAWN_ALPHA3}


def iso_alpha3_codes() -> frozenset[str]:
    """Every current ISO 3166-1 alpha-3 code CLDR knows."""
    return frozenset(_alpha3_to_alpha2())


def is_iso_alpha3(code: str) -> bool:
    return code in _alpha3_to_alpha2()


def alpha2(code: str) -> str:
    try:
        return _alpha3_to_alpha2()[code]
    except KeyError:
        raise CountryError(f"{code!r} is not an ISO 3166-1 alpha-3 country code (e.g. DEU, JPN, NGA)") from None


def country_name(code: str, language: str) -> str:
    """The country's name in ``language`` (CLDR), e.g. ("DEU", "zh") -> "德国"."""
    from babel import Locale, UnknownLocaleError

    if code in NON_ISO_SAMPLES:  # one rule in every language: its name if we have one, else say which lacks it
        names = NON_ISO_NAMES.get(code, {})
        if language.split("-")[0].split("_")[0] in names:
            return names[language.split("-")[0].split("_")[0]]
        raise CountryError(f"{code} ({NON_ISO_SAMPLES[code]}, a WVS sample with no ISO code) has no name in "
                           f"language {language!r} (it has {', '.join(names)}); write its persona sentence under "
                           f"[languages.{language}.personas] in the survey file")
    try:
        names = dict(Locale.parse(language).territories)
    except (UnknownLocaleError, ValueError):
        raise CountryError(f"CLDR has no language {language!r} for country names; use a language code such "
                           "as en, zh, de") from None
    name = names.get(alpha2(code))
    if not name:
        raise CountryError(f"{code} has no name in language {language!r} (CLDR has none); write its persona "
                           f"sentence under [languages.{language}.personas] in the survey file")
    return name


def check_codes(codes: list[str], what: str = "country", known: list[str] | None = None) -> list[str]:
    """The codes, upper-cased (input is case-insensitive); a one-line error naming the first that is not ISO
    alpha-3, with the closest codes, or every code in ``known`` (e.g. the countries with data) when given."""
    codes = [code.strip().upper() for code in codes]
    for code in codes:
        if code in WVS_TO_ISO:
            raise CountryError(f"{what} {code!r} is WVS's code, not ISO's: write {WVS_TO_ISO[code]}")
        if not is_iso_alpha3(code) and code not in NON_ISO_SAMPLES:
            raise CountryError(f"{what} {code!r} is not an ISO 3166-1 alpha-3 code{_suggestions(code, known)}")
    return codes


def _suggestions(code: str, known: list[str] | None) -> str:
    """"; known codes: CHN, USA" when the caller has a short list, else "; did you mean CHN?" (or examples)."""
    import difflib

    if known:
        return f"; known codes: {', '.join(known)}"
    known_codes = sorted(iso_alpha3_codes())
    swapped = [c for c in known_codes if sorted(c) == sorted(code)]  # the commonest typo: two letters swapped
    close = list(dict.fromkeys(swapped + difflib.get_close_matches(code, known_codes, n=3, cutoff=0.6)))[:3]
    return f"; did you mean {' or '.join(close)}?" if close else " (e.g. DEU, JPN, NGA)"


def from_wvs(code: str) -> str:
    """A WVS B_COUNTRY_ALPHA code as ISO alpha-3 (MOR -> MAR); other codes unchanged."""
    return WVS_TO_ISO.get(code, code)


def countries_option(values: list[str] | None, option: str = "--countries") -> list[str] | None:
    """``--countries``: None (the default), ["all"] in any case, or checked upper-case ISO codes (chn -> CHN)."""
    if values is None:
        return None
    if [value.lower() for value in values] == ["all"]:
        return ["all"]
    return check_codes(values, option)
