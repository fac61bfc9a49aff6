"""The report's section on inference beyond the paper's (issue 10): which conclusions hold, model-level
p values, RQ3's joint tests, human baselines, variance shares and the LLMs' reliability.

``inference_data(out)`` returns what the section shows (templates/sections/inference.html.j2), read only from
the analysis directory's files (tables/conclusions.csv, the RQ tables' model-level columns,
baselines_<survey>.csv, reliability_<survey>.csv, summary.json), or None when the directory has none of them;
``inference_section(out)`` renders it on its own.
"""

from __future__ import annotations

import pandas as pd

from whosevalues.analysis.null_respondents import NULL_COLUMNS
from whosevalues.report import render
from whosevalues.report.outdir import OutputDir, display_name, survey_label
from whosevalues.report.tables import fmt_number, fmt_p, term_label

METHOD_COLUMNS = {"p_classical": "classical", "p_twoway": "two-way clustered", "p_wild_model": "wild bootstrap",
                  "p_perm_model": "permutation", "p_cr2_model": "CR2"}
MODEL_LEVEL = {"p_value": "p (classical)", "p_twoway": "p (two-way)", "p_wild_model": "p (wild, models)",
               "p_perm_model": "p (permutation)", "se_cr2_model": "SE (CR2)", "df_satterthwaite": "df",
               "p_cr2_model": "p (CR2)", "p_holm": "p Holm", "p_bh": "p BH", "p_holm_model": "p Holm (wild)",
               "p_bh_model": "p BH (wild)"}
def _p_of(out: OutputDir, column: str):
    """The p formatter for a column: a wild bootstrap p of 0 means below 1 / replicates, not below 2e-16."""
    replicates = (out.summary().get("inference") or {}).get("wild_bootstrap_replicates") or 0
    missing = "n/a" if column == "p_perm_model" else ""  # permutation: not applicable without origin
    if column != "p_wild_model" or not replicates:
        return lambda v: fmt_p(v) if pd.notna(v) else missing
    floor = fmt_p(1 / replicates)
    return lambda v: ("n/a" if pd.isna(v) else f"< {floor}" if v == 0 else fmt_p(v))


def inference_section(out: OutputDir) -> str:
    """The section's HTML, or "" when the directory has none of its files."""
    return render.section("inference", inference_data(out))


def inference_data(out: OutputDir) -> dict | None:
    parts = {"conclusions": _conclusions(out), "model_level": _model_level(out), "joint_tests": _joint_tests(out),
             "baselines": _baselines(out), "variance": _variance(out), "reliability": _reliability(out)}
    return parts if any(parts.values()) else None


def _conclusions(out: OutputDir) -> dict | None:
    records = out.summary().get("conclusions") or []
    if not records:
        return None
    frame = pd.DataFrame(records)
    shown = pd.DataFrame({"Survey": frame["survey"].map(survey_label), "RQ": frame["analysis"].str.upper(),
                          "Term": frame["term"].map(term_label), "The paper's claim": frame["claim"],
                          "β": frame["estimate"].map(fmt_number)})
    # the verdict judges each p after the Holm adjustment within its family (analysis/conclusions.py): show those
    adjusted = all(f"{column}_holm" in frame for column in METHOD_COLUMNS)
    for column, header in METHOD_COLUMNS.items():
        shown[f"p {header}"] = frame[f"{column}_holm" if adjusted else column].map(_p_of(out, column))
    shown["Verdict"] = frame["verdict"]
    if "holds_across_formats" in frame:
        shown["Holds across formats"] = frame["holds_across_formats"].fillna("not tested")
    which = ("after the Holm adjustment within its family (the raw p values are in the file)" if adjusted
             else "(unadjusted: this analysis predates the family adjustment)")
    return {"which": which, "table": render.table(shown)}


def _model_level(out: OutputDir) -> list[dict]:
    """Per survey and RQ whose table has them: the model-level p values of every term, and the fit's warnings."""
    parts = []
    for survey in out.surveys():
        for rq in ("rq1", "rq2", "rq3"):
            table = out.table(rq, survey)
            if table is None or "p_wild_model" not in table:
                continue
            shown = pd.DataFrame({"Predictor": table["term"].map(term_label), "β": table["estimate"].map(fmt_number)})
            for column, header in MODEL_LEVEL.items():
                if column in table and table[column].notna().any():
                    formatter = (lambda v: fmt_number(v, 1)) if column == "df_satterthwaite" else \
                        (fmt_number if column.startswith("se_") else _p_of(out, column))
                    shown[header] = table[column].map(formatter)
            title = f"{survey_label(survey)} {rq.upper()}: model-level p values"
            parts.append({"title": title, "collapsed": rq == "rq3", "table": render.table(shown),
                          "warnings": list(out.analyses(survey).get(rq, {}).get("warnings", []))})
    return parts


def _joint_tests(out: OutputDir) -> dict | None:
    rows = []
    for survey in out.surveys():
        for test in out.analyses(survey).get("rq3", {}).get("joint_tests", []) or []:
            rows.append({"Survey": survey_label(survey), "Family": test["family"], "Terms": test["q"],
                         "F (classical)": fmt_number(test["f_classical"], 2),
                         "df": f"{test['df'][0]}, {test['df'][1]}", "p (classical)": fmt_p(test["p_classical"]),
                         "p (wild bootstrap by model)": _p_of(out, "p_wild_model")(test.get("p_wild_model"))})
    return render.table(pd.DataFrame(rows)) if rows else None


def _baselines(out: OutputDir) -> list[dict]:
    """Per survey: how alike its respondents are, its null respondents, and each model's ceiling-normalised
    similarity."""
    parts = []
    for survey in out.surveys():
        file = out.path / f"baselines_{survey}.csv"
        if not file.is_file():
            continue
        table = pd.read_csv(file, keep_default_na=False, na_values=[""])
        null = table["country"].astype(str).isin(NULL_RESPONDENTS)
        shown = table[~null].drop(columns=[c for c in NULL_COLUMNS if c in table])
        for column in ("pairwise_cosine", "own_mean_cosine_loo", "other_mean_cosine"):
            if column in shown:
                shown[column] = shown[column].map(fmt_number)
        part = {"label": survey_label(survey), "table": render.table(shown),
                "null_respondents": _null_respondents(table[null]), "ceiling": None}
        parts.append(part)
        welch = out.table("welch", survey)
        ceilings = [c for c in (welch.columns if welch is not None else []) if c.startswith("ceiling_")]
        if welch is not None and ceilings:
            models = welch[welch["kind"] == "model"] if "kind" in welch else welch
            ceiling = pd.DataFrame({"Model": models["model"].astype(str).map(display_name)})
            for column in ceilings:
                country = column.removeprefix("ceiling_")
                ceiling[f"similarity to {country}"] = models[f"mean_{country}"].map(fmt_number)
                ceiling[f"/ {country} ceiling"] = models[column].map(lambda v: fmt_number(v, 2))
            part["ceiling"] = render.table(ceiling)
    return parts


NULL_RESPONDENTS = {"random": "answers uniformly at random", "first_option": "always picks the option listed first",
                    "last_option": "always picks the option listed last"}


def _null_respondents(rows: pd.DataFrame) -> dict | None:
    """The null respondents of baselines_<survey>.csv: how similar a respondent with no values comes to each
    population (the random respondent's 95% range is the grey band of the similarity figures)."""
    if rows.empty or "null_mean" not in rows:
        return None
    shown = pd.DataFrame({"Respondent": rows["country"].map(lambda c: f"{c}: {NULL_RESPONDENTS.get(c, '')}")})
    for column, header in (("variant", "Variant"), ("metric", "Metric"), ("level", "Level"),
                           ("versus", "Compared with")):
        if column in rows and rows[column].notna().any():
            shown[header] = rows[column].fillna("")
    shown["Expected z-cosine [95% range]"] = [
        f"{fmt_number(m)} [{fmt_number(lo)}, {fmt_number(hi)}]" if pd.notna(m) else ""
        for m, lo, hi in zip(rows["null_mean"], rows.get("null_low", rows["null_mean"]),
                             rows.get("null_high", rows["null_mean"]))]
    return render.table(shown)


def _variance(out: OutputDir) -> dict | None:
    rows = []
    for survey in out.surveys():
        for rq, info in out.analyses(survey).items():
            shares = info.get("variance_shares")
            if shares:
                rows.append({"Survey": survey_label(survey), "RQ": rq.upper(),
                             "respondent": fmt_number(shares["respondent"], 2), "model": fmt_number(shares["model"], 2),
                             "residual": fmt_number(shares["residual"], 2),
                             "R² fixed effects": fmt_number(shares.get("r_squared_fixed_effects"), 2)})
    return render.table(pd.DataFrame(rows)) if rows else None


def _reliability(out: OutputDir) -> list[dict]:
    """Per survey with reliability_<survey>.csv: how reliability was measured, the temperature caveat, and the
    reliability and similarity of every model x condition."""
    parts = []
    for survey in out.surveys():
        file = out.path / f"reliability_{survey}.csv"
        entry = out.summary().get("surveys", {}).get(survey, {}).get("reliability")
        if not file.is_file() or not entry:
            continue
        table = pd.read_csv(file)
        text = (f"{survey_label(survey)}: {entry.get('how', '')}. Minimum valid samples per item: "
                f"{entry.get('min_valid_samples')}; items it made missing: {entry.get('items_below_min_valid', 0)}.")
        temperature = out.summary().get("surveys", {}).get(survey, {}).get("temperature") or {}
        part = {"label": survey_label(survey), "text": text, "temperature": temperature.get("note"), "table": None}
        parts.append(part)
        if table.empty:
            continue
        shown = pd.DataFrame({
            "Model": table["model"].astype(str).map(display_name), "Language": table["language"],
            "Persona": table["persona"], "Respondents": table["population"],
            "Temperature": table["temperature"].map(lambda v: fmt_number(v, 2)),
            "Split-half": table["split_half"].map(lambda v: fmt_number(v, 2)),
            "Reliability": table["reliability"].map(lambda v: fmt_number(v, 2)),
            "Items < min": table["items_below_min_valid"],
            "Similarity [95% CI]": [f"{fmt_number(s)} [{fmt_number(lo)}, {fmt_number(hi)}]" if pd.notna(s) else ""
                                    for s, lo, hi in zip(table["similarity"], table["ci_low"], table["ci_high"])],
            "CI resamples": table["ci_resamples"]})
        part["table"] = render.table(shown)
    return parts
