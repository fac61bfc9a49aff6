"""Human populations: who the LLM answers are compared with.

``load_populations("mfq2")`` gives the bundled MFQ-2 respondents of CHN and USA (real respondents, one per
36-row block of the published file); ``load_populations("wvs7")`` the bundled WVS-7 answer distributions
(aggregates only); ``load_populations("wvs7", "WVS_Cross-National_Wave_7_csv_v5_0.csv")`` the respondents of
the official WVS-7 file (CSV ';' or ',', .sav, .dta, or the .zip they come in); any other path is read as a
respondents table (columns respondent, country, one per item id; CSV or Parquet). Every population is audited
as it loads (``Population.audit``); loading steps and their counts are in ``Population.steps``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from whosevalues.humans.audit import describe, format_summary, human_distributions, human_item_stats, run_audit
from whosevalues.humans.bundled import load_bundled
from whosevalues.humans.population import Population, PopulationError, PopulationWarning
from whosevalues.humans.respondents import load_respondent_file
from whosevalues.instruments import InstrumentError, load_instrument

__all__ = ["Population", "PopulationError", "PopulationWarning", "load_populations", "parse_humans_option",
           "describe", "format_summary", "human_item_stats", "human_distributions", "BUNDLED"]

BUNDLED = "bundled"
DEFAULT_COUNTRIES = ("CHN", "USA")


def _normalise_countries(countries: Sequence[str] | str | None) -> list[str] | None:
    if countries is None:
        return None
    if isinstance(countries, str):
        countries = countries.split(",")
    codes = [str(country).strip().upper() for country in countries if str(country).strip()]
    if not codes:
        raise PopulationError("no countries given; name them as ISO alpha-3 codes (e.g. CHN,USA) or pass None for all")
    return list(dict.fromkeys(codes))


def load_populations(survey: str, source: str | Path = BUNDLED,
                     countries: Sequence[str] | None = DEFAULT_COUNTRIES,
                     paper_labels: bool = False) -> list[Population]:
    """The populations of ``survey`` from ``source`` ("bundled" or a file path), one per country, audited.

    ``countries=None`` means every country in the source. ``paper_labels`` groups the bundled MFQ-2 rows by
    their Participant label as the paper's scripts did (pseudo-respondents; only for paper-compatible
    reproduction); it has no effect on other sources. Raises ``PopulationError`` (a ValueError) with a
    one-line message naming the problem and the fix; emits ``PopulationWarning`` for what the user should
    know (also kept in ``population.audit["warnings"]``)."""
    try:
        instrument = load_instrument(survey)
    except InstrumentError as exc:
        raise PopulationError(str(exc)) from None
    selected = _normalise_countries(countries)
    if isinstance(source, str) and source.strip().lower() == BUNDLED:
        populations = load_bundled(instrument, selected, paper_labels)
    else:
        populations = load_respondent_file(Path(source).expanduser(), instrument, selected)
    return [run_audit(population, instrument) for population in populations]


def parse_humans_option(option: str) -> tuple[str, str]:
    """``SURVEY=SOURCE`` (the CLI's --humans) -> (survey, source)."""
    survey, sep, source = option.partition("=")
    if not sep or not survey.strip() or not source.strip():
        raise PopulationError(f"--humans {option!r}: write SURVEY=SOURCE, e.g. --humans wvs7=WVS_Wave_7.csv "
                              "or --humans mfq2=bundled")
    return survey.strip(), source.strip()

