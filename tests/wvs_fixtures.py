"""Official-format WVS-7 files built from the bundled answer distributions (the project ships no WVS microdata).

``write_wvs_file(directory, "csv;")`` writes a file laid out like the WVS-7 country-pooled data file
(B_COUNTRY_ALPHA, B_COUNTRY, D_INTERVIEW, Q254, Q177..Q195 and other columns) mixing in what the loader must
drop: non-nationals (Q254 == 5), respondents with negative missing codes (-1, -2, -4, -5) on some item, and
respondents of other countries. It returns the path with the exact expectation: per country, how many rows
are in the file, dropped at each step, kept, the kept D_INTERVIEW ids, and the per-item answer counts of the
kept respondents (which match the bundled distributions scaled to the kept n, largest-remainder rounding).

Synthetic respondents share a latent trait so that items correlate (a real file's Cronbach's alpha is high;
independently shuffled columns would look like scrambled ids to the audit) while every item's marginal counts
stay exact.

For the analysis tests: ``paper_size_wvs_populations()`` gives WVS-7 populations of the paper's size
(2,808 CHN, 2,357 USA) loaded through the real loader.
"""

from __future__ import annotations

import csv
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from whosevalues.humans import load_populations
from whosevalues.humans.bundled import WVS7_DISTRIBUTIONS_FILE

WVS_ITEMS = [f"Q{number}" for number in range(177, 196)]
SCALE = list(range(1, 11))
MISSING_CODES = (-1, -2, -4, -5)
COUNTRY_NUMBERS = {"CHN": 156, "USA": 840, "DEU": 276, "JPN": 392}
PAPER_SIZE = {"CHN": 2808, "USA": 2357}
FORMATS = ("csv;", "csv,", "sav", "dta")


@dataclass
class CountryExpectation:
    in_file: int
    non_nationals: int
    incomplete: int
    kept: int
    kept_ids: set[str]
    counts: pd.DataFrame  # items x values 1..10: answer counts of the kept respondents


@dataclass
class WVSFile:
    path: Path
    countries: dict[str, CountryExpectation] = field(default_factory=dict)

    @property
    def expected_kept(self) -> dict[str, int]:
        return {country: expectation.kept for country, expectation in self.countries.items()}


def bundled_proportions(country: str) -> pd.DataFrame:
    """items x values 1..10 proportions of the bundled distributions; other countries reuse the USA's."""
    table = pd.read_csv(WVS7_DISTRIBUTIONS_FILE)
    rows = table[table["B_COUNTRY_ALPHA"] == (country if country in {"CHN", "USA"} else "USA")]
    counts = rows.set_index("qid")[[f"count_{value}" for value in SCALE]].astype(float)
    counts.columns = SCALE
    return counts.div(counts.sum(axis=1), axis=0).loc[WVS_ITEMS]


def exact_counts(proportions: pd.DataFrame, n: int) -> pd.DataFrame:
    """Integer counts summing to n per item, closest to proportions * n (largest remainder)."""
    scaled = proportions.to_numpy() * n
    counts = np.floor(scaled).astype(int)
    shortfall = n - counts.sum(axis=1)
    order = np.argsort(-(scaled - counts), axis=1, kind="stable")
    for row, missing in enumerate(shortfall):
        counts[row, order[row, :missing]] += 1
    return pd.DataFrame(counts, index=proportions.index, columns=proportions.columns)


def respondents_with_counts(counts: pd.DataFrame, rng: np.random.Generator, noise: float = 1.0) -> np.ndarray:
    """n x items answers whose column counts equal ``counts`` exactly, items correlated through a latent trait."""
    n = int(counts.iloc[0].sum())
    latent = rng.standard_normal(n)
    answers = np.empty((n, len(counts)), dtype=int)
    for column, (_, item_counts) in enumerate(counts.iterrows()):
        sorted_values = np.repeat(item_counts.index.to_numpy(), item_counts.to_numpy())
        ranks = np.argsort(latent + noise * rng.standard_normal(n))
        answers[ranks, column] = sorted_values
    return answers


def _sample_answers(proportions: pd.DataFrame, n: int, rng: np.random.Generator) -> np.ndarray:
    return np.column_stack([rng.choice(SCALE, size=n, p=proportions.loc[item].to_numpy()) for item in WVS_ITEMS])


def build_wvs_frame(kept: dict[str, int] | None = None, non_nationals: int = 23, incomplete: int = 37,
                    other_countries: dict[str, int] | None = None, seed: int = 0,
                    ) -> tuple[pd.DataFrame, dict[str, CountryExpectation]]:
    """The rows of an official-format WVS-7 file and what the loader must keep of each country."""
    kept = dict(kept or {"CHN": 300, "USA": 250})
    other_countries = dict(other_countries if other_countries is not None else {"DEU": 40})
    rng = np.random.default_rng(seed)
    blocks, expectations = [], {}
    for country, n_kept in {**kept, **other_countries}.items():
        proportions = bundled_proportions(country)
        counts = exact_counts(proportions, n_kept)
        good = respondents_with_counts(counts, rng)
        foreign = _sample_answers(proportions, non_nationals, rng)  # complete: only Q254 drops them
        partial = _sample_answers(proportions, incomplete, rng)
        for row in partial:  # one to three items with a WVS missing code
            row[rng.choice(len(WVS_ITEMS), size=rng.integers(1, 4), replace=False)] = rng.choice(MISSING_CODES)
        answers = np.vstack([good, foreign, partial])
        # Nationals: pride 1..4 or a missing code (kept: the paper filters Q254 != 5 only).
        pride = np.concatenate([rng.choice([1, 2, 3, 4, -1, -2], size=n_kept),
                                np.full(non_nationals, 5),
                                rng.choice([1, 2, 3, 4], size=incomplete)])
        block = pd.DataFrame(answers, columns=WVS_ITEMS)
        block.insert(0, "Q254", pride)
        block.insert(0, "B_COUNTRY_ALPHA", country)
        block.insert(0, "B_COUNTRY", COUNTRY_NUMBERS.get(country, 999))
        block["_kept"] = [True] * n_kept + [False] * (non_nationals + incomplete)
        blocks.append(block)
        expectations[country] = CountryExpectation(in_file=len(block), non_nationals=non_nationals,
                                                   incomplete=incomplete, kept=n_kept, kept_ids=set(), counts=counts)
    frame = pd.concat(blocks, ignore_index=True).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    # Interview numbers as WVS writes them: country number followed by a serial.
    frame.insert(2, "D_INTERVIEW", frame["B_COUNTRY"] * 100000 + np.arange(1, len(frame) + 1))
    for country, expectation in expectations.items():
        chosen = frame[(frame["B_COUNTRY_ALPHA"] == country) & frame["_kept"]]
        expectation.kept_ids = set(chosen["D_INTERVIEW"].astype(str))
    frame = frame.drop(columns="_kept")
    # Columns a real file has around the ones the loader reads.
    frame.insert(0, "version", "5-0-0 (2022-12-14)")
    frame.insert(1, "A_YEAR", np.where(frame["B_COUNTRY_ALPHA"] == "CHN", 2018, 2017))
    frame["W_WEIGHT"] = np.round(rng.uniform(0.5, 1.5, len(frame)), 6)
    frame["Q1"] = rng.choice([1, 2, 3, 4, -1], size=len(frame))
    frame["Q260"] = rng.choice([1, 2], size=len(frame))
    return frame, expectations


def write_frame(frame: pd.DataFrame, path: Path, fmt: str) -> Path:
    """Write as the WVS distributes it: 'csv;' / 'csv,' / 'sav' / 'dta' (pyreadstat), or 'zip' (CSV inside)."""
    if fmt == "csv;":
        frame.to_csv(path, sep=";", index=False)
    elif fmt == "csv,":
        frame.to_csv(path, sep=",", index=False, quoting=csv.QUOTE_NONNUMERIC)
    elif fmt in {"sav", "dta"}:
        pyreadstat = pytest.importorskip("pyreadstat", reason="SPSS/Stata need the wvs extra: pip install -e '.[wvs]'")
        (pyreadstat.write_sav if fmt == "sav" else pyreadstat.write_dta)(frame, str(path))
    elif fmt == "zip":
        inner = path.with_suffix(".csv")
        frame.to_csv(inner, sep=",", index=False)
        with zipfile.ZipFile(path, "w") as archive:
            archive.write(inner, arcname=inner.name)
        inner.unlink()
    else:
        raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS} or 'zip'")
    return path


SUFFIX = {"csv;": ".csv", "csv,": ".csv", "sav": ".sav", "dta": ".dta", "zip": ".zip"}


def write_wvs_file(directory: Path, fmt: str = "csv;", name: str = "WVS_Cross-National_Wave_7", **build) -> WVSFile:
    """Build and write an official-format WVS-7 file; ``build`` goes to ``build_wvs_frame``."""
    frame, expectations = build_wvs_frame(**build)
    tag = {"csv;": "semicolon", "csv,": "comma"}.get(fmt, fmt)
    path = write_frame(frame, Path(directory) / f"{name}_{tag}{SUFFIX[fmt]}", fmt)
    return WVSFile(path=path, countries=expectations)


def paper_size_wvs_file(directory: Path, fmt: str = "csv;", seed: int = 0) -> WVSFile:
    """An official-format file whose nationals with complete answers number 2,808 (CHN) and 2,357 (USA)."""
    return write_wvs_file(directory, fmt, kept=dict(PAPER_SIZE), seed=seed)


def paper_size_wvs_populations(directory: Path | None = None, seed: int = 0) -> list:
    """WVS-7 populations of the paper's size (CHN 2,808, USA 2,357), loaded through ``load_populations``."""
    import tempfile
    with tempfile.TemporaryDirectory() as scratch:
        built = paper_size_wvs_file(Path(directory or scratch), seed=seed)
        return load_populations("wvs7", built.path)
