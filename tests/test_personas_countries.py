"""Country codes (ISO 3166-1 alpha-3 everywhere, checked against CLDR through Babel) and personas for any
country from a survey's persona template."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
from babel.core import get_global

from whosevalues.countries import NON_ISO_SAMPLES, CountryError, check_codes, country_name, is_iso_alpha3
from whosevalues.humans.bundled import (
    ATARI_STUDY2_COUNTRIES,
    MFQ2_GROUPS,
    RAMEZANI_COUNTRIES,
    WVS7_DISTRIBUTIONS_FILE,
    countries_with_data,
)
from whosevalues.instruments import available_instruments, load_instrument
from whosevalues.study import Study, StudyError


def cldr_alpha3() -> set[str]:
    """3-letter CLDR aliases of exactly one territory: the ISO alpha-3 codes (and a few withdrawn ones)."""
    return {alias for alias, targets in get_global("territory_aliases").items()
            if len(alias) == 3 and alias.isalpha() and len(targets) == 1}


def every_code_the_tool_ships() -> dict[str, set[str]]:
    codes = {"MFQ-2 respondents": set(MFQ2_GROUPS.values()),
             "MFQ-2 foundation means": set(ATARI_STUDY2_COUNTRIES.values()),
             "WVS-7 country means": set(RAMEZANI_COUNTRIES.values()),
             "WVS-7 distributions": set(pd.read_csv(WVS7_DISTRIBUTIONS_FILE)["B_COUNTRY_ALPHA"])}
    from whosevalues.models.catalog import load_catalog

    codes["model origins (catalog)"] = {spec.origin for spec in load_catalog().values()}
    for survey in available_instruments():
        instrument = load_instrument(survey)
        for language, prompts in instrument.languages.items():
            codes[f"{survey} {language} personas"] = set(prompts.personas) | set(prompts.country_names)
    return codes


def test_every_country_code_is_iso_alpha3_per_cldr():
    known = cldr_alpha3()
    for where, codes in every_code_the_tool_ships().items():
        assert codes, where
        assert codes <= known, f"{where}: not ISO alpha-3: {sorted(codes - known)}"
        assert all(is_iso_alpha3(code) for code in codes), where


def test_morocco_is_mar_not_wvs_mor():
    assert RAMEZANI_COUNTRIES["Morocco"] == "MAR" == ATARI_STUDY2_COUNTRIES["Morocco"]
    assert "MOR" not in cldr_alpha3()  # ISO has no MOR: WVS's own code
    with pytest.raises(CountryError, match="write MAR"):
        check_codes(["MOR"])
    assert check_codes(["NIR"]) == ["NIR"] and "NIR" in NON_ISO_SAMPLES  # WVS's Northern Ireland, no ISO code


def test_bundled_countries_per_survey():
    assert len(countries_with_data("mfq2")) == 21 and len(countries_with_data("wvs7")) == 55
    assert countries_with_data("mfq2")[:2] == ["CHN", "USA"]


def test_template_fills_the_cldr_name_in_each_language():
    wvs = load_instrument("wvs7")
    assert "你是德国公民。" in wvs.render("Q182", "zh", "DEU").system
    assert "You are a national of Germany." in wvs.render("Q182", "en", "DEU").system
    assert "You are a national of the Netherlands." in wvs.render("Q182", "en", "NLD").system  # country_names
    mfq = load_instrument("mfq2")
    assert "您来自日本。" in mfq.render("1", "zh", "JPN").system
    assert country_name("NGA", "en") in mfq.render("1", "en", "NGA").system


def test_the_papers_sentences_stay_and_explicit_sentences_win():
    wvs, mfq = load_instrument("wvs7"), load_instrument("mfq2")
    assert wvs.render("Q182", "en", "CHN").system.splitlines()[1] == "You are a Chinese national."
    assert wvs.render("Q182", "zh", "USA").system.splitlines()[1] == "你是美国公民。"
    assert mfq.render("1", "en", "USA").system.startswith("You are from the USA.\n")
    assert mfq.render("1", "zh", "CHN").system.startswith("您来自中国。\n")


def test_bad_persona_codes_are_one_line_errors():
    wvs = load_instrument("wvs7")
    for code in ("XYZ", "MOR", "DE"):
        with pytest.raises(KeyError, match="ISO"):
            wvs.render("Q182", "en", code)
    with pytest.raises(StudyError, match="not an ISO 3166-1 alpha-3"):
        Study(personas=["none", "XXX"]).validate_design()


def test_personas_countries_means_every_country_with_data():
    study = Study(surveys=["mfq2", "wvs7"], personas=["none", "countries"])
    study.validate_design()
    mfq, wvs = study.instruments()
    assert [c.persona for c in study.conditions(mfq) if c.language == "en"] == ["none", *countries_with_data("mfq2")]
    assert len({c.persona for c in study.conditions(wvs)}) == 56


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "200"}, timeout=120)


@pytest.mark.slow
def test_surveys_show_prints_the_templated_sentence():
    result = cli("surveys", "show", "wvs7", "--language", "zh", "--persona", "DEU", "--item", "Q182")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1:4] == ["这是一项关于人们生活价值观的全球研究。", "你是德国公民。",
                                               "请仅回复1到10之间的数字。"]
    bad = cli("surveys", "show", "wvs7", "--persona", "MOR")
    assert bad.returncode == 2 and "write MAR" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_a_respondents_table_with_non_iso_codes_is_flagged(tmp_path):
    from whosevalues.humans import PopulationWarning, load_populations

    items = [f"Q{n}" for n in range(177, 196)]
    rows = [{"respondent": f"r{i}", "country": "GER", **{item: (i + j) % 10 + 1 for j, item in enumerate(items)}}
            for i in range(5)]
    path = tmp_path / "table.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    with pytest.warns(PopulationWarning, match="GER are not ISO 3166-1 alpha-3"):
        assert [p.country for p in load_populations("wvs7", path, countries=None)] == ["GER"]
