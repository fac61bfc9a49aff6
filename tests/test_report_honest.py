"""The report says what the output directory holds, no more: the answer mode as it was, validity in that
mode's terms (valid_mass, the paper file's prop_na, or unknown), headlines with a 95% CI and coverage, one
count of models everywhere with who was left out and why, run_notes.json, and no link to a missing file.

The answers are the paper's published item means (../shared), relabelled where a test needs another mode;
the relabelled valid_mass values are inputs, and every asserted number is recomputed from them."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from test_report_fixtures import PAPER, _synthetic_distributions, needs_shared
from whosevalues.intervals import mean_ci
from whosevalues.report import answers, coverage, run_notes
from whosevalues.report.figures import model_similarity, read_figure_index, validity_data
from whosevalues.report.headline import Headline, headline_sentence, headlines
from whosevalues.report.html import headline, render_report
from whosevalues.report.outdir import OutputDir, display_name
from whosevalues.report.write import write_report

pytestmark = needs_shared
REPO = Path(__file__).resolve().parents[1]
MODELS = ["gpt-4o", "deepseek-chat"]


def _analyse(out: Path, means: pd.DataFrame, distributions: bool = False, figures_of: Path | None = None,
             figures: tuple[str, ...] = (), report: bool = True) -> OutputDir:
    """Analyse ``means`` against the bundled CHN and USA respondents and write the report (unless ``report`` is
    False: for checks of what the report reads, not of the page). ``figures_of``: an output directory of the
    same models' answers in another mode, whose similarity figures (and ``figures``) are copied in first (see
    _copy_figures)."""
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.humans import load_populations

    out.mkdir(parents=True, exist_ok=True)
    means.to_csv(out / "item_means.csv", index=False)
    surveys = sorted(means["survey"].unique())
    populations = {s: load_populations(s, "bundled", countries=["CHN", "USA"]) for s in surveys}
    analyze(means, populations, out_dir=out, bootstrap=0)
    if distributions:
        _synthetic_distributions(means).to_csv(out / "item_distributions.csv", index=False)
    if figures_of is not None:
        _copy_figures(figures_of, out, SIMILARITY_FIGURES + figures)
    if report:
        write_report(out)
    return OutputDir(out)


# The figures of similarities to respondents and countries: the answer mode is not in the data they plot.
SIMILARITY_FIGURES = ("fig1", "fig2", "fig3", "fig4", "fig5", "countries", "steerability")


def _copy_figures(source: Path, out: Path, names: tuple[str, ...]) -> None:
    """Copy the figures ``names`` (files and their .inputs hashes) of another output directory. The report
    draws a figure again unless its .inputs hash matches the data it would plot (report/figures/common.py,
    test_report_cache.py), so a copied figure is kept only when its data are these answers' own (the same
    item means relabelled with another mode give the same similarities), and the page is the one a report
    drawn from scratch would be. The validity figure, which shows the mode, is never copied."""
    (out / "figures").mkdir(parents=True, exist_ok=True)
    for path in (source / "figures").iterdir():
        if path.name.split("_", 1)[0] in names:
            shutil.copy2(path, out / "figures" / path.name)


def _paper_means(*files: str, models: list[str] | None = None) -> pd.DataFrame:
    from whosevalues.analysis.llm_responses import load_llm_responses

    means = load_llm_responses([PAPER / f for f in files])
    return means[means["model"].isin(models)].reset_index(drop=True) if models else means


def _as_run(means: pd.DataFrame, modes: dict[str, str], valid_mass: dict[str, float]) -> pd.DataFrame:
    """As a store-backed run writes item_means.csv: a mode per model; sampled models 20 of 20 valid samples,
    distribution models one distribution per item with the given valid_mass per language."""
    means = means.drop(columns=["prop_na", "source_row"]).copy()
    means["mode"] = means["model"].map(modes)
    sampled = means["mode"] == "sample"
    means["n_total"] = np.where(sampled, 20, 1)
    means["n_valid"] = means["n_total"]
    means["refusal_rate"] = 0.0
    means["valid_mass"] = np.where(sampled, np.nan, means["language"].map(valid_mass))
    return means


@pytest.fixture(scope="module")
def distribution(tmp_path_factory, two_model_mfq2_report) -> OutputDir:
    means = _as_run(_paper_means("llm_mfq_responses.csv", models=MODELS), dict.fromkeys(MODELS, "distribution"),
                    {"en": 0.55, "zh": 0.06})
    return _analyse(tmp_path_factory.mktemp("distribution"), means, distributions=True,
                    figures_of=two_model_mfq2_report)


@pytest.fixture(scope="module")
def sampled(tmp_path_factory, distribution) -> OutputDir:
    means = _as_run(_paper_means("llm_mfq_responses.csv", models=MODELS), dict.fromkeys(MODELS, "sample"), {})
    return _analyse(tmp_path_factory.mktemp("sampled"), means, distributions=True, figures_of=distribution.path,
                    figures=("distributions",))  # the same synthetic distributions


@pytest.fixture(scope="module")
def mixed(tmp_path_factory, two_model_mfq2_report) -> OutputDir:
    means = _as_run(_paper_means("llm_mfq_responses.csv", models=MODELS),
                    {"gpt-4o": "sample", "deepseek-chat": "distribution"}, {"en": 0.7, "zh": 0.4})
    return _analyse(tmp_path_factory.mktemp("mixed"), means, figures_of=two_model_mfq2_report)


@pytest.fixture(scope="module")
def paper_wvs(tmp_path_factory) -> OutputDir:
    means = _paper_means("llm_wvs_responses.csv", "llm_wvs_persona_responses.csv")
    return _analyse(tmp_path_factory.mktemp("paper_wvs"), means)


def _page(out: OutputDir) -> str:
    return (out.path / "report.html").read_text(encoding="utf-8")


def _design_row(page: str, name: str) -> str:
    return re.search(rf"<tr><th>{name}</th><td>([^<]*)</td></tr>", page).group(1)


# -- the answer mode as it was -------------------------------------------------------------------

def test_a_sample_mode_run_is_reported_as_sampled_even_with_answer_distributions(sampled):
    assert (sampled.path / "item_distributions.csv").is_file()  # written in sample mode too
    assert answers.model_modes(sampled) == dict.fromkeys(MODELS, "sample")
    row = html.unescape(_design_row(_page(sampled), "Answer mode"))
    assert row == "sampled answers, for all 2 models"
    assert "distribution" not in row
    assert html.unescape(_design_row(_page(sampled), "Samples per item and condition")) == "20"
    # every analysis ran with both models: only then "nobody was excluded"
    assert coverage.everything_included(sampled) and "No model or condition was excluded" in _page(sampled)


def test_distribution_mode_is_reported_per_model(distribution):
    assert html.unescape(_design_row(_page(distribution), "Answer mode")).startswith("distribution")
    assert html.unescape(_design_row(_page(distribution), "Samples per item and condition")) == \
        "one probability distribution per item"


# -- validity in each mode's terms -----------------------------------------------------------------

def test_distribution_mode_validity_is_the_probability_on_valid_answers(distribution):
    means = distribution.item_means()
    data = validity_data(distribution, "mfq2")
    assert set(data["measure"]) == {"mass"}
    for row in data.itertuples():
        rows = means[(means["model"] == row.model) & (means["language"] == row.language)
                     & (means["persona"] == row.persona)]
        assert row.valid == pytest.approx(rows["valid_mass"].mean())
        assert row.n_valid == row.n_total  # every item got a distribution: the old report's "100% valid"
    saved = pd.read_csv(distribution.path / "figures" / "validity_mfq2.csv")
    assert saved["valid"].round(6).tolist() == data["valid"].round(6).tolist()  # the figure plots valid_mass
    page = html.unescape(_page(distribution))
    assert "Every sampled answer" not in page
    low = data[data["valid"] < answers.LOW_VALID_MASS]
    assert f"In {len(low)} of {len(data)} conditions less than 50% did" in page
    lowest = data["valid"].min()
    assert f"{lowest:.1%}" in page  # the lowest condition's mass, in the sentence and the table
    table = answers.validity_table(distribution)
    assert len(table) == len(data) and table["Valid"].iloc[0] == f"{lowest:.1%}"
    markdown = (distribution.path / "tables" / "validity.md").read_text(encoding="utf-8")
    assert markdown.count("probability on valid answers") == len(data)


def test_published_answers_keep_prop_na_and_invent_no_counts(paper_wvs):
    raw = pd.concat([pd.read_csv(PAPER / f, encoding="utf-8-sig")
                     for f in ("llm_wvs_responses.csv", "llm_wvs_persona_responses.csv")])
    means = paper_wvs.item_means()
    assert means["n_valid"].isna().all() and means["n_total"].isna().all()
    assert (means["mode"] == "sample").all()
    data = validity_data(paper_wvs, "wvs7")
    assert set(data["measure"]) == {"recorded"}
    expected = raw.groupby(["LLM", "language", "persona"])["prop_na"].mean()
    for row in data.itertuples():
        language = {"en": "English", "zh": "Chinese"}[row.language]
        persona = {"none": "none", "CHN": "China", "USA": "USA"}[row.persona]
        assert row.valid == pytest.approx(1 - expected[(row.model, language, persona)])
    page = html.unescape(_page(paper_wvs))
    assert "Every sampled answer" not in page and "prop_na" in page
    missing = int((expected > 0).sum())
    assert f"{missing} of {len(expected)} conditions had missing answers" in page


def test_unknown_validity_says_unknown(tmp_path, two_model_mfq2_report):
    means = _paper_means("llm_mfq_responses.csv", models=MODELS).drop(columns=["prop_na", "mode"])
    out = _analyse(tmp_path / "unknown", means, figures_of=two_model_mfq2_report)
    assert set(validity_data(out, "mfq2")["measure"]) == {"unknown"}
    figure = {f.name: f for f in read_figure_index(out.path)}["validity_mfq2"]
    assert figure.skipped_reason and "unknown" in figure.skipped_reason
    page = html.unescape(_page(out))
    assert "Answer validity is unknown for" in page and "Every sampled answer" not in page
    assert html.unescape(_design_row(_page(out), "Answer mode")).startswith("not recorded")


# -- headlines: a 95% CI and coverage ----------------------------------------------------------------

def test_every_headline_carries_a_ci_and_its_coverage(paper_wvs, distribution):
    for out in (paper_wvs, distribution):
        page = html.unescape(_page(out))
        for h in headlines(out):
            sentence = headline_sentence(h, len(out.model_origins()))
            assert "95% CI" in sentence and sentence in page
            low, high = h.ci
            assert low <= h.difference <= high
            assert "Coverage: " in page and f"all {len(out.survey_means(h.survey)['item'].unique())} items" in page


def test_distribution_headline_coverage_names_the_valid_mass(distribution):
    [h] = headlines(distribution)
    means = distribution.item_means()
    none = means[means["persona"] == "none"].groupby("language")["valid_mass"].mean()
    text = " ".join(h.coverage)
    for language, mass in none.items():
        assert f"{mass:.0%} in {language}" in text
    assert "below half" in text


def test_no_clear_difference_when_the_interval_holds_zero(distribution, paper_wvs):
    # the models' real similarities, with one model's populations swapped: the two models now disagree
    grid = model_similarity(distribution, "mfq2").pivot_table(index="model", columns="population", values="mean")
    grid.loc["gpt-4o"] = grid.loc["gpt-4o"][::-1].to_numpy()
    diffs = grid["USA"] - grid["CHN"]
    mean, low, high, n = mean_ci(diffs)
    split = Headline("mfq2", ["USA", "CHN"], grid.mean().to_dict(), list(grid.index), n_closer=int((diffs > 0).sum()),
                     difference=mean, ci=(low, high), ci_over=f"over the {n} models")
    assert low < 0 < high and not split.clear
    sentence = headline_sentence(split)
    assert "no clear difference" in sentence and "closer to USA respondents than" not in sentence
    [clear] = headlines(paper_wvs)  # 14 models, every one closer to USA respondents
    assert clear.clear and "closer to USA respondents than" in headline_sentence(clear)


def test_one_model_against_aggregates_gets_an_item_bootstrap_interval(tmp_path):
    means = _paper_means("llm_wvs_responses.csv", models=["gpt-4.1"])
    out = _analyse(tmp_path / "one", means, report=False)  # the headline is computed from the analysis files
    [h] = headlines(out)
    assert "bootstrap resamples of the 19 items" in h.ci_over
    assert np.isfinite(h.ci[0]) and h.ci[0] <= h.difference <= h.ci[1]


# -- one count of models everywhere ------------------------------------------------------------------

def test_model_counts_agree_and_say_who_was_left_out(paper_wvs):
    page = html.unescape(_page(paper_wvs))
    total = paper_wvs.item_means()["model"].nunique()
    none_models = set(paper_wvs.item_means().query("persona == 'none'")["model"])
    [sentence] = headline(paper_wvs)
    assert sentence.startswith(f"All {len(none_models)} models") and f"of the {total} models" in sentence
    assert _design_row(page.replace('"', "&quot;"), "Models").startswith(str(total))
    table = coverage.models_table(paper_wvs)
    row = table[table["Analysis"].str.startswith("Headline")].iloc[0]
    assert row["Models"] == f"{len(none_models)} of {total}"
    for model in set(paper_wvs.model_origins()) - none_models:
        assert f"{display_name(model)}: no answers under persona none" in row["Left out"]
    assert "No model or condition was excluded" not in page and not coverage.everything_included(paper_wvs)


# -- mixed modes, run notes, links, warnings -----------------------------------------------------------

def test_mixed_modes_are_flagged_on_every_comparison(mixed):
    page = html.unescape(_page(mixed))
    assert "Mixed answer modes" in page.split("<h2>Study design</h2>", 1)[0]  # under the headline
    for heading in ("<h2>Figures</h2>", "<h2>Tables</h2>"):
        assert "Mixed answer modes" in page.split(heading, 1)[1].split("<h2>", 1)[0]
    assert "mixed: " in html.unescape(_design_row(_page(mixed), "Answer mode"))
    data = validity_data(mixed, "mfq2")
    assert set(data.loc[data["model"] == "gpt-4o", "measure"]) == {"samples"}
    assert set(data.loc[data["model"] == "deepseek-chat", "measure"]) == {"mass"}


# In the layout elicit/run_notes.py writes.
RUN_NOTES = {
    "notes": ["auto chose distribution mode: every model exposes token probabilities",
              "gpt-4o: max_tokens renamed max_completion_tokens after a 400"],
    "models": {"gpt-4o": {"mode": "distribution", "mode_reason": "the endpoint returns top_logprobs",
                          "reasoned": False, "mean_reasoning_tokens": None,
                          "adaptations": ["max_tokens renamed max_completion_tokens after a 400"],
                          "temperature": 0.7, "model_versions": ["gpt-4o-2024-08-06"],
                          "system_fingerprints": ["fp_abc123"], "seed_honoured": True,
                          "sample_check": {"items": 10, "mean_abs_difference": 0.8, "tolerance": 0.5,
                                           "disagree": True}},
               "deepseek-chat": {"mode": "distribution", "mode_reason": "the endpoint returns top_logprobs",
                                 "reasoned": True, "mean_reasoning_tokens": 412.0, "adaptations": [],
                                 "temperature": None, "model_versions": [], "system_fingerprints": [],
                                 "seed_honoured": None, "sample_check": None}}}


def test_run_notes_are_rendered_with_departures_as_warnings(distribution, tmp_path):
    import shutil

    copy = Path(shutil.copytree(distribution.path, tmp_path / "with_notes"))
    (copy / "run_notes.json").write_text(json.dumps(RUN_NOTES), encoding="utf-8")
    out = OutputDir(copy)
    page = html.unescape(render_report(out, []))
    assert "the endpoint returns top_logprobs" in page  # why the mode
    assert "yes, 412 tokens on average" in page
    assert "gpt-4o-2024-08-06" in page and "fp_abc123" in page
    warnings = page.split("Departures from the study design", 1)[1].split("</ul>", 1)[0]
    for note in RUN_NOTES["notes"]:  # every departure once, the model's adaptation not repeated
        assert warnings.count(note.split(": ", 1)[-1]) == 1
    assert "sample check disagrees" in warnings and "differ by 0.8 on average (tolerance 0.5): DISAGREES" in page
    caveats = page[page.index('id="caveats"'):]
    assert "sample check disagrees" in caveats[:caveats.index("</div>")]  # from the check's flag
    [h] = headlines(out)  # the disagreeing check reaches the headline's coverage too
    assert any("sample check of GPT-4o disagrees" in part for part in h.coverage)
    table = run_notes.run_notes_rows(out)
    assert table.set_index("Model").loc[display_name("deepseek-chat"), "Seed honoured"] == "not reported"


def test_without_run_notes_the_report_says_what_is_unknown(paper_wvs):
    assert "has no run_notes.json" in html.unescape(_page(paper_wvs))


def test_links_point_only_to_files_that_exist(tmp_path, paper_wvs):
    import warnings

    from test_report_fixtures import analysed_dir

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = OutputDir(analysed_dir(tmp_path / "paperc", surveys=("mfq2",), models=MODELS, paper_compatible=True))
    for page in (render_report(out, []), _page(paper_wvs)):
        assert "ANALYSIS_NOTES" not in page
        for path in set(re.findall(r"docs/[\w.-]+\.md", page)):
            assert (REPO / path).is_file(), path
    assert "Participant label" in html.unescape(render_report(out, []))  # the paper notes, in the page itself


def test_scrambled_id_warning_names_the_users_own_data():
    from whosevalues.humans.audit import scrambled_ids_warning

    warning = scrambled_ids_warning({"Care": 0.05, "Purity": -0.1}, "foundation", "my_survey.csv")
    assert "my_survey.csv" in warning and "bundled" not in warning and "Participant" not in warning


def test_the_terminal_prints_the_headline_with_its_interval(paper_wvs):
    from rich.console import Console

    from whosevalues.report.terminal import print_summary

    console = Console(record=True, width=400)
    print_summary(paper_wvs.path, console)
    text = console.export_text()
    for sentence in headline(paper_wvs):
        assert sentence in text and "95% CI" in sentence
    assert "Coverage: " in text


def test_a_sample_check_without_items_is_not_called_agreement():
    check = {"items": 0, "samples_per_item": 10, "mean_abs_difference": None, "tolerance": None, "disagree": None}
    assert run_notes.sample_check_text(check) == "no item to check"
    assert not run_notes.sample_check_disagrees(check)


def test_weak_validity_is_said_before_any_number(distribution, paper_wvs):
    """The "Read with care" box opens the report, before the world ranking and the headline, when answers rest
    on little probability; the paper's published answers, with nothing to caution, get no box."""
    page = html.unescape(_page(distribution))
    assert 'id="caveats"' in page
    caveats = page.index('id="caveats"')
    assert caveats < page.index('class="headline"')
    if 'id="whose-values"' in page:
        assert caveats < page.index('id="whose-values"')
    low = validity_data(distribution, "mfq2")
    low = low[low["valid"] < answers.LOW_VALID_MASS]
    box = page[caveats:page.index("</div>", caveats)]
    assert f"In {len(low)} of" in box
    assert 'id="caveats"' not in _page(paper_wvs)
