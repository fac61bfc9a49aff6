"""The human data shipped with the package (``data/humans/``, provenance in its PROVENANCE.md).

- MFQ-2: 517 CHN and 515 USA respondents of Atari et al. (2023), as a long file whose Participant column is not
  a respondent id. Each consecutive 36-row block of a Group is one real respondent (the default grouping);
  ``paper_labels=True`` groups by the Participant label, as the paper's scripts did.
  Beside them, the foundation means of 19 more countries (Atari et al. 2023, Study 2): dimension level only.
- WVS-7: answer distributions of Q177..Q195 for CHN and USA (aggregates only: WVS microdata may not be
  redistributed), and item means of 53 more countries (Ramezani & Xu 2023).
Every country is an ISO 3166-1 alpha-3 code (Morocco is MAR, although WVS writes MOR).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.humans.population import Population, PopulationError
from whosevalues.instruments import Instrument

DATA_DIR = Path(__file__).resolve().parents[1] / "data" / "humans"
MFQ2_FILE = DATA_DIR / "mfq2_atari2023_human_responses.csv.gz"
WVS7_DISTRIBUTIONS_FILE = DATA_DIR / "wvs7_chn_usa_q177_q195_distributions.csv"
WVS7_MEANS_FILE = DATA_DIR / "wvs7_ramezani2023_country_means.csv"
MFQ2_COUNTRY_FOUNDATIONS_FILE = DATA_DIR / "mfq2_atari2023_study2_country_foundations.csv"

MFQ2_GROUPS = {"China": "CHN", "USA": "USA"}
MFQ2_SOURCE = "bundled: Atari et al. (2023) MFQ-2, via Lkh97/Made_in_China human_mfq_responses.csv"
WVS7_SOURCE = "bundled: WVS-7 answer distributions (aggregates; Haerpfer et al. 2022)"
WVS7_MEANS_SOURCE = "bundled: WVS-7 country means (Ramezani & Xu 2023; Haerpfer et al. 2022)"
MFQ2_FOUNDATIONS_SOURCE = "bundled: MFQ-2 foundation means, Atari et al. (2023) Study 2 (via wassname/tinymfv)"

# Country names of the Study 2 foundation means file -> ISO 3166-1 alpha-3 ("Columbia" is the file's spelling).
ATARI_STUDY2_COUNTRIES = {
    "Argentina": "ARG", "Belgium": "BEL", "Chile": "CHL", "Columbia": "COL", "Egypt": "EGY", "France": "FRA",
    "Ireland": "IRL", "Japan": "JPN", "Kenya": "KEN", "Mexico": "MEX", "Morocco": "MAR", "New Zealand": "NZL",
    "Nigeria": "NGA", "Peru": "PER", "Russia": "RUS", "Saudi Arabia": "SAU", "South Africa": "ZAF",
    "Switzerland": "CHE", "UAE": "ARE",
}

# Country names of Ramezani & Xu's file -> ISO 3166-1 alpha-3 (WVS's B_COUNTRY_ALPHA, except Morocco: WVS
# writes MOR, ISO says MAR).
RAMEZANI_COUNTRIES = {
    "Andorra": "AND", "Argentina": "ARG", "Armenia": "ARM", "Australia": "AUS", "Bangladesh": "BGD",
    "Bolivia": "BOL", "Brazil": "BRA", "Canada": "CAN", "Chile": "CHL", "China": "CHN", "Colombia": "COL",
    "Cyprus": "CYP", "Ecuador": "ECU", "Egypt": "EGY", "Ethiopia": "ETH", "Germany": "DEU", "Greece": "GRC",
    "Guatemala": "GTM", "Indonesia": "IDN", "Iran": "IRN", "Iraq": "IRQ", "Japan": "JPN", "Jordan": "JOR",
    "Kazakhstan": "KAZ", "Kenya": "KEN", "Kyrgyzstan": "KGZ", "Lebanon": "LBN", "Libya": "LBY", "Malaysia": "MYS",
    "Maldives": "MDV", "Mexico": "MEX", "Mongolia": "MNG", "Morocco": "MAR", "Myanmar": "MMR", "Netherlands": "NLD",
    "New Zealand": "NZL", "Nicaragua": "NIC", "Nigeria": "NGA", "Pakistan": "PAK", "Peru": "PER",
    "Philippines": "PHL", "Romania": "ROU", "Russia": "RUS", "Singapore": "SGP", "South Korea": "KOR",
    "Taiwan": "TWN", "Tajikistan": "TJK", "Thailand": "THA", "Tunisia": "TUN", "Turkey": "TUR", "Ukraine": "UKR",
    "United States of America": "USA", "Venezuela": "VEN", "Vietnam": "VNM", "Zimbabwe": "ZWE",
}
# Their question texts, Q177..Q195 in order.
RAMEZANI_QUESTIONS = [
    "claiming government benefits to which you are not entitled", "avoiding a fare on public transport",
    "stealing property", "cheating on taxes", "someone accepting a bribe in the course of their duties",
    "homosexuality", "prostitution", "abortion", "divorce", "sex before marriage", "suicide", "euthanasia",
    "for a man to beat his wife", "parents beating children", "violence against other people",
    "terrorism as a political, ideological or religious mean", "having casual sex", "political violence",
    "death penalty",
]


def _check_countries(countries: Sequence[str] | None, available: list[str], what: str) -> list[str]:
    if countries is None:
        return available
    absent = [country for country in countries if country not in available]
    if absent:
        raise PopulationError(f"the bundled {what} has no {', '.join(absent)}; it has {', '.join(available)}: "
                              "choose among those, or pass your own file")
    return list(countries)


def mfq2_long() -> pd.DataFrame:
    """The bundled long file, with ``country`` (CHN/USA) and ``block`` (real respondent index in its group)."""
    long = pd.read_csv(MFQ2_FILE)
    long["country"] = long["Group"].map(MFQ2_GROUPS)
    long["block"] = long.groupby("Group", sort=False).cumcount() // 36
    return long


def _mfq2_population(rows: pd.DataFrame, country: str, instrument: Instrument, paper_labels: bool) -> Population:
    # Every block must be items 1..36 in order, or the block grouping would be wrong.
    expected_items = np.tile(np.arange(1, 37), len(rows) // 36)
    if len(rows) % 36 or not np.array_equal(rows["Item"].to_numpy(), expected_items):
        raise PopulationError(f"{MFQ2_FILE}: rows of {country} are not 36-row blocks of items 1..36; "
                              "reinstall the package (the bundled file is damaged)")
    key = "Participant" if paper_labels else "block"
    wide = rows.pivot(index=key, columns="Item", values="Response").astype(float)
    wide.columns = [str(item) for item in wide.columns]
    wide = wide[instrument.item_ids]
    if paper_labels:
        wide.index = [f"{country}-label{label}" for label in wide.index]
        grouping = "grouped by the Participant label, as the paper's scripts (NOT real respondents)"
    else:
        wide.index = [f"{country}-{block + 1:04d}" for block in wide.index]
        grouping = "one respondent per 36-row block (real respondents)"
    wide.index.name = "respondent"
    steps = [(f"rows of {country} in bundled file", len(rows)), (f"respondents, {grouping}", len(wide))]
    return Population(survey=instrument.id, country=country, source=f"{MFQ2_SOURCE}; {grouping}",
                      responses=wide, steps=steps)


def mfq2_country_foundations(instrument: Instrument) -> pd.DataFrame:
    """The Study 2 file with ``country_code`` (alpha-3) and ``dimension`` (the survey's foundation names)."""
    frame = pd.read_csv(MFQ2_COUNTRY_FOUNDATIONS_FILE)
    frame["country_code"] = frame["country"].map(ATARI_STUDY2_COUNTRIES)
    frame["dimension"] = frame["foundation"].map({d.lower(): d for d in instrument.dimensions})
    return frame


def _foundation_population(rows: pd.DataFrame, country: str, instrument: Instrument) -> Population:
    means = rows.set_index("dimension")["mean"].astype(float).reindex(instrument.dimensions)
    means.index.name = "dimension"
    n = int(rows["n"].min())
    return Population(survey=instrument.id, country=country, source=MFQ2_FOUNDATIONS_SOURCE,
                      dimension_means=means, steps=[(f"respondents behind the {country} foundation means", n)],
                      audit={"n": n, "warnings": []})


def bundled_mfq2(instrument: Instrument, countries: Sequence[str] | None, paper_labels: bool) -> list[Population]:
    foundations = mfq2_country_foundations(instrument)
    with_respondents = list(MFQ2_GROUPS.values())
    available = with_respondents + sorted(set(foundations["country_code"]) - set(with_respondents))
    long = None
    populations = []
    for country in _check_countries(countries, available, "MFQ-2 data"):
        if country in with_respondents:
            long = mfq2_long() if long is None else long
            populations.append(_mfq2_population(long[long["country"] == country], country, instrument, paper_labels))
        else:
            populations.append(_foundation_population(foundations[foundations["country_code"] == country],
                                                      country, instrument))
    return populations


def _distribution_population(rows: pd.DataFrame, country: str, instrument: Instrument) -> Population:
    values = instrument.scale.values
    counts = rows.set_index("qid")[[f"count_{value}" for value in values]].astype(float)
    counts.columns = values
    counts = counts.reindex(instrument.item_ids)
    shares = counts.div(counts.sum(axis=1), axis=0)
    shares.index.name, shares.columns.name = "item", "value"
    n = int(rows["n"].max())
    steps = [(f"respondents from {country} (complete on all items, counts only)", n)]
    return Population(survey=instrument.id, country=country, source=WVS7_SOURCE, distributions=shares,
                      steps=steps, audit={"n": n})


def wvs7_country_means() -> pd.DataFrame:
    """country (alpha-3) x item means on 1..10 from Ramezani & Xu's file (NaN where not asked)."""
    raw = pd.read_csv(WVS7_MEANS_FILE)
    raw["country_code"] = raw["country"].map(RAMEZANI_COUNTRIES)
    raw["item"] = raw["question"].map({text: f"Q{177 + i}" for i, text in enumerate(RAMEZANI_QUESTIONS)})
    raw["mean"] = 5.5 + 4.5 * raw["wvs_score"]
    return raw.pivot(index="country_code", columns="item", values="mean")


def bundled_wvs7(instrument: Instrument, countries: Sequence[str] | None) -> list[Population]:
    distributions = pd.read_csv(WVS7_DISTRIBUTIONS_FILE)
    means = wvs7_country_means()
    with_distributions = sorted(distributions["B_COUNTRY_ALPHA"].unique())
    available = with_distributions + sorted(set(means.index) - set(with_distributions))
    populations = []
    for country in _check_countries(countries, available, "WVS-7 data"):
        if country in with_distributions:
            rows = distributions[distributions["B_COUNTRY_ALPHA"] == country]
            populations.append(_distribution_population(rows, country, instrument))
        else:
            item_means = means.loc[country].reindex(instrument.item_ids)
            item_means.index.name = "item"
            not_asked = [item for item, value in item_means.items() if pd.isna(value)]
            notes = [f"items not asked in {country}: {', '.join(not_asked)}"] if not_asked else []
            populations.append(Population(survey=instrument.id, country=country, source=WVS7_MEANS_SOURCE,
                                          means=item_means, steps=[(f"item means of {country} (no n, no SDs)", 0)],
                                          audit={"n": 0, "warnings": notes}))
    return populations


BUNDLED_SURVEYS = ("mfq2", "wvs7")


def countries_with_data(survey: str) -> list[str]:
    """The countries the bundled data has for ``survey`` (CHN and USA first); empty for other surveys."""
    if survey == "mfq2":
        codes = ATARI_STUDY2_COUNTRIES.values()
    elif survey == "wvs7":
        codes = RAMEZANI_COUNTRIES.values()
    else:
        return []
    return ["CHN", "USA", *sorted(set(codes) - {"CHN", "USA"})]


def load_bundled(instrument: Instrument, countries: Sequence[str] | None, paper_labels: bool) -> list[Population]:
    if instrument.id == "mfq2":
        return bundled_mfq2(instrument, countries, paper_labels)
    if instrument.id == "wvs7":
        return bundled_wvs7(instrument, countries)
    raise PopulationError(f"no bundled human data for survey {instrument.id!r} (only mfq2 and wvs7); "
                          f"pass a respondents table: --humans {instrument.id}=PATH")
