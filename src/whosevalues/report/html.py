"""``write_report(out_dir)``: one self-contained HTML page (images inline as base64 PNG, CSS inline, no
script, no external URL) that tells the study's story from the files of an analysis output directory.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from whosevalues.outfiles import atomic_write
from whosevalues.report import answers, coverage, reuse, run_notes
from whosevalues.report.figures import FigureResult, write_figures
from whosevalues.report.format_section import caveat as format_caveat
from whosevalues.report.headline import coverage_sentence, headline_sentence, headlines
from whosevalues.report.inference_section import inference_section
from whosevalues.report.outdir import OutputDir, display_name, survey_label
from whosevalues.report.tables import fmt_number, formatted_tables, table2, write_tables

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 62rem; margin: 2rem auto;
       padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ccc; padding-bottom: .2rem;
margin-top: 2.2rem; } h3 { margin-top: 1.5rem; }
.headline { font-size: 1.15rem; background: #eef5fb; border-left: 4px solid #0072B2; padding: .7rem 1rem; }
.meta { color: #555; font-size: .9rem; }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .85rem; }
th, td { border-bottom: 1px solid #ddd; padding: .25rem .6rem; text-align: left; vertical-align: top; }
th { background: #f4f4f4; }
figure { margin: 1.2rem 0 2rem; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9rem; color: #333; margin-top: .3rem; }
.skipped { color: #8a4b00; } .warning { color: #8a1c00; background: #fff4ec; padding: .4rem .4rem .4rem 1.6rem; }
pre { white-space: pre-wrap; background: #f7f7f7; padding: .6rem; font-size: .8rem; }
details { margin: .4rem 0; } summary { cursor: pointer; font-weight: 600; }
"""


def write_report(out_dir: Path | str) -> Path:
    """Draw the figures, write the tables, and write out_dir/report.html; returns its path. Nothing is
    redone when the directory's analysis files and the report's code are those of the last report (see
    report/reuse.py)."""
    out = OutputDir(out_dir)
    path = out.path / "report.html"
    fingerprint = reuse.directory_fingerprint(out.path, out.surveys())
    if reuse.report_is_current(out.path, fingerprint):
        return path
    figures = write_figures(out)
    write_tables(out)
    page = render_report(out, figures)
    atomic_write(path, page)  # never leave a half-written report behind
    reuse.record(out.path, fingerprint)
    return path


def render_report(out: OutputDir, figures: list[FigureResult]) -> str:
    from whosevalues.report.format_section import format_section, is_format_figure
    from whosevalues.report.whose_values import is_world_figure, whose_values_section  # first with > 2 countries

    paper_figures = [f for f in figures if not is_world_figure(f) and not is_format_figure(f)]
    sections = [
        _header(out), _caveats_section(out), format_section(out, figures),
        whose_values_section(out, figures, first=True), _headline_section(out), _design_section(out),
        _models_section(out), _populations_section(out), _figures_section(out, paper_figures),
        whose_values_section(out, figures, first=False), _tables_section(out), inference_section(out),
        _exclusions_section(out), _prompts_section(out), _provenance_section(out),
    ]
    body = "\n".join(s for s in sections if s)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>whosevalues report: {_e(out.path.name)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _table_html(frame: pd.DataFrame, index: bool = False, escape: bool = True) -> str:
    """escape=False only for cells the caller already escaped (and joined with <br>)."""
    return frame.to_html(index=index, escape=escape, border=0, na_rep="")


def whosevalues_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("whosevalues")
    except PackageNotFoundError:
        return "dev"


# -- sections ------------------------------------------------------------------------------------

def _header(out: OutputDir) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<h1>Whose values? Report for <code>{_e(out.path.name)}</code></h1>"
            f"<p class=\"meta\">whosevalues {_e(whosevalues_version())} · written {stamp} · "
            f"from the files in <code>{_e(out.path)}</code> (see docs/output.md). The page is self-contained: "
            f"it needs no network.</p>")


def _caveats_section(out: OutputDir) -> str:
    """Before any number: what makes the numbers below less than they seem (weak or unknown answer validity,
    a distribution its own sampled answers contradict, models measured in different modes). Each point is
    detailed further down; here it is said once, first, so no ranking or headline is read without it."""
    points = [sentence for sentence, warning in answers.validity_sentences(out) if warning]
    points += run_notes.sample_check_warnings(out)  # from the check's own flag, not from the notes' words
    mixed = answers.mixed_mode_warning(out)
    if mixed:
        points.append(mixed)
    formats = format_caveat(out)
    if formats:
        points.append(formats)
    if not points:
        return ""
    items = "".join(f"<li>{_e(point)}</li>" for point in dict.fromkeys(points))
    return f"<div class=\"warning\" id=\"caveats\"><strong>Read with care.</strong><ul>{items}</ul></div>"


def headline(out: OutputDir) -> list[str]:
    """One sentence per survey: which population the models are closer to, with its 95% CI (or "no clear
    difference"), computed from the per-model similarities (see report/headline.py)."""
    total = len(out.model_origins())
    return [headline_sentence(h, total) for h in headlines(out)]


def _headline_section(out: OutputDir) -> str:
    found = headlines(out)
    if not found:
        return ("<p class=\"headline\">No similarity between LLM and human answers could be computed from this "
                "directory (see what was left out below).</p>")
    total = len(out.model_origins())
    parts = [f"<p class=\"headline\">{_e(headline_sentence(h, total))}<br><span class=\"meta\">"
             f"{_e(coverage_sentence(h))}</span></p>" for h in found]
    parts.append(_mixed_mode_html(out))
    return "".join(parts)


def _mixed_mode_html(out: OutputDir) -> str:
    """Above every set of comparisons across models, when they answered in different modes."""
    mixed = answers.mixed_mode_warning(out)
    return f"<p class=\"warning\"><b>Mixed answer modes</b>: {_e(mixed)}</p>" if mixed else ""


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
    import re

    families: dict[str, int] = {}
    for term in terms:
        key = re.sub(r"\[[^\]]*\]", "[...]", term)
        families[key] = families.get(key, 0) + 1
    return [f"{key} ({n} terms)" if n > 1 and "[...]" in key else key for key, n in families.items()]


def _analysis_notes_html(out: OutputDir) -> str:
    items = []
    for survey in out.surveys():
        entry = out.summary().get("surveys", {}).get(survey)
        if isinstance(entry, dict) and entry.get("skipped"):
            items.append(f"<li>{_e(survey_label(survey))}: not analysed: {_e(entry['skipped'])}</li>")
        for rq, formula, dropped, note in analysis_notes(out, survey):
            text = f"{_e(survey_label(survey))} {_e(rq)}: "
            if formula:
                text += f"fitted <code>{_e(formula)}</code>"
                text += "; every term of the full design identified." if not dropped else "."
            text += f" {_e(note)}" if note else ""
            if dropped:
                text += "<ul>" + "".join(f"<li>dropped {_e(', '.join(compress_terms(terms)))}: {_e(reason)}</li>"
                                         for reason, terms in dropped.items()) + "</ul>"
            items.append(f"<li>{text}</li>")
    return "<ul>" + "".join(items) + "</ul>" if items else ""


def _paper_notes_html(out: OutputDir) -> str:
    """summary.json's account of what paper-compatible mode did differently, per survey."""
    items = [f"<li>{_e(survey_label(survey))} {_e(key.upper() if key != 'all' else 'all analyses')}: {_e(note)}</li>"
             for survey, entry in sorted(out.summary().get("surveys", {}).items()) if isinstance(entry, dict)
             for key, note in (entry.get("paper_notes") or {}).items()]
    if not items:
        return ""
    return f"<p>What paper-compatible mode did as the paper's scripts did:</p><ul>{''.join(items)}</ul>"


def _design_section(out: OutputDir) -> str:
    design = out.design()
    means = out.item_means()
    rows = [("Surveys", ", ".join(survey_label(s) for s in out.surveys())),
            ("Models", f"{len(design['model'])} (which analyses hold which: see \"Models in each analysis\")"),
            ("LLM origins", ", ".join(design["origin"])),
            ("Prompt languages", ", ".join(design["language"])), ("Personas", ", ".join(design["persona"]))]
    if means is not None:
        rows.append(("Samples per item and condition", answers.samples_per_item(out)))
    rows.append(("Answer mode", answers.mode_summary(out)))
    if out.summary().get("paper_compatible"):
        rows.append(("Paper-compatible mode", "yes: reproduces what the paper's scripts did, listed below "
                                              "(docs/statistics.md of whosevalues, section Paper-compatible mode)"))
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    gaps = design_gaps(out)
    fitted = _analysis_notes_html(out) + _paper_notes_html(out)
    gap_html = ("<h3>What this design leaves out</h3>" + ("<ul>" + "".join(f"<li>{_e(g)}</li>" for g in gaps)
                + "</ul>" if gaps else "") + (f"<p>The regressions, per survey and research question:</p>{fitted}"
                                              if fitted else "")) if gaps or fitted else ""
    return (f"<h2>Study design</h2><p>LLMs answered validated human value surveys; their answers are compared "
            f"with real respondents' by the cosine similarity of z-scored answer vectors.</p>"
            f"<table>{table}</table>{gap_html}")


def _models_section(out: OutputDir) -> str:
    from whosevalues.models.catalog import load_catalog

    catalog = load_catalog()
    modes = answers.model_modes(out)
    models = sorted(out.model_origins().items(), key=lambda kv: (kv[1], display_name(kv[0])))
    reasons = {model: answers.mode_reason(out, model) for model, _ in models}
    shared = set(reasons.values()) if len(set(reasons.values())) == 1 else None
    rows = []
    for model, origin in models:
        spec = catalog.get(model)
        row = {"Model": display_name(model), "id": model, "Origin": origin,
               "Company": spec.company if spec and spec.company else "",
               "Answer mode": modes.get(model, answers.NOT_RECORDED)}
        if not shared:
            row["Why this mode"] = reasons[model]
        rows.append(row)
    if not rows:
        return ""
    why = f"<p>Every model: {_e(next(iter(shared)))}.</p>" if shared and next(iter(shared)) else ""
    return "<h2>Models and how they answered</h2>" + _table_html(pd.DataFrame(rows)) + why + _run_notes_html(out)


def _run_notes_html(out: OutputDir) -> str:
    """run_notes.json: what the run recorded per model; its departures from the design as warnings."""
    if not out.run_notes():
        return ("<p class=\"meta\">This directory has no run_notes.json (answers not produced by "
                "<code>whosevalues run</code> here), so reasoning, model versions, seeds and adaptations are not "
                "known.</p>")
    parts = ["<h3>What the run recorded (run_notes.json)</h3>"]
    table = run_notes.run_notes_rows(out)
    if table is not None:
        parts.append(_table_html(table))
    departures = run_notes.run_notes_warnings(out)
    if departures:
        parts.append("<p>Departures from the study design:</p><ul class=\"warning\">"
                     + "".join(f"<li>{_e(w)}</li>" for w in departures) + "</ul>")
    else:
        parts.append("<p>The run recorded no departure from the study design.</p>")
    return "".join(parts)


def _populations_section(out: OutputDir) -> str:
    records = out.populations()
    if not records:
        return "<h2>Human populations</h2><p>No population information was written (populations.json absent).</p>"
    parts = ["<h2>Human populations and their audits</h2>"]
    by_survey: dict[str, list[dict]] = {}
    for record in records:
        by_survey.setdefault(str(record["survey"]), []).append(record)
    for survey, group in by_survey.items():
        parts.append(f"<h3>{_e(survey_label(survey))}</h3>")
        respondents = [r for r in group if _respondent_level(r)]
        if respondents:
            parts.append(_table_html(population_table(respondents), escape=False))
            parts.append(_alpha_html(respondents))
            parts.append(_item_stats_html(respondents))
        aggregates = [r for r in group if not _respondent_level(r)]
        if aggregates:
            parts.append(f"<p>{_e(aggregate_line(aggregates))}</p>")
        warnings = population_warnings(group)
        if warnings:
            parts.append("<ul class=\"warning\">" + "".join(f"<li><b>Warning</b>: {_e(w)}</li>" for w in warnings)
                         + "</ul>")
    return "".join(parts)


def _respondent_level(record: dict) -> bool:
    if "respondent_level" in record:
        return bool(record["respondent_level"])
    return (record.get("audit") or {}).get("kind", "respondents") == "respondents"


def population_table(records: list[dict]) -> pd.DataFrame:
    """One row per country: n, source, loading steps, straight-liners and what the analysis kept (cells are HTML)."""
    rows = []
    for record in records:
        audit = record.get("audit") or {}
        rows.append({
            "Country": _e(record["country"]), "n": _e(record.get("n", "")), "Source": _e(record.get("source", "")),
            "Loading steps": "<br>".join(_e(_step_text(step)) for step in record.get("steps") or []),
            "Straight-liners": _e(audit.get("straight_liners", "")),
            "Analysis kept": _e(_kept_text(record.get("analysis") or {})),
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


def _alpha_html(records: list[dict]) -> str:
    table = alpha_table(records)
    if table is None:
        return ""
    scope = next(((r.get("audit") or {}).get("alpha_scope") for r in records
                  if (r.get("audit") or {}).get("alpha_scope")), "dimension")
    return (f"<p>Cronbach's alpha ({_e(scope)}); values near zero or negative mean the items of a scale do not "
            f"hang together, e.g. because respondent ids are wrong:</p>" + _table_html(table))


def _item_stats_html(records: list[dict]) -> str:
    columns = {}
    for record in records:
        audit = record.get("audit") or {}
        for key, label in (("item_means", "mean"), ("item_sds", "SD")):
            if isinstance(audit.get(key), dict):
                columns[f"{record['country']} {label}"] = pd.Series(audit[key], dtype=float)
    if not columns:
        return ""
    table = pd.DataFrame(columns)
    table.index.name = "Item"
    shown = table.apply(lambda column: column.map(lambda v: "" if pd.isna(v) else f"{v:.2f}"))
    return (f"<details><summary>Item means and standard deviations ({len(table)} items)</summary>"
            + _table_html(shown, index=True) + "</details>")


def _figures_section(out: OutputDir, figures: list[FigureResult]) -> str:
    parts = ["<h2>Figures</h2>", _mixed_mode_html(out)]
    for survey in out.surveys():
        parts.append(f"<h3>{_e(survey_label(survey))}</h3>")
        for figure in (f for f in figures if f.name.endswith(f"_{survey}")):
            if figure.skipped_reason:
                parts.append(f"<p class=\"skipped\"><b>{_e(figure.name)}</b> left out: {_e(figure.skipped_reason)}</p>")
                continue
            assert figure.png is not None, "a figure not skipped was drawn"
            png = figure.png.read_bytes()
            encoded = base64.b64encode(png).decode("ascii")
            # shown at its printed size (200 dpi -> 96 CSS px per inch), so fonts read as on paper
            width = int(int.from_bytes(png[16:20], "big") * 96 / 200)
            parts.append(f"<figure id=\"{_e(figure.name)}\"><img width=\"{width}\" "
                         f"src=\"data:image/png;base64,{encoded}\" "
                         f"alt=\"{_e(figure.caption)}\"><figcaption>{_e(figure.caption)} "
                         f"<span class=\"meta\">(files: figures/{_e(figure.name)}.png, .svg; "
                         f"data: figures/{_e(figure.name)}.csv)</span></figcaption></figure>")
    return "".join(parts)


def _tables_section(out: OutputDir) -> str:
    parts = ["<h2>Tables</h2>", _mixed_mode_html(out)]
    paper_table = table2(out)
    if paper_table is not None:
        flat = paper_table.copy()
        flat.columns = [f"{a} {b}" for a, b in flat.columns]
        parts.append("<h3>Table 2 (the paper's layout)</h3><p>Cosine similarity regressed on the congruence of the "
                     "respondent's nationality with prompt language, persona and LLM origin (sum coded, mean "
                     "centred, congruent positive).</p>" + _table_html(flat, index=True))
    found = formatted_tables(out)
    for stem, title, shown in found:
        kind, _, survey = stem.partition("_")
        formula = out.analyses(survey).get(kind, {}).get("formula")
        fitted = f"<p>Fitted model: <code>{_e(formula)}</code></p>" if formula else ""
        parts.append(f"<h3>{_e(title)}</h3>{fitted}<p class=\"meta\">tables/{_e(stem)}.csv (.md, .tex)</p>"
                     + _table_html(shown))
    if paper_table is None and not found:
        parts.append("<p class=\"skipped\">No regression tables: the analyses were skipped (see the design "
                     "section for why).</p>")
    return "".join(parts)


def _exclusions_section(out: OutputDir) -> str:
    parts = ["<h2>Models in each analysis, exclusions and answer validity</h2>",
             "<h3>Models in each analysis</h3>", _table_html(coverage.models_table(out))]
    exclusions = out.exclusions()
    if exclusions is not None and len(exclusions):
        shown = exclusions.copy()
        if "model" in shown:
            shown["model"] = shown["model"].astype(str).map(display_name)
        parts.append("<h3>Exclusions the analysis recorded (exclusions.csv)</h3>" + _table_html(shown))
    elif coverage.everything_included(out):
        parts.append("<p>No model or condition was excluded from any analysis.</p>")
    parts.append("<h3>Answer validity</h3>")
    for sentence, warning in answers.validity_sentences(out):
        parts.append(f"<p class=\"warning\">{_e(sentence)}</p>" if warning else f"<p>{_e(sentence)}</p>")
    table = answers.validity_table(out)
    if table is not None and len(table):
        listing = _table_html(table)
        parts.append(f"<details{' open' if len(table) <= 12 else ''}><summary>Conditions with incomplete validity "
                     f"({len(table)}), lowest first</summary>{listing}</details>")
    return "".join(parts)


def _prompts_section(out: OutputDir) -> str:
    from whosevalues.instruments import load_instrument

    parts = ["<h2>The exact prompts</h2><p>Each item is asked in a fresh conversation: the system message "
             "(with the persona sentence, if any) and the user message below.</p>"]
    means = out.item_means()
    if means is None:
        return parts[0] + "<p>item_means.csv is absent: the conditions asked are unknown.</p>"
    for survey, group in means.groupby("survey", sort=False):
        try:
            instrument = load_instrument(survey)
        except (ValueError, KeyError) as exc:
            parts.append(f"<p class=\"skipped\">{_e(survey)}: survey file not found ({_e(exc)}).</p>")
            continue
        parts.append(f"<h3>{_e(instrument.name)}</h3>")
        items = [i for i in instrument.item_ids if i in set(group["item"])]
        for language in sorted(group["language"].unique()):
            personas = sorted(group.loc[group["language"] == language, "persona"].unique(), key=lambda p: p != "none")
            try:
                systems = "".join(
                    f"<tr><th>{_e(p)}</th>"
                    f"<td><pre>{_e(instrument.render(items[0], language, p).system)}</pre></td></tr>"
                    for p in personas)
                users = "".join(f"<tr><th>{_e(i)}</th><td><pre>{_e(instrument.render(i, language, 'none').user)}</pre>"
                                f"</td></tr>" for i in items)
            except KeyError as exc:
                parts.append(f"<p class=\"skipped\">{_e(survey)} / {_e(language)}: {_e(exc)}</p>")
                continue
            parts.append(f"<details><summary>{_e(survey_label(survey))}, language {_e(language)}: system messages "
                         f"({len(personas)} persona(s)) and {len(items)} user messages</summary>"
                         f"<table><tr><th>persona</th><th>system message</th></tr>{systems}</table>"
                         f"<table><tr><th>item</th><th>user message</th></tr>{users}</table></details>")
    return "".join(parts)


def provenance_files() -> list[Path]:
    import whosevalues

    return sorted(Path(whosevalues.__file__).parent.rglob("PROVENANCE.md"))


def _provenance_section(out: OutputDir) -> str:
    from whosevalues.instruments import load_instrument

    parts = ["<h2>Data provenance and licences</h2>"]
    for survey in out.surveys():
        try:
            instrument = load_instrument(survey)
        except (ValueError, KeyError):
            continue
        parts.append(f"<p><b>{_e(instrument.name)}</b>. {_e(instrument.citation)} Licence: "
                     f"{_e(instrument.licence or 'not stated')}</p>")
    sources = sorted({str(r.get("source")) for r in out.populations() if r.get("source")})
    if sources:
        parts.append("<p><b>Human data used here</b>:</p><ul>" + "".join(f"<li>{_e(s)}</li>" for s in sources)
                     + "</ul>")
    for file in provenance_files():
        parts.append(f"<details><summary>{_e(file.parent.name)}/PROVENANCE.md</summary>"
                     f"<pre>{_e(file.read_text(encoding='utf-8'))}</pre></details>")
    parts.append(f"<p class=\"meta\">Written by whosevalues {_e(whosevalues_version())}.</p>")
    return "".join(parts)
