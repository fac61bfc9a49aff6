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

# Withdrawn ISO 3166-1 alpha-3 codes that CLDR still lists as aliases of a current territory.
WITHDRAWN_ALPHA3 = frozenset({"BUR", "ZAR", "DDR", "FXX", "TMP", "YMD"})
# WVS B_COUNTRY_ALPHA codes that are not ISO 3166-1 alpha-3 -> the ISO code (WVS-7 v5.0 codebook).
WVS_TO_ISO = {"MOR": "MAR"}
# WVS samples with no ISO 3166-1 code at all, kept under WVS's code.
NON_ISO_SAMPLES = {"NIR": "Northern Ireland"}


class CountryError(ValueError):
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

    if code in NON_ISO_SAMPLES and language == "en":
        return NON_ISO_SAMPLES[code]
    try:
        names = Locale.parse(language).territories
    except (UnknownLocaleError, ValueError):
        raise CountryError(f"CLDR has no language {language!r} for country names; use a language code such "
                           "as en, zh, de") from None
    name = names.get(alpha2(code))
    if not name:
        raise CountryError(f"CLDR has no {language!r} name for {code}; write the persona sentence in the survey file")
    return name


def check_codes(codes: list[str], what: str = "country") -> list[str]:
    """The codes, upper-cased; a one-line error naming the first that is not ISO alpha-3."""
    codes = [code.strip().upper() for code in codes]
    for code in codes:
        if code in WVS_TO_ISO:
            raise CountryError(f"{what} {code!r} is WVS's code, not ISO's: write {WVS_TO_ISO[code]}")
        if not is_iso_alpha3(code) and code not in NON_ISO_SAMPLES:
            raise CountryError(f"{what} {code!r} is not an ISO 3166-1 alpha-3 code (e.g. DEU, JPN, NGA)")
    return codes


def from_wvs(code: str) -> str:
    """A WVS B_COUNTRY_ALPHA code as ISO alpha-3 (MOR -> MAR); other codes unchanged."""
    return WVS_TO_ISO.get(code, code)
