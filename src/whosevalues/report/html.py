"""The report's page: one self-contained HTML page (images inline as base64 PNG, CSS inline, no script, no
external URL) that tells the study's story from the files of an analysis output directory (report/write.py
decides when it is written).

``render_report`` lists the sections in page order: each is a function here (or in a section module) that
returns the plain data the section shows, or None, and a template ``templates/sections/<name>.html.j2`` that
lays it out (report/render.py). A new section is one of each and a line in that list.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from whosevalues.report import answers, coverage, render, run_notes
from whosevalues.report.figures import FigureResult
from whosevalues.report.format_section import caveat as format_caveat
from whosevalues.report.format_section import format_data, is_format_figure
from whosevalues.report.headline import coverage_sentence, headline_sentence, headlines
from whosevalues.report.inference_section import inference_data
from whosevalues.report.outdir import OutputDir, display_name, survey_label
from whosevalues.report.tables import fmt_number, formatted_tables, table2
from whosevalues.report.whose_values import is_world_figure, whose_values_data


def render_report(out: OutputDir, figures: list[FigureResult]) -> str:
    """The page's HTML: each section's data, in page order, rendered by its template."""
    paper_figures = [f for f in figures if not is_world_figure(f) and not is_format_figure(f)]
    sections = [
        ("header", _header(out)), ("caveats", _caveats(out)), ("formats", format_data(out, figures)),
        ("whose_values", whose_values_data(out, figures, first=True)),  # first with > 2 countries
        ("headline", _headline(out)), ("design", _design(out)), ("models", _models(out)),
        ("populations", _populations(out)), ("figures", _figures(out, paper_figures)),
        ("whose_values", whose_values_data(out, figures, first=False)), ("tables", _tables(out)),
        ("inference", inference_data(out)), ("exclusions", _exclusions(out)), ("prompts", _prompts(out)),
        ("provenance", _provenance(out)),
    ]
    return render.page(out.path.name, [(name, data) for name, data in sections if data is not None])


def whosevalues_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("whosevalues")
    except PackageNotFoundError:
        return "dev"


# -- sections: what each shows (the markup is templates/sections/<name>.html.j2) ------------------------

def _header(out: OutputDir) -> dict:
    return {"name": out.path.name, "version": whosevalues_version(), "path": str(out.path),
            "written": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def _caveats(out: OutputDir) -> dict | None:
    """Before any number: what makes the numbers below less than they seem (weak or unknown answer validity,
    a distribution its own sampled answers contradict, models measured in different modes). Each point is
    detailed further down; here it is said once, first, so no ranking or headline is read without it."""
    points = [sentence for sentence, warning in answers.validity_sentences(out) if warning]
    points += run_notes.sample_check_warnings(out)  # from the check's own flag, not from the notes' words
    points += [point for point in (answers.mixed_mode_warning(out), format_caveat(out)) if point]
    return {"points": list(dict.fromkeys(points))} if points else None


def headline(out: OutputDir) -> list[str]:
    """One sentence per survey: which population the models are closer to, with its 95% CI (or "no clear
    difference"), computed from the per-model similarities (see report/headline.py)."""
    total = len(out.model_origins())
    return [headline_sentence(h, total) for h in headlines(out)]


def _headline(out: OutputDir) -> dict:
    total = len(out.model_origins())
    return {"headlines": [{"sentence": headline_sentence(h, total), "coverage": coverage_sentence(h)}
                          for h in headlines(out)],
            "mixed_modes": answers.mixed_mode_warning(out)}


def design_gaps(out: OutputDir) -> list[str]:
    """What the design cannot show, and why (one sentence each)."""
    gaps = []
    design = out.design()
    if len(design["model"]) == 1:
        gaps.append(f"One model ({display_name(design['model'][0])}): no comparison between models.")
    if len(design["origin"]) == 1:
        gaps.append(f"All models are made in {design['origin'][0]}: no contrast between LLM origins "
                    f"(the regressions below say which terms this drops).")
    if len(design["language"]) == 1:
        gaps.append(f"One prompt language ({design['language'][0]}): no language contrast; respondents whose "
                    f"own language was not asked are compared with answers in {design['language'][0]}.")
    if [p for p in design["persona"] if p != "none"] == []:
        gaps.append("No national persona: RQ2 and Figure 4 (persona contrast) need answers under at least two "
                    "national personas.")
    if len(out.surveys()) == 1:
        gaps.append(f"One survey ({survey_label(out.surveys()[0])}): Table 2 shows one survey.")
    return gaps


RQ_NAMES = {"rq1": "RQ1", "rq2": "RQ2", "rq3": "RQ3"}


def analysis_notes(out: OutputDir, survey: str) -> list[tuple[str, str, dict[str, list[str]], str]]:
    """Per analysis of a survey, from summary.json: (RQ name, fitted formula or "", {reason: dropped terms},
    note) where the note is why it was skipped or the respondent-language rule."""
    notes = []
    for rq, info in sorted(out.analyses(survey).items()):
        dropped: dict[str, list[str]] = {}
        for term, reason in (info.get("dropped_terms") or {}).items():
            dropped.setdefault(str(reason), []).append(str(term))
        note = f"not fitted: {info['skipped']}" if info.get("skipped") else str(info.get("language_rule") or "")
        notes.append((RQ_NAMES.get(rq, rq), str(info.get("formula") or ""), dropped, note))
    return notes


def compress_terms(terms: list[str]) -> list[str]:
    """Terms with a level in brackets (``origin:removed[Care]``, ...) once per family: ``origin:removed[...] (6)``."""
    families: dict[str, int] = {}
    for term in terms:
        key = re.sub(r"\[[^\]]*\]", "[...]", term)
        families[key] = families.get(key, 0) + 1
    return [f"{key} ({n} terms)" if n > 1 and "[...]" in key else key for key, n in families.items()]


def _fitted_analyses(out: OutputDir) -> list[dict]:
    """Per survey: "not analysed" and why, or per RQ its formula, note and dropped terms (with why)."""
    found: list[dict] = []
    for survey in out.surveys():
        entry = out.summary().get("surveys", {}).get(survey)
        if isinstance(entry, dict) and entry.get("skipped"):
            found.append({"survey": survey_label(survey), "skipped": str(entry["skipped"])})
        for rq, formula, dropped, note in analysis_notes(out, survey):
            found.append({"survey": survey_label(survey), "skipped": None, "rq": rq, "formula": formula,
                          "note": note, "dropped": [{"terms": ", ".join(compress_terms(terms)), "reason": reason}
                                                    for reason, terms in dropped.items()]})
    return found


def _paper_notes(out: OutputDir) -> list[str]:
    """summary.json's account of what paper-compatible mode did differently, per survey."""
    return [f"{survey_label(survey)} {key.upper() if key != 'all' else 'all analyses'}: {note}"
            for survey, entry in sorted(out.summary().get("surveys", {}).items()) if isinstance(entry, dict)
            for key, note in (entry.get("paper_notes") or {}).items()]


def _design(out: OutputDir) -> dict:
    design = out.design()
    rows = [("Surveys", ", ".join(survey_label(s) for s in out.surveys())),
            ("Models", f"{len(design['model'])} (which analyses hold which: see \"Models in each analysis\")"),
            ("LLM origins", ", ".join(design["origin"])),
            ("Prompt languages", ", ".join(design["language"])), ("Personas", ", ".join(design["persona"]))]
    if out.item_means() is not None:
        rows.append(("Samples per item and condition", answers.samples_per_item(out)))
    rows.append(("Answer mode", answers.mode_summary(out)))
    if out.summary().get("paper_compatible"):
        rows.append(("Paper-compatible mode", "yes: reproduces what the paper's scripts did, listed below "
                                              "(docs/statistics.md of whosevalues, section Paper-compatible mode)"))
    return {"rows": rows, "gaps": design_gaps(out), "analyses": _fitted_analyses(out),
            "paper_notes": _paper_notes(out)}


def _models(out: OutputDir) -> dict | None:
    from whosevalues.models.catalog import load_catalog

    catalog = load_catalog()
    modes = answers.model_modes(out)
    models = sorted(out.model_origins().items(), key=lambda kv: (kv[1], display_name(kv[0])))
    if not models:
        return None
    reasons = {model: answers.mode_reason(out, model) for model, _ in models}
    shared = next(iter(reasons.values())) if len(set(reasons.values())) == 1 else None
    rows = []
    for model, origin in models:
        spec = catalog.get(model)
        row = {"Model": display_name(model), "id": model, "Origin": origin,
               "Company": spec.company if spec and spec.company else "",
               "Answer mode": modes.get(model, answers.NOT_RECORDED)}
        if shared is None:
            row["Why this mode"] = reasons[model]
        rows.append(row)
    return {"table": render.table(pd.DataFrame(rows)), "shared_reason": shared or None, "run_notes": _run_notes(out)}


def _run_notes(out: OutputDir) -> dict | None:
    """run_notes.json: what the run recorded per model; its departures from the design as warnings."""
    if not out.run_notes():
        return None
    recorded = run_notes.run_notes_rows(out)
    return {"table": render.table(recorded) if recorded is not None else None,
            "departures": run_notes.run_notes_warnings(out)}


def _populations(out: OutputDir) -> dict:
    by_survey: dict[str, list[dict]] = {}
    for record in out.populations():
        by_survey.setdefault(str(record["survey"]), []).append(record)
    return {"surveys": [_survey_populations(survey, group) for survey, group in by_survey.items()]}


def _survey_populations(survey: str, group: list[dict]) -> dict:
    respondents = [r for r in group if _respondent_level(r)]
    aggregates = [r for r in group if not _respondent_level(r)]
    return {"label": survey_label(survey),
            "table": render.table(population_table(respondents)) if respondents else None,
            "alpha": _alpha(respondents), "item_stats": _item_stats(respondents),
            "aggregates": aggregate_line(aggregates) if aggregates else None,
            "warnings": population_warnings(group)}


def _respondent_level(record: dict) -> bool:
    if "respondent_level" in record:
        return bool(record["respondent_level"])
    return (record.get("audit") or {}).get("kind", "respondents") == "respondents"


def population_table(records: list[dict]) -> pd.DataFrame:
    """One row per country: n, source, loading steps (one a line), straight-liners and what the analysis kept."""
    rows = []
    for record in records:
        audit = record.get("audit") or {}
        rows.append({
            "Country": str(record["country"]), "n": str(record.get("n", "")), "Source": str(record.get("source", "")),
            "Loading steps": "\n".join(_step_text(step) for step in record.get("steps") or []),
            "Straight-liners": str(audit.get("straight_liners", "")),
            "Analysis kept": _kept_text(record.get("analysis") or {}),
        })
    return pd.DataFrame(rows)


def _step_text(step) -> str:
    if isinstance(step, dict):
        return f"{step.get('step', '')}: {step.get('count', '')}"
    if isinstance(step, (list, tuple)) and len(step) == 2:
        return f"{step[0]}: {step[1]}"
    return str(step)


def _kept_text(analysis: dict) -> str:
    if analysis.get("skipped"):
        return f"not analysed per respondent: {analysis['skipped']}"
    if "n_respondents" not in analysis:
        return ""
    text = f"{analysis['n_respondents']} respondents"
    dropped = [f"{analysis[key]} {what}" for key, what in (("dropped_straightliners", "straight-lining"),
                                                            ("dropped_incomplete", "incomplete"))
               if analysis.get(key)]
    if dropped:
        text += f"; dropped {', '.join(dropped)}"
    if analysis.get("grouping"):
        text += f"; grouping: {analysis['grouping']}"
    return text


def aggregate_line(records: list[dict]) -> str:
    """One sentence for the aggregate-only populations of a survey."""
    who = ", ".join(f"{r['country']} (n = {r.get('n', '?')})" for r in records)
    sources = "; ".join(dict.fromkeys(str(r.get("source") or "source not recorded") for r in records))
    return (f"{who}: aggregates only ({sources}); no individual respondents, so no reliability audit and no "
            f"per-respondent analyses.")


def population_warnings(records: list[dict]) -> list[str]:
    """Every warning of the populations and their audits, once each, prefixed with the country."""
    found: list[str] = []
    for record in records:
        for warning in list(record.get("warnings") or []) + list((record.get("audit") or {}).get("warnings") or []):
            text = f"{record['country']}: {warning}"
            if text not in found:
                found.append(text)
    return found


def alpha_table(records: list[dict]) -> pd.DataFrame | None:
    """Cronbach's alpha, rows countries, columns dimensions (one "all items" column for single-scale surveys)."""
    alphas = {str(r["country"]): (r.get("audit") or {}).get("alpha") for r in records}
    alphas = {country: a for country, a in alphas.items() if isinstance(a, dict) and a}
    if not alphas:
        return None
    table = pd.DataFrame(alphas).T.apply(lambda column: column.map(lambda v: "" if pd.isna(v) else fmt_number(v, 2)))
    return table.rename_axis("Country").reset_index()


def _alpha(records: list[dict]) -> dict | None:
    alphas = alpha_table(records)
    if alphas is None:
        return None
    scope = next(((r.get("audit") or {}).get("alpha_scope") for r in records
                  if (r.get("audit") or {}).get("alpha_scope")), "dimension")
    return {"scope": scope, "table": render.table(alphas)}


def _item_stats(records: list[dict]) -> dict | None:
    columns = {}
    for record in records:
        audit = record.get("audit") or {}
        for key, label in (("item_means", "mean"), ("item_sds", "SD")):
            if isinstance(audit.get(key), dict):
                columns[f"{record['country']} {label}"] = pd.Series(audit[key], dtype=float)
    if not columns:
        return None
    stats = pd.DataFrame(columns)
    stats.index.name = "Item"
    shown = stats.apply(lambda column: column.map(lambda v: "" if pd.isna(v) else f"{v:.2f}"))
    return {"count": len(stats), "table": render.table(shown, index=True)}


def _figures(out: OutputDir, figures: list[FigureResult]) -> dict:
    return {"mixed_modes": answers.mixed_mode_warning(out),
            "surveys": [{"label": survey_label(survey),
                         "figures": [render.figure(f) for f in figures if f.name.endswith(f"_{survey}")]}
                        for survey in out.surveys()]}


def _tables(out: OutputDir) -> dict:
    paper_table = table2(out)
    if paper_table is not None:
        paper_table = paper_table.copy()
        paper_table.columns = [f"{a} {b}" for a, b in paper_table.columns]
    fitted = []
    for stem, title, shown in formatted_tables(out):
        kind, _, survey = stem.partition("_")
        fitted.append({"stem": stem, "title": title, "table": render.table(shown),
                       "formula": out.analyses(survey).get(kind, {}).get("formula")})
    return {"mixed_modes": answers.mixed_mode_warning(out),
            "table2": render.table(paper_table, index=True) if paper_table is not None else None, "fitted": fitted}


def _exclusions(out: OutputDir) -> dict:
    exclusions = out.exclusions()
    if exclusions is not None and len(exclusions):
        exclusions = exclusions.copy()
        if "model" in exclusions:
            exclusions["model"] = exclusions["model"].astype(str).map(display_name)
    else:
        exclusions = None
    validity = answers.validity_table(out)
    return {"models": render.table(coverage.models_table(out)),
            "exclusions": render.table(exclusions) if exclusions is not None else None,
            "everything_included": exclusions is None and coverage.everything_included(out),
            "validity": [{"sentence": sentence, "warning": warning}
                         for sentence, warning in answers.validity_sentences(out)],
            "incomplete": render.table(validity) if validity is not None and len(validity) else None}


def _prompts(out: OutputDir) -> dict:
    means = out.item_means()
    if means is None:
        return {"surveys": None}
    return {"surveys": [_survey_prompts(str(survey), group) for survey, group in means.groupby("survey", sort=False)]}


def _survey_prompts(survey: str, group: pd.DataFrame) -> dict:
    """The system message of each persona and the user message of each item, per prompt language."""
    from whosevalues.instruments import load_instrument

    try:
        instrument = load_instrument(survey)
    except (ValueError, KeyError) as exc:
        return {"error": f"{survey}: survey file not found ({exc})."}
    items = [i for i in instrument.item_ids if i in set(group["item"])]
    languages = []
    for language in sorted(group["language"].unique()):
        personas = sorted(group.loc[group["language"] == language, "persona"].unique(), key=lambda p: p != "none")
        try:
            languages.append({
                "error": None, "label": survey_label(survey), "language": language,
                "systems": [(p, instrument.render(items[0], language, p).system) for p in personas],
                "users": [(i, instrument.render(i, language, "none").user) for i in items]})
        except KeyError as exc:
            languages.append({"error": f"{survey} / {language}: {exc}"})
    return {"error": None, "name": instrument.name, "languages": languages}


def provenance_files() -> list[Path]:
    import whosevalues

    return sorted(Path(whosevalues.__file__).parent.rglob("PROVENANCE.md"))


def _provenance(out: OutputDir) -> dict:
    from whosevalues.instruments import load_instrument

    instruments = []
    for survey in out.surveys():
        try:
            instrument = load_instrument(survey)
        except (ValueError, KeyError):
            continue
        instruments.append({"name": instrument.name, "citation": instrument.citation,
                            "licence": instrument.licence or "not stated"})
    return {"instruments": instruments,
            "sources": sorted({str(r.get("source")) for r in out.populations() if r.get("source")}),
            "files": [{"title": f"{file.parent.name}/PROVENANCE.md", "text": file.read_text(encoding="utf-8")}
                      for file in provenance_files()],
            "version": whosevalues_version()}
