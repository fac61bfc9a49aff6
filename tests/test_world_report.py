"""The report with 55 countries: Figures 1 and 3 show CHN, USA and the closest and furthest few (every country
in their CSVs), the terminal summary stays narrow, and the "Whose values" section comes first."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from rich.console import Console

from whosevalues.analysis.llm_responses import load_llm_responses
from whosevalues.analysis.pipeline import analyze
from whosevalues.humans import load_populations
from whosevalues.report import figures as F
from whosevalues.report.outdir import OutputDir
from whosevalues.report.terminal import print_summary
from whosevalues.report.write import write_report


@pytest.fixture(scope="module")
def every_country(tmp_path_factory, shared_data):
    paper = shared_data / "made_in_china_paper"
    out = tmp_path_factory.mktemp("world")
    populations = {"wvs7": load_populations("wvs7", countries=None)}  # the RQ side too: as --countries all
    analyze(load_llm_responses([paper / "llm_wvs_responses.csv", paper / "llm_wvs_persona_responses.csv"]),
            populations, out_dir=out, bootstrap=0)
    write_report(out)
    return OutputDir(out)


def test_figures_1_and_3_show_a_legible_subset_and_keep_every_country_in_the_csv(every_country):
    index = {r.name: r for r in F.read_figure_index(every_country.path)}
    for name, most in (("fig1_wvs7", 10), ("fig3_wvs7", 4)):
        assert not index[name].skipped_reason
        saved = pd.read_csv(every_country.path / "figures" / f"{name}.csv", keep_default_na=False, na_values=[""])
        saved = saved[saved.get("panel", "A") != "B"] if "panel" in saved else saved
        shown = set(saved.loc[saved["shown"], "population"])
        assert saved["population"].nunique() == 55
        assert {"CHN", "USA"} <= shown and len(shown) <= most
        overall = saved.groupby("population")["mean"].mean()
        assert overall.idxmax() in shown and overall.idxmin() in shown
    assert "Showing" in index["fig1_wvs7"].caption


def test_terminal_summary_has_few_columns_and_names_closest_and_furthest(every_country):
    buffer = io.StringIO()
    print_summary(every_country.path, Console(file=buffer, width=200))
    text = buffer.getvalue()
    header = next(line for line in text.splitlines() if "Model" in line and "Origin" in line)
    assert header.count("┃") <= 8  # model, origin, CHN, USA (not 55 country columns)
    assert "Closest" in text and "Furthest" in text and "countries_wvs7.csv" in text


def test_whose_values_section_comes_first_with_more_than_two_countries(every_country):
    page = (every_country.path / "report.html").read_text()
    assert page.index("Whose values: every model against every country") < page.index("class=\"headline\"")
    summary = json.loads((every_country.path / "summary.json").read_text())
    models = summary["surveys"]["wvs7"]["countries"]["models"]
    assert len(models) == 14
    for model in models:
        country, value = model["closest"][0]
        assert f"closest to {country} ({value:.2f})" in page


def test_figure2_with_55_countries_shows_a_bounded_legible_subset(every_country, tmp_path):
    import shutil
    import warnings

    copy = tmp_path / "out"
    shutil.copytree(every_country.path, copy, ignore=shutil.ignore_patterns("fig2_*"))  # draw it afresh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = F.figure2(OutputDir(copy), "wvs7")
    assert not result.skipped_reason
    assert not [w for w in caught if "constrained_layout" in str(w.message)], [str(w.message) for w in caught]
    saved = pd.read_csv(copy / "figures" / "fig2_wvs7.csv", keep_default_na=False, na_values=[""])
    humans = saved[saved["group"] == "Respondents"]
    assert humans["country"].nunique() == 55  # the full data stay in the CSV
    shown = saved[saved["shown"]]
    origins = saved.loc[saved["group"] == "LLMs", "country"].nunique()
    bars_per_item = shown.groupby("dimension").size()
    assert bars_per_item.max() <= origins + 2 + 2 * 2  # origins, CHN and USA, two closest and two furthest
    assert {"CHN", "USA"} <= set(shown.loc[shown["group"] == "Respondents", "country"])
    assert "figure's CSV" in result.caption and "Showing" in result.caption


def test_world_table_ranks_each_model_and_keeps_a_model_without_similarity(monkeypatch):
    from whosevalues.report import whose_values
    from whosevalues.report.figures import world

    similarity = {"m1": [0.9, 0.1, 0.5, 0.3, 0.7, 0.2, 0.4], "m2": [float("nan")] * 7}
    countries = ["CHN", "USA", "DEU", "JPN", "BRA", "IND", "NGA"]
    data = pd.DataFrame([{"model": m, "origin": "USA", "country": c, "similarity": s, "level": "model",
                          "personas": "none"} for m, values in similarity.items() for c, s in zip(countries, values)])
    monkeypatch.setattr(world, "ranking_data", lambda out, survey: data)

    class Out:
        def surveys(self):
            return ["wvs7"]

    [table] = whose_values.world_tables(Out())  # type: ignore[arg-type]
    cells = {column.header: list(column.cells) for column in table.columns}
    assert cells["Model"] == ["m1", "m2"]
    assert cells["Closest"] == ["CHN .90, BRA .70, DEU .50", ""]
    assert cells["Furthest"] == ["USA .10, IND .20, JPN .30", ""]
    assert cells["CHN rank"] == ["1/7", ""] and cells["USA rank"] == ["7/7", ""]
