"""The report of a study asked in several question formats (issue 18 items 4, 6 and 7): it opens with "Does the
format change the answer?", draws the random respondent's band on every similarity figure and error bars over
models, and never calls a distribution trustworthy that its own sample check contradicts (issue 17).

The directory is the real analysis of six of the paper's models plus the format analysis's files written to
DESIGN.md's contract (tests/formats_fixtures.py); every asserted number is recomputed here from those files."""

from __future__ import annotations

import html
import json
import re
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from formats_fixtures import EMBEDDED, RANDOM_RANGE, SHIFTED, UNSTABLE, VARIANTS, VECTOR_BANDS, variants_dir
from test_report_fixtures import needs_shared
from whosevalues.report import figures as F
from whosevalues.report.figures.formats import formats_data
from whosevalues.report.figures.similarity import _reference_cosine, llm_reference_ci, random_band
from whosevalues.report.format_section import format_section
from whosevalues.report.formats import flagged_models, read_robustness, variants_asked
from whosevalues.report.outdir import OutputDir
from whosevalues.report.write import write_report

pytestmark = needs_shared


@pytest.fixture(scope="module")
def variants(tmp_path_factory) -> OutputDir:
    out = variants_dir(tmp_path_factory.mktemp("variants"))
    write_report(out)
    return OutputDir(out)


def _page(out: OutputDir) -> str:
    return (out.path / "report.html").read_text(encoding="utf-8")


def _text(page: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


# -- the opening section ---------------------------------------------------------------------------

def test_the_report_opens_with_the_format_question(variants):
    page = _page(variants)
    opening = page.index("Does the format change the answer?")
    assert page.index("Read with care") < opening  # after the caveats box, before anything else
    for later in ("class=\"headline\">", "<h2>Study design</h2>", "<h2>Figures</h2>"):
        assert opening < page.index(later)
    assert page.count("<h2 id=\"formats\">") == 1


def test_flagged_models_are_named_with_their_reason(variants):
    table = read_robustness(variants, "mfq2")
    expected = sorted({m for m, _ in SHIFTED | UNSTABLE})
    assert flagged_models(variants, "mfq2") == expected
    assert sorted(table.loc[table["format_sensitive"], "model"].unique()) == expected  # the CSV says the same
    section = _text(format_section(variants, F.read_figure_index(variants.path)))
    assert f"{len(expected)} of {table['model'].nunique()} models are format-sensitive" in section
    largest = table.loc[table["model"] == "glm-4-plus", "shift_in_country_sd"].max()
    assert f"up to {largest:.2f} country SDs" in section
    assert "reordered its ranking of countries" in section  # GPT-4o: unstable ranking, small shift


def test_the_embedded_model_is_said_plainly_to_be_format_sensitive(variants):
    text = _text(_page(variants))
    assert "The embedded model (SmolLM2-135M-Instruct) is format-sensitive on MFQ-2" in text
    assert "This is a true finding about the model" in text
    box = _text(_page(variants).split("id=\"caveats\"")[1].split("</div>")[0])
    assert "Format-sensitive models" in box and "SmolLM2-135M-Instruct" in box


def test_which_conclusions_hold_across_formats_is_counted_from_the_file(variants):
    records = pd.DataFrame(variants.summary()["conclusions"])
    counts = records["holds_across_formats"].value_counts()
    text = _text(_page(variants))
    assert (f"Of {len(records)} conclusions, {counts['yes']} hold in every format, {counts['no']} do not, and "
            f"{counts['not tested']} were not tested across formats.") in text
    assert "Holds across formats" in text


def test_formats_figure_plots_each_variant_against_the_country_spread(variants):
    data = formats_data(variants, "mfq2")
    table = read_robustness(variants, "mfq2")
    expected = table.groupby(["model", "variant"])["shift_in_country_sd"].agg(["mean", "min", "max"])
    got = data.set_index(["model", "variant"])
    assert np.allclose(got["shift_sd"], expected.loc[got.index, "mean"])
    assert np.allclose(got["shift_sd_max"], expected.loc[got.index, "max"])
    assert data.loc[data["order"] == 0, "model"].iloc[0] == EMBEDDED  # most moved first (1.8 SDs)
    assert set(data.loc[data["model_flagged"], "model"]) == {m for m, _ in SHIFTED | UNSTABLE}
    index = {f.name: f for f in F.read_figure_index(variants.path)}
    assert index["formats_mfq2"].skipped_reason is None
    assert "threshold" in index["formats_mfq2"].caption
    assert sorted(pd.read_csv(variants.path / "figures" / "formats_mfq2.csv")["variant"].unique()) == sorted(VARIANTS)


def test_variants_are_listed_original_first(variants):
    assert variants_asked(variants, "mfq2") == ["original", *VARIANTS]


def test_no_format_section_without_variants(two_model_mfq2_report):
    out = two_model_mfq2_report  # two of the paper's models, original format only (conftest.py)
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "Does the format change the answer?" not in page
    index = {f.name: f for f in F.read_figure_index(out)}
    assert "--variants" in index["formats_mfq2"].skipped_reason


# -- the paper's figures: original format only, error bars over models, the random band ---------------

def test_figures_compare_the_original_format_only(variants):
    """The variants' rows of item_means.csv are the original's + .5: a figure that mixed them would move."""
    means = variants.survey_means("mfq2")
    assert set(means["variant"]) == {"original"}
    from whosevalues.report.figures.world import ranking_data

    ranking = ranking_data(variants, "mfq2")
    countries = pd.read_csv(variants.path / "countries_mfq2.csv")
    original = countries[(countries["variant"] == "original") & (countries["persona"] == "none")]
    same_level = original[original["level"] == ranking["level"].iloc[0]]
    expected = same_level.groupby(["model", "country"])["similarity"].mean()
    assert np.allclose(ranking.set_index(["model", "country"])["similarity"], expected.loc[
        ranking.set_index(["model", "country"]).index])


def test_fig1_error_bars_are_over_models(variants):
    sim = variants.similarity("mfq2", "rq1")
    per_model = sim.groupby(["model", "origin", "nationality"])["cosine"].mean().reset_index()
    data = F.fig1_data(variants, "mfq2").set_index(["population", "origin"])
    for (origin, population), group in per_model.groupby(["origin", "nationality"]):
        values = group["cosine"].to_numpy()
        half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
        row = data.loc[(population, origin)]
        assert row["n"] == len(values) == 3  # three models per origin, not respondents x models
        assert row["mean"] == pytest.approx(values.mean())
        assert row["ci_high"] - row["ci_low"] == pytest.approx(2 * half)
    caption = {f.name: f for f in F.read_figure_index(variants.path)}["fig1_mfq2"].caption
    assert "interval is over models" in caption and "not over respondent x model pairs" in caption


def test_fig4_error_bars_are_over_models(variants):
    sim = variants.similarity("mfq2", "rq2")
    data = F.fig4_data(variants, "mfq2")
    models_per_origin = sim.groupby("origin")["model"].nunique()
    assert (data["n"] == data["origin"].map(models_per_origin)).all()
    caption = {f.name: f for f in F.read_figure_index(variants.path)}["fig4_mfq2"].caption
    assert "intervals over models" in caption


def test_fig3b_llm_references_have_intervals_over_models(variants):
    reference = F.fig3_reference_data(variants, "mfq2")
    llm = reference[reference["reference"].str.startswith("LLM")]
    assert llm["ci_unit"].str.startswith("models (jackknife").all() and (llm["n"] == 3).all()
    assert np.allclose(llm["ci_high"] - llm["mean"], llm["mean"] - llm["ci_low"])  # t interval around the bar
    for row in llm.itertuples():  # the interval rebuilt here equals the analysis's (model_means_<survey>.csv)
        rebuilt = llm_reference_ci(variants, "mfq2", row.population, row.reference.split()[-1], row.mean)
        assert rebuilt is not None and rebuilt[0] == pytest.approx(row.ci_low) and rebuilt[2] == 3
    humans = reference[reference["reference"].str.startswith("Human")]
    assert (humans["ci_unit"] == "respondents").all()
    # a bar the rebuild cannot reproduce gets no interval rather than a wrong one
    bar = llm.iloc[0]
    population, reference = bar["population"], bar["reference"].split()[-1]
    assert llm_reference_ci(variants, "mfq2", population, reference, bar["mean"] + .01) is None


def test_reference_cosine_decomposition_by_hand():
    """Mean over respondents of cos(r_i, mean of the models' ratings) from per-model quantities only."""
    rng = np.random.default_rng(3)
    models, respondents = rng.normal(size=(4, 6)) + 3, rng.normal(size=(50, 6))
    z = lambda v: (v - v.mean(axis=-1, keepdims=True)) / v.std(axis=-1, ddof=1, keepdims=True)  # noqa: E731
    unit = lambda v: v / np.linalg.norm(v, axis=-1, keepdims=True)  # noqa: E731
    direct = float(np.mean(unit(z(respondents)) @ unit(z(models.mean(axis=0)))))
    centred = models - models.mean(axis=1, keepdims=True)
    weights = np.linalg.norm(centred, axis=1)
    per_model = (unit(z(respondents)) @ unit(z(models)).T).mean(axis=0)
    assert _reference_cosine(weights, centred / weights[:, None], per_model) == pytest.approx(direct)


def test_every_similarity_figure_draws_the_random_band(variants):
    low, high = RANDOM_RANGE
    band = random_band(variants, "mfq2")
    assert sorted(band["population"]) == ["CHN", "USA"]
    assert (band["null_low"] == low).all() and (band["null_high"] == high).all()
    index = {f.name: f for f in F.read_figure_index(variants.path)}
    similarity = VECTOR_BANDS["similarity"]
    for name, (low, high) in (("fig1_mfq2", RANDOM_RANGE), ("fig3_mfq2", RANDOM_RANGE), ("fig4_mfq2", RANDOM_RANGE),
                              ("countries_mfq2", (similarity[0] - similarity[1], similarity[0] + similarity[1]))):
        plotted = pd.read_csv(variants.path / "figures" / f"{name}.csv")
        assert {"null_low", "null_high"} <= set(plotted.columns), name
        assert plotted["null_low"].notna().any(), name
        assert plotted["null_low"].dropna().eq(low).all() and plotted["null_high"].dropna().eq(high).all(), name
        assert "Grey band" in index[name].caption, name


def test_null_respondents_are_listed_apart_from_the_human_baselines(variants):
    page = _page(variants)
    assert "Null respondents (" in page and "always picks the option listed last" in page
    human = page.split("<h3>Human baselines</h3>")[1].split("<details>")[0]
    assert "random" not in human and "first_option" not in human


def test_distributional_alignment_is_shown(variants):
    countries = pd.read_csv(variants.path / "countries_mfq2.csv")
    original = countries[(countries["variant"] == "original") & (countries["persona"] == "none")]
    expected = original[(original["model"] == "gpt-4o") & (original["country"] == "USA")]["js_similarity"].mean()
    text = _text(_page(variants))
    assert "1 - JS distance" in text and "Representativeness" in text
    from whosevalues.report.whose_values import distribution_data

    data = distribution_data(countries).set_index(["model", "country"])
    assert data.loc[("gpt-4o", "USA"), "js_similarity"] == pytest.approx(expected)


def test_validity_is_listed_per_variant(variants):
    from whosevalues.report.answers import validity_data

    data = validity_data(variants)
    assert set(data["variant"]) == {"original", *VARIANTS}


# -- issue 17: one message ------------------------------------------------------------------------

def test_a_contradicted_distribution_is_never_called_trustworthy(variants, tmp_path):
    out = shutil.copytree(variants.path, tmp_path / "checked")
    check = {"items": 10, "samples_per_item": 20, "mean_abs_difference": 1.69, "max_abs_difference": 2.4,
             "tolerance": 0.66, "disagree": True, "per_item": []}
    reason = "distribution: every model in the study has trustworthy next-token probabilities (in-process model)"
    notes = {"notes": [], "models": {m: {"mode": "distribution", "mode_reason": reason,
                                         "sample_check": check if m == EMBEDDED else None}
                                     for m in OutputDir(out).model_origins()}}
    (out / "run_notes.json").write_text(json.dumps(notes), encoding="utf-8")
    write_report(out)
    page = (out / "report.html").read_text(encoding="utf-8")
    rows = [_text(row) for row in re.findall(r"<tr>.*?</tr>", page, flags=re.S)]
    embedded = [row for row in rows if "SmolLM2-135M-Instruct" in row and "distribution" in row]
    assert len(embedded) == 2  # the models table and the run notes' table
    for row in embedded:
        assert "has trustworthy" not in row and "not trustworthy here" in row, row
    others = [row for row in rows if "GPT-4o" in row and "distribution" in row]
    assert others and all("has trustworthy next-token probabilities" in row for row in others)  # their checks agree
    assert "DISAGREES" in _text(page)


def test_qualified_mode_reason():
    from whosevalues.elicit.run_notes import qualified_mode_reason

    reason = "distribution: every model in the study has trustworthy next-token probabilities"
    agrees = {"disagree": False, "mean_abs_difference": 0.1, "tolerance": 0.66}
    disagrees = {"disagree": True, "mean_abs_difference": 1.69, "tolerance": 0.66}
    assert qualified_mode_reason(reason, agrees) == reason
    qualified = qualified_mode_reason(reason, disagrees)
    assert "has trustworthy" not in qualified and "not trustworthy here" in qualified and "1.69" in qualified
    assert qualified_mode_reason(qualified, disagrees) == qualified  # once


def test_terminal_shows_the_valid_mass_not_valid_1():
    from whosevalues.report.terminal import condition_rows

    summary = pd.DataFrame({
        "model": ["smollm2-135m", "gpt-4o"], "origin": ["USA", "USA"], "survey": ["mfq2", "mfq2"],
        "language": ["en", "en"], "persona": ["none", "none"], "n_items": [36, 36], "valid_rate": [1.0, 0.95],
        "refusal_rate": [0.0, 0.0], "valid_mass": [0.07, np.nan], "mean": [3.1, 3.4]})
    rows = condition_rows(summary)
    assert rows["valid"].tolist() == ["mass 0.07 (weak)", "0.95"]
    assert list(rows.columns) == ["model", "lang", "persona", "valid", "mean"]


# -- rebuilt only when the inputs change -------------------------------------------------------------

def test_a_changed_robustness_file_rebuilds_the_report(variants, tmp_path):
    out = shutil.copytree(variants.path, tmp_path / "rerun", copy_function=shutil.copy2)
    write_report(out)  # current: nothing redone
    stamp = (out / "report.html").stat().st_mtime_ns
    figure = (out / "figures" / "formats_mfq2.png").stat().st_mtime_ns
    write_report(out)
    assert (out / "report.html").stat().st_mtime_ns == stamp
    table = pd.read_csv(out / "robustness_mfq2.csv")
    table.loc[table["model"] == "gpt-4.1", ["shift_in_country_sd", "format_sensitive"]] = [2.5, True]
    table.to_csv(out / "robustness_mfq2.csv", index=False)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    summary["surveys"]["mfq2"]["formats"]["format_sensitive_models"].append("gpt-4.1")
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    write_report(out)
    assert (out / "report.html").stat().st_mtime_ns != stamp
    assert (out / "figures" / "formats_mfq2.png").stat().st_mtime_ns != figure
    assert "4 of 6 models are format-sensitive" in _text((out / "report.html").read_text(encoding="utf-8"))



def test_the_terminal_run_notes_say_the_same():
    from rich.console import Console

    from whosevalues.elicit.run_notes import print_model_notes

    check = {"items": 10, "mean_abs_difference": 1.69, "tolerance": 0.66, "disagree": True}
    note = {"mode": "distribution", "reasoned": False, "mean_reasoning_tokens": None, "model_versions": [],
            "system_fingerprints": [], "seed_honoured": None, "adaptations": [], "sample_check": check,
            "mode_reason": "distribution: every model in the study has trustworthy next-token probabilities"}
    console = Console(record=True, width=400)
    print_model_notes({"models": {EMBEDDED: note}}, console)
    printed = " ".join(console.export_text().split())  # rich wraps long lines
    assert "has trustworthy" not in printed
    assert "not trustworthy here" in printed and "DISAGREES: the distributions are not trustworthy" in printed


def test_validity_figure_says_it_averages_the_formats(variants):
    caption = {f.name: f for f in F.read_figure_index(variants.path)}["validity_mfq2"].caption
    assert f"mean over the {1 + len(VARIANTS)} question formats asked" in caption


def test_the_terminal_names_the_format_sensitive_models(variants):
    from rich.console import Console

    from whosevalues.report.terminal import print_summary

    console = Console(record=True, width=300)
    print_summary(variants.path, console)
    printed = " ".join(console.export_text().split())
    assert "Format-sensitive models (MFQ-2: GLM-4-Plus, GPT-4o, SmolLM2-135M-Instruct)" in printed
