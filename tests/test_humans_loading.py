"""Loading human populations: official WVS-7 files in every format, respondents tables, bundled data, errors."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from whosevalues.humans import PopulationError, PopulationWarning, load_populations, parse_humans_option
from whosevalues.humans.bundled import MFQ2_FILE, WVS7_DISTRIBUTIONS_FILE, wvs7_country_means
from wvs_fixtures import FORMATS, WVS_ITEMS, build_wvs_frame, paper_size_wvs_file, write_frame, write_wvs_file


def _value_counts(population) -> pd.DataFrame:
    return population.responses.apply(lambda column: column.value_counts().reindex(range(1, 11), fill_value=0)).T


@pytest.mark.parametrize("fmt", [*FORMATS, "zip"])
def test_official_wvs_file_keeps_exactly_the_right_respondents(tmp_path, fmt):
    built = write_wvs_file(tmp_path, fmt)
    with warnings.catch_warnings():
        warnings.simplefilter("error", PopulationWarning)  # a complete file raises no warning
        populations = load_populations("wvs7", built.path, countries=None)
    assert [p.country for p in populations] == sorted(built.countries)
    for population in populations:
        expected = built.countries[population.country]
        assert population.n == expected.kept
        assert set(population.responses.index) == expected.kept_ids
        assert list(population.responses.columns) == WVS_ITEMS
        steps = dict(population.steps)
        assert steps[f"respondents from {population.country} in file"] == expected.in_file
        assert steps["dropped: non-nationals (Q254 == 5)"] == expected.non_nationals
        assert steps["dropped: incomplete respondents (listwise over Q177..Q195)"] == expected.incomplete
        assert steps["kept"] == expected.kept
        counts = _value_counts(population)
        assert (counts.to_numpy() == expected.counts.to_numpy()).all()


def test_default_countries_are_chn_and_usa_and_order_follows_request(tmp_path):
    built = write_wvs_file(tmp_path, "csv;")
    assert [p.country for p in load_populations("wvs7", built.path)] == ["CHN", "USA"]
    assert [p.country for p in load_populations("wvs7", built.path, countries=["usa", "DEU"])] == ["USA", "DEU"]


def test_lowercase_wvs_columns_are_accepted(tmp_path):
    frame, expectations = build_wvs_frame()
    frame.columns = [c.lower() if c.startswith("Q") else c for c in frame.columns]
    path = write_frame(frame, tmp_path / "lower.csv", "csv,")
    populations = load_populations("wvs7", path)
    assert {p.country: p.n for p in populations} == {c: expectations[c].kept for c in ("CHN", "USA")}
    assert list(populations[0].responses.columns) == WVS_ITEMS


def test_without_q254_non_nationals_are_kept_with_a_warning(tmp_path):
    frame, expectations = build_wvs_frame()
    path = write_frame(frame.drop(columns="Q254"), tmp_path / "no_q254.csv", "csv;")
    with pytest.warns(PopulationWarning, match="Q254"):
        populations = load_populations("wvs7", path)
    for population in populations:
        expected = expectations[population.country]
        assert population.n == expected.kept + expected.non_nationals
        assert any("Q254" in warning for warning in population.audit["warnings"])


def test_paper_size_file(tmp_path):
    built = paper_size_wvs_file(tmp_path)
    populations = load_populations("wvs7", built.path)
    assert {p.country: p.n for p in populations} == {"CHN": 2808, "USA": 2357}  # the paper's sample sizes


def test_respondents_table_round_trips_bundled_mfq2(tmp_path):
    bundled = load_populations("mfq2")
    table = pd.concat([p.responses.assign(country=p.country) for p in bundled]).reset_index()
    for path in (tmp_path / "mfq2.csv", tmp_path / "mfq2.parquet"):
        table.to_csv(path, index=False) if path.suffix == ".csv" else table.to_parquet(path, index=False)
        loaded = load_populations("mfq2", path)
        for original, again in zip(bundled, loaded):
            assert again.country == original.country
            pd.testing.assert_frame_equal(again.responses, original.responses, check_names=False)
            assert again.audit["alpha"] == original.audit["alpha"]


def test_respondents_table_drops_out_of_scale_and_incomplete(tmp_path):
    rng = np.random.default_rng(1)
    answers = rng.integers(1, 6, size=(30, 36)).astype(float)
    answers[3, 5], answers[7, 0], answers[9, 9] = 9, 0, np.nan  # outside 1..5 or missing
    table = pd.DataFrame(answers, columns=[str(i) for i in range(1, 37)])
    table.insert(0, "country", ["JPN"] * 20 + ["KOR"] * 10)
    table.insert(0, "respondent", [f"r{i}" for i in range(30)])
    path = tmp_path / "mine.csv"
    table.to_csv(path, index=False)
    (japan,) = load_populations("mfq2", path, countries=["JPN"])
    assert japan.n == 17
    assert set(japan.responses.index) == {f"r{i}" for i in range(20)} - {"r3", "r7", "r9"}
    assert dict(japan.steps)["answers outside 1..5 set to missing (cells)"] == 2


# ---- errors: one line, a PopulationError (ValueError), naming the problem and the fix ----------------------

def _error(*args, **kwargs) -> str:
    with pytest.raises(PopulationError) as caught:
        load_populations(*args, **kwargs)
    message = str(caught.value)
    assert isinstance(caught.value, ValueError) and "\n" not in message
    return message


def test_missing_file(tmp_path):
    assert "no such file" in _error("wvs7", tmp_path / "absent.csv")


def test_file_that_is_not_a_wvs_file(tmp_path):
    path = tmp_path / "other.csv"
    pd.DataFrame({"a": [1, 2], "b": [3, 4]}).to_csv(path, index=False)
    message = _error("wvs7", path)
    assert "not a WVS file" in message and "B_COUNTRY_ALPHA" in message


def test_wrong_columns(tmp_path):
    frame, _ = build_wvs_frame()
    path = write_frame(frame.drop(columns=["Q180", "Q181"]), tmp_path / "short.csv", "csv;")
    message = _error("wvs7", path)
    assert "Q180" in message and "Q181" in message


def test_empty_selection_lists_the_countries_in_the_file(tmp_path):
    built = write_wvs_file(tmp_path, "dta")
    message = _error("wvs7", built.path, countries=["JPN"])
    assert "JPN" in message and "CHN, DEU, USA" in message


def test_value_labels_instead_of_codes(tmp_path):
    frame, _ = build_wvs_frame()
    frame["Q185"] = frame["Q185"].astype(object)
    frame.loc[frame.index[:5], "Q185"] = "Never justifiable"
    path = write_frame(frame, tmp_path / "labels.csv", "csv,")
    message = _error("wvs7", path)
    assert "Q185" in message and "Never justifiable" in message


@pytest.mark.needs("pyreadstat")
def test_unknown_file_type_corrupt_file_and_duplicates(tmp_path):
    (tmp_path / "data.xlsx").write_text("x")
    assert "unknown file type" in _error("wvs7", tmp_path / "data.xlsx")
    (tmp_path / "broken.sav").write_bytes(b"not an spss file")
    assert "cannot read" in _error("wvs7", tmp_path / "broken.sav")
    table = pd.DataFrame({"respondent": ["a", "a"], "country": ["JPN", "JPN"],
                          **{item: [1, 2] for item in WVS_ITEMS}})
    table.to_csv(tmp_path / "dup.csv", index=False)
    assert "more than once" in _error("wvs7", tmp_path / "dup.csv")


def test_country_with_no_complete_respondent(tmp_path):
    frame, _ = build_wvs_frame()
    frame.loc[frame["B_COUNTRY_ALPHA"] == "DEU", "Q195"] = -4  # not asked in that country
    path = write_frame(frame, tmp_path / "deu.csv", "csv;")
    assert "DEU" in _error("wvs7", path, countries=["DEU"])
    with pytest.warns(PopulationWarning, match="DEU"):
        populations = load_populations("wvs7", path, countries=None)
    assert [p.country for p in populations] == ["CHN", "USA"]


def test_bundled_errors_and_unknown_survey():
    assert "CHN, USA" in _error("mfq2", countries=["DEU"])
    assert "unknown survey" in _error("nosuchsurvey")
    with pytest.raises(PopulationError):
        parse_humans_option("wvs7")
    assert parse_humans_option("wvs7=/data/WVS.csv") == ("wvs7", "/data/WVS.csv")


# ---- bundled data ---------------------------------------------------------------------------------------------

def test_bundled_wvs7_distributions_match_their_file():
    table = pd.read_csv(WVS7_DISTRIBUTIONS_FILE)
    for population in load_populations("wvs7"):
        rows = table[table["B_COUNTRY_ALPHA"] == population.country].set_index("qid")
        assert not population.has_respondents and population.n == rows["n"].max()
        np.testing.assert_allclose(population.item_means()[WVS_ITEMS], rows.loc[WVS_ITEMS, "mean"], atol=1e-3)
        np.testing.assert_allclose(population.distributions.sum(axis=1), 1.0)


def test_bundled_wvs7_other_countries_are_means_only():
    means = wvs7_country_means()
    populations = load_populations("wvs7", countries=None)
    codes = [p.country for p in populations]
    assert codes[:2] == ["CHN", "USA"] and set(codes) == set(means.index)
    germany = next(p for p in populations if p.country == "DEU")
    assert germany.distributions is None and germany.responses is None
    pd.testing.assert_series_equal(germany.item_means(), means.loc["DEU"].reindex(WVS_ITEMS), check_names=False)


def test_bundled_mfq2_is_the_published_file(shared_data):
    source = shared_data / "made_in_china_paper" / "human_mfq_responses.csv"
    pd.testing.assert_frame_equal(pd.read_csv(MFQ2_FILE), pd.read_csv(source))
