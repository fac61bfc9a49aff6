"""Figures, tables, the HTML report and the terminal summary, on the real analysis of the paper's published
answers (and on a two-model and a one-model design). Assertions are on the data each figure plots.

The paper's whole report (34 models, two surveys, every figure drawn: about a minute) is checked in the slow
suite; the fast suite checks the same properties on the paper's analysis with the report's tables and page
sections (``paper_analysis``, ``paper_page``) and, for what needs every figure drawn, on the two-model report
(``two_model_mfq2_report``, conftest.py)."""

from __future__ import annotations

import re
import shutil
import warnings

import pandas as pd
import pytest
from markupsafe import escape  # as the report's templates escape
from rich.console import Console

from test_report_fixtures import analysed_dir, needs_shared, paper_report_dir
from whosevalues.instruments import load_instrument
from whosevalues.report import figures as F
from whosevalues.report.html import alpha_table, headline, population_table, render_report
from whosevalues.report.outdir import OutputDir, ReportInputError, display_name
from whosevalues.report.tables import fmt_number, fmt_p, write_tables
from whosevalues.report.terminal import print_summary
from whosevalues.report.write import write_report

pytestmark = needs_shared


@pytest.fixture(scope="module")
def paper_analysis(tmp_path_factory) -> OutputDir:
    """The paper's published answers analysed as for its report (paper_report_dir), with the report's tables
    (tables/*.md and *.tex, as write_report writes them) but no figures."""
    out = analysed_dir(tmp_path_factory.mktemp("paper_analysis"), distributions=True)
    write_tables(out)
    return OutputDir(out)


@pytest.fixture(scope="module")
def paper_page(paper_analysis) -> str:
    """The report's page of the paper's answers without figures: every section but the figures' own (and the
    formats' and the ranking's figures) is the one write_report writes."""
    return render_report(paper_analysis, [])


@pytest.fixture(scope="module")
def paper(tmp_path_factory) -> OutputDir:
    """The paper's whole report, every figure drawn (for the slow tests; shared with test_report_browser)."""
    return OutputDir(paper_report_dir(tmp_path_factory))


@pytest.fixture(scope="module")
def two_model(two_model_mfq2_report) -> OutputDir:
    """GPT-4o and DeepSeek-V3 on MFQ-2: a whole report, every figure drawn (conftest.py; read only)."""
    return OutputDir(two_model_mfq2_report)


@pytest.fixture(scope="module")
def minimal(tmp_path_factory) -> OutputDir:
    out = analysed_dir(tmp_path_factory.mktemp("minimal"), surveys=("mfq2",), models=["gpt-4o"],
                       languages=["en"], personas=["none"])
    write_report(out)
    return OutputDir(out)


# -- the paper's pattern, on the data the figures plot ----------------------------------------------

def test_fig1_every_origin_is_closer_to_usa_respondents(paper_analysis, tmp_path):
    paper = paper_analysis
    for survey in ("mfq2", "wvs7"):
        data = F.fig1_data(paper, survey).set_index(["origin", "population"])["mean"]
        for origin in ("CHN", "USA"):
            assert data[(origin, "USA")] > data[(origin, "CHN")], (survey, origin)
    # the figure's CSV holds the same numbers (Figure 1 drawn here alone, on a copy)
    copy = OutputDir(shutil.copytree(paper.path, tmp_path / "paper"))
    assert not F.figure1(copy, "mfq2").skipped_reason
    saved = pd.read_csv(copy.path / "figures" / "fig1_mfq2.csv")
    assert saved["mean"].round(6).tolist() == F.fig1_data(paper, "mfq2")["mean"].round(6).tolist()


def test_fig3_every_model_is_closer_to_usa_respondents(paper_analysis):
    paper = paper_analysis
    for survey in ("mfq2", "wvs7"):
        grid = F.model_similarity(paper, survey).pivot_table(index="model", columns="population", values="mean")
        assert len(grid) == paper.survey_means(survey)["model"].nunique()
        assert (grid["USA"] > grid["CHN"]).all(), grid[grid["USA"] <= grid["CHN"]]
    reference = F.fig3_reference_data(paper, "mfq2")
    assert set(reference["reference"]) == {"Human CHN", "Human USA", "LLM CHN", "LLM USA"}


def test_fig2_chinese_respondents_stand_apart_on_care(paper_analysis):
    paper = paper_analysis
    data = F.fig2_data(paper, "mfq2")
    care = data[data["dimension"] == "Care"].set_index(["group", "country"])["z"]
    llm = care["LLMs"].mean()
    assert abs(care[("Respondents", "CHN")] - llm) > abs(care[("Respondents", "USA")] - llm)
    assert list(data["dimension"].cat.categories) == load_instrument("mfq2").dimensions
    wvs = F.fig2_data(paper, "wvs7")
    assert set(wvs["dimension"]) == set(load_instrument("wvs7").item_ids)


def test_fig4_usa_respondents_closer_in_every_condition(paper_analysis):
    paper = paper_analysis
    data = F.fig4_data(paper, "mfq2")
    assert set(data["language"]) == {"en", "zh"} and set(data["persona"]) == {"CHN", "USA"}
    wide = data.pivot_table(index=["origin", "language", "persona"], columns="population", values="mean")
    assert (wide["USA"] > wide["CHN"]).all()


def test_fig5_care_removal_helps_chn_similarity_most(paper_analysis):
    paper = paper_analysis
    data = F.fig5_data(paper, "mfq2")
    chn = data[(data["origin"] == "all") & (data["population"] == "CHN")].set_index("removed")["change"]
    assert chn.idxmax() == "Care" and chn["Care"] > 0
    usa = data[(data["origin"] == "all") & (data["population"] == "USA")].set_index("removed")["change"]
    assert usa["Care"] < 0  # Care pulls LLMs toward USA respondents


# -- files ---------------------------------------------------------------------------------------

def assert_every_figure_drawn_or_skipped_with_a_reason(out: OutputDir, expected: set[str]) -> None:
    results = F.read_figure_index(out.path)
    assert results and all(r.skipped_reason or len(r.paths) == 2 for r in results)
    assert not [r for r in results if r.skipped_reason and "could not be drawn" in r.skipped_reason]
    drawn = {r.name for r in results if not r.skipped_reason}
    assert expected <= drawn
    for result in results:
        for path in result.paths:
            assert path.stat().st_size > 5_000, path
    png = (out.path / "figures" / "fig1_mfq2.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # the paper's whole report; the same checks on the two-model report below
def test_every_figure_is_drawn_or_skipped_with_a_reason(paper):
    assert_every_figure_drawn_or_skipped_with_a_reason(paper, {
        "fig1_mfq2", "fig2_mfq2", "fig3_mfq2", "fig4_mfq2", "fig5_mfq2", "validity_mfq2", "distributions_mfq2",
        "fig1_wvs7", "fig2_wvs7", "fig3_wvs7"})


def test_every_figure_of_a_two_model_report_is_drawn_or_skipped_with_a_reason(two_model):
    assert_every_figure_drawn_or_skipped_with_a_reason(two_model, {
        "fig1_mfq2", "fig2_mfq2", "fig3_mfq2", "fig4_mfq2", "fig5_mfq2", "validity_mfq2", "countries_mfq2"})
    skipped = {r.name: r.skipped_reason for r in F.read_figure_index(two_model.path) if r.skipped_reason}
    assert "item_distributions.csv" in skipped["distributions_mfq2"]  # the paper published item means only


def test_tables_in_markdown_latex_and_paper_layout(paper_analysis):
    paper = paper_analysis
    folder = paper.path / "tables"
    rq2 = pd.read_csv(folder / "rq2_mfq2.csv")
    markdown = (folder / "table2.md").read_text()
    latex = (folder / "table2.tex").read_text()
    for row in rq2.itertuples():
        assert fmt_number(row.estimate) in markdown
    assert r"\toprule" in latex and r"\midrule" in latex and r"\bottomrule" in latex
    assert "MFQ-2" in latex
    for stem in ("rq1_mfq2", "rq3_mfq2", "welch_mfq2"):
        assert (folder / f"{stem}.md").is_file() and (folder / f"{stem}.tex").is_file()
    # robust columns carried into the formatted RQ1 table
    assert "SE (two-way)" in (folder / "rq1_mfq2.md").read_text()


def test_number_format_follows_the_paper():
    assert fmt_number(0.2071) == ".207" and fmt_number(-0.0304) == "-.030" and fmt_number(1.5) == "1.500"
    assert fmt_p(1e-20) == "< 2e-16" and fmt_p(3.2e-11) == "3e-11" and fmt_p(0.0012) == ".0012"


# -- the HTML report -----------------------------------------------------------------------------

def assert_self_contained(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "<script" not in page.lower() and "<link" not in page.lower()


def assert_every_drawn_figure_shown_once(out: OutputDir, page: str, ranking: set[str]) -> None:
    drawn = [r for r in F.read_figure_index(out.path) if not r.skipped_reason]
    # the "Whose values" section shows the ranking figures (indexed with the others), each figure once
    assert ranking <= {r.name for r in drawn}
    assert page.count('<img ') == len(drawn)
    assert page.count("data:image/png;base64,") == len(drawn)
    for result in drawn:
        assert escape(result.caption) in page


def assert_headline_prompts_models_and_provenance(out: OutputDir, page: str, surveys: tuple[str, ...]) -> None:
    for sentence in headline(out):
        assert escape(sentence) in page
    # the exact prompts, rendered by the instrument
    rendered = load_instrument("mfq2").render("1", "zh", "CHN")
    assert escape(rendered.system) in page and escape(rendered.user) in page
    if "wvs7" in surveys:
        assert escape(load_instrument("wvs7").render("Q195", "en", "none").user) in page
    for model in out.model_origins():
        assert escape(display_name(model)) in page
    assert "PROVENANCE.md" in page and "Licence" in page and "whosevalues " in page


@pytest.mark.slow  # the paper's whole report; the same checks on its page sections and the two-model report below
def test_report_is_self_contained_and_complete(paper):
    page = (paper.path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    assert_every_drawn_figure_shown_once(paper, page, {"countries_mfq2", "countries_wvs7"})
    assert "All 20 models are closer to USA respondents than to CHN respondents on MFQ-2" in headline(paper)[0]
    assert_headline_prompts_models_and_provenance(paper, page, ("mfq2", "wvs7"))


def test_the_papers_report_states_its_headline_prompts_models_and_provenance(paper_analysis, paper_page):
    assert_self_contained(paper_page)
    assert "All 20 models are closer to USA respondents than to CHN respondents on MFQ-2" in \
        headline(paper_analysis)[0]
    assert_headline_prompts_models_and_provenance(paper_analysis, paper_page, ("mfq2", "wvs7"))


def test_a_whole_report_is_self_contained_and_shows_every_figure_once(two_model):
    page = (two_model.path / "report.html").read_text(encoding="utf-8")
    assert_self_contained(page)
    assert_every_drawn_figure_shown_once(two_model, page, {"countries_mfq2"})
    assert_headline_prompts_models_and_provenance(two_model, page, ("mfq2",))


@pytest.mark.slow  # the paper's whole report; the same checks on its analysis and the two-model report below
def test_terminal_summary_lists_every_model_and_the_report(paper):
    assert_terminal_summary_lists_every_model_and_the_report(paper)


def assert_terminal_summary_lists_every_model_and_the_report(out: OutputDir, report: bool = True) -> None:
    console = Console(record=True, width=140)
    print_summary(out.path, console)
    text = console.export_text()
    for model in out.survey_means("mfq2")["model"].unique():
        assert display_name(model) in text
    assert (str(out.path / "report.html") in text) == report


def test_terminal_summary_lists_every_model_and_the_report_when_written(paper_analysis, two_model):
    assert_terminal_summary_lists_every_model_and_the_report(paper_analysis, report=False)  # none written
    assert_terminal_summary_lists_every_model_and_the_report(two_model)


# -- a one-model, one-survey, one-language, one-persona design -------------------------------------

def test_minimal_design_renders_and_says_what_is_left_out(minimal):
    page = (minimal.path / "report.html").read_text(encoding="utf-8")
    assert "What this design leaves out" in page
    assert "no contrast between LLM origins" in page and "No national persona" in page
    results = {r.name: r for r in F.read_figure_index(minimal.path)}
    assert results["fig4_mfq2"].skipped_reason and "persona" in results["fig4_mfq2"].skipped_reason
    assert escape(results["fig4_mfq2"].skipped_reason) in page
    assert not [r for r in results.values() if r.skipped_reason and "could not be drawn" in r.skipped_reason]
    # without respondent-level similarities the headline still compares the populations, from item means
    sentences = headline(minimal)
    assert len(sentences) == 1 and sentences[0].startswith("The one model (GPT-4o)")
    assert page.count("data:image/png;base64,") == sum(1 for r in results.values() if not r.skipped_reason) >= 3


def test_directory_without_analysis_files_is_a_clear_error(tmp_path):
    with pytest.raises(ReportInputError, match="no such analysis directory"):
        OutputDir(tmp_path / "missing")
    with pytest.raises(ValueError, match="item_means.csv"):
        write_report(tmp_path)


# -- populations and the fitted design, from populations.json and summary.json ------------------------

def _population_rows(page: str, survey_heading: str) -> list[str]:
    """The first-cell texts of the population table that follows a survey's heading."""
    section = page.split("<h2>Human populations and their audits</h2>", 1)[1].split("<h2>", 1)[0]
    table = section.split(f"<h3>{survey_heading}</h3>", 1)[1].split("</table>", 1)[0]
    return re.findall(r"<tr>\s*<td>([^<]*)</td>", table)


def test_populations_render_as_compact_tables_not_raw_dicts(paper_analysis, paper_page):
    paper, page = paper_analysis, paper_page
    records = [r for r in paper.populations() if r["survey"] == "mfq2"]
    assert _population_rows(page, "MFQ-2") == [str(r["country"]) for r in records]
    for record in records:  # loading steps one per line, and alpha per foundation
        for step in record["steps"]:
            assert escape(f"{step['step']}: {step['count']}") in page
    alphas = alpha_table(records)
    assert list(alphas.columns) == ["Country", *load_instrument("mfq2").dimensions]
    assert len(alphas) == len(records)
    # item means only inside a collapsed <details>; nothing of the raw record dumped
    means_at = page.index("Item means and standard deviations")
    assert page.rfind("<details>", 0, means_at) > page.rfind("</details>", 0, means_at)
    assert "item_means" not in page and "item_sds" not in page and "respondent_level" not in page
    assert not re.search(r"\{\s*(&#39;|&#34;|&#x27;|&quot;|')", page), "a Python/JSON dict was dumped"
    # the aggregate-only WVS populations in one line
    wvs = page.split("<h3>WVS</h3>", 1)[1].split("<h", 1)[0]
    assert wvs.count("aggregates only") == 1 and "<table" not in wvs


def test_scrambled_ids_warning_shows_in_paper_compatible_mode(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader warns about the scrambled ids; the report must show it
        out = OutputDir(analysed_dir(tmp_path / "paperc", surveys=("mfq2",), models=["gpt-4o", "deepseek-v3"],
                                     paper_compatible=True))
    page = render_report(out, [])
    assert _population_rows(page, "MFQ-2") == ["CHN", "USA"]
    section = page.split("<h2>Human populations and their audits</h2>", 1)[1].split("<h2>", 1)[0]
    scrambled = [w for r in out.populations() for w in r["audit"]["warnings"] if "scrambled" in w]
    assert len(scrambled) == 2
    for warning in scrambled:
        assert escape(warning) in section and 'class="warning"' in section
    table = population_table(out.populations())
    assert "NOT real respondents" in " ".join(table["Loading steps"])


def test_design_section_states_formulas_and_dropped_terms_from_summary(minimal, paper_analysis, paper_page):
    page = (minimal.path / "report.html").read_text(encoding="utf-8")
    design = page.split("<h2>Study design</h2>", 1)[1].split("<h2>", 1)[0]
    assert "RQ3 need models of two origins" not in page
    analyses = minimal.analyses("mfq2")
    for rq, info in analyses.items():
        if info.get("formula"):
            assert f"<code>{escape(info['formula'])}</code>" in design
            if (minimal.path / "tables" / f"{rq}_mfq2.csv").is_file():
                assert f"Fitted model: <code>{escape(info['formula'])}</code>" in page
        for reason in set((info.get("dropped_terms") or {}).values()):
            assert escape(reason) in design
        if info.get("skipped"):
            assert escape(info["skipped"]) in design
    assert any(info.get("dropped_terms") for info in analyses.values())  # one origin: origin terms dropped
    # the paper's full design drops nothing; each RQ table shows its formula above it
    full = paper_page
    for rq in ("rq1", "rq2", "rq3"):
        formula = paper_analysis.analyses("mfq2")[rq]["formula"]
        tables = full.split("<h2>Tables</h2>", 1)[1]
        assert f"Fitted model: <code>{escape(formula)}</code>" in tables
