"""The paper's WVS numbers from the official WVS-7 file, which whosevalues may not ship.

WVS microdata cannot be redistributed, so this check runs only where a user points WHOSEVALUES_WVS7_FILE at
the official WVS-7 v5.0 data file (CSV, .sav or .dta, as downloaded from worldvaluessurvey.org):

    WHOSEVALUES_WVS7_FILE=~/data/WVS_Cross-National_Wave_7_csv_v5_0.csv \
        python -m pytest tests/test_paper_wvs_official.py

It then checks the loader's counts (2,808 CHN, 2,357 USA), Table 2's WVS rows within 0.002, and the RQ1 and RQ3
coefficients in the paper's text within 0.01, all in paper-compatible mode. Without the file it skips; the loader
itself is tested on official-format files built from the bundled distributions (tests/test_humans_*.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from shared_paths import PAPER
from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.humans import load_populations

OFFICIAL = os.environ.get("WHOSEVALUES_WVS7_FILE")
pytestmark = [
    pytest.mark.skipif(not OFFICIAL, reason="set WHOSEVALUES_WVS7_FILE to the official WVS-7 v5.0 file"),
    pytest.mark.needs_shared,
]

# Published in the paper (Table 2, sections 4.1 and 4.3).
TABLE2_WVS = {"Intercept": .430, "language": .042, "persona": .038, "origin": .008, "language:persona": .006,
              "language:origin": .011, "persona:origin": -.014, "language:persona:origin": .031}
RQ1_WVS = {"nationality": -.30, "nationality:origin": .03}
RQ3_WVS = {"nationality:removed[Q177]": .018, "nationality:removed[Q182]": .028, "nationality:removed[Q190]": .025,
           "nationality:removed[Q193]": .019, "nationality:removed[Q184]": .008, "nationality:removed[Q185]": .007,
           "nationality:origin:removed[Q182]": .018}


@pytest.fixture(scope="module")
def official_analysis(tmp_path_factory):
    populations = load_populations("wvs7", OFFICIAL, countries=("CHN", "USA"))
    llm = load_llm_responses([PAPER / "llm_wvs_responses.csv", PAPER / "llm_wvs_persona_responses.csv"])
    out = tmp_path_factory.mktemp("wvs_official")
    analyze(llm, {"wvs7": populations}, paper_compatible=True, out_dir=out, bootstrap=0)
    return populations, out


def _table(out: Path, name: str) -> pd.Series:
    return pd.read_csv(out / "tables" / name).set_index("term")["estimate"]


def test_official_file_gives_the_papers_respondents(official_analysis):
    populations, _ = official_analysis
    assert {p.country: p.n for p in populations} == {"CHN": 2808, "USA": 2357}


def test_table2_wvs_rows(official_analysis):
    estimates = _table(official_analysis[1], "rq2_wvs7.csv")
    for term, published in TABLE2_WVS.items():
        assert estimates[term] == pytest.approx(published, abs=0.002), term


def test_rq1_and_rq3_text_values(official_analysis):
    rq1 = _table(official_analysis[1], "rq1_wvs7.csv")
    for term, published in RQ1_WVS.items():
        assert rq1[term] == pytest.approx(published, abs=0.01), term
    rq3 = _table(official_analysis[1], "rq3_wvs7.csv")
    assert abs(rq3["nationality"]) == pytest.approx(.278, abs=0.01)
    for term, published in RQ3_WVS.items():
        assert rq3[term] == pytest.approx(published, abs=0.01), term
