"""``write_report(out_dir)``: one self-contained HTML page (images inline as base64 PNG, CSS inline, no
script, no external URL) that tells the study's story from the files of an analysis output directory.
"""

from __future__ import annotations

import base64
import html
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from whosevalues.report.figures import FigureResult, model_similarity, write_figures
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
.skipped { color: #8a4b00; } pre { white-space: pre-wrap; background: #f7f7f7; padding: .6rem; font-size: .8rem; }
details { margin: .4rem 0; } summary { cursor: pointer; font-weight: 600; }
"""


def write_report(out_dir: Path | str) -> Path:
    """Draw the figures, write the tables, and write out_dir/report.html; returns its path."""
    out = OutputDir(out_dir)
    figures = write_figures(out)
    write_tables(out)
    page = render_report(out, figures)
    path = out.path / "report.html"
    tmp = path.with_suffix(".html.tmp")
    tmp.write_text(page, encoding="utf-8")
    tmp.replace(path)  # never leave a half-written report behind
    return path


def render_report(out: OutputDir, figures: list[FigureResult]) -> str:
    sections = [
        _header(out), _headline_section(out), _design_section(out), _models_section(out),
        _populations_section(out), _figures_section(out, figures), _tables_section(out),
        _exclusions_section(out), _prompts_section(out), _provenance_section(out),
    ]
    body = "\n".join(s for s in sections if s)
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>whosevalues report: {_e(out.path.name)}</title><style>{CSS}</style></head>\n"
            f"<body>\n{body}\n</body></html>\n")


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _table_html(frame: pd.DataFrame, index: bool = False) -> str:
    return frame.to_html(index=index, escape=True, border=0, na_rep="")


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


def headline(out: OutputDir) -> list[str]:
    """One sentence per survey, computed from the per-model similarities."""
    sentences = []
    for survey in out.surveys():
        data = model_similarity(out, survey)
        if data is None or data.empty:
            continue
        sentences.append(_headline_for(data, survey_label(survey)))
    return sentences


def _headline_for(data: pd.DataFrame, label: str) -> str:
    per_model = data.pivot_table(index="model", columns="population", values="mean")
    overall = per_model.mean().sort_values(ascending=False)
    populations = list(overall.index)
    if len(populations) == 1:
        return (f"On {label}, the mean cosine similarity of the {len(per_model)} model(s) to "
                f"{populations[0]} respondents is {fmt_number(overall.iloc[0], 2)} (one population: no comparison).")
    top, others = populations[0], populations[1:]
    closest = per_model.idxmax(axis=1)
    n_closer = int((closest == top).sum())
    n = len(per_model)
    who = ("The one model" + f" ({display_name(per_model.index[0])}) is" if n == 1 else
           f"All {n} models are" if n_closer == n else f"{n_closer} of {n} models are")
    other_text = f"{others[0]} respondents" if len(others) == 1 else \
        f"respondents of any other population ({', '.join(others)})"
    means = " vs ".join(fmt_number(overall[p], 2) for p in populations)
    return f"{who} closer to {top} respondents than to {other_text} on {label} (mean cosine {means})."


def _headline_section(out: OutputDir) -> str:
    sentences = headline(out)
    if not sentences:
        return ("<p class=\"headline\">No similarity between LLM and human answers could be computed from this "
                "directory (see what was left out below).</p>")
    return "".join(f"<p class=\"headline\">{_e(s)}</p>" for s in sentences)


def design_gaps(out: OutputDir) -> list[str]:
    """What the design cannot show, and why (one sentence each)."""
    gaps = []
    design = out.design()
    if len(design["model"]) == 1:
        gaps.append(f"One model ({display_name(design['model'][0])}): no comparison between models.")
    if len(design["origin"]) == 1:
        gaps.append(f"All models are made in {design['origin'][0]}: no contrast between LLM origins "
                    f"(RQ1's origin term and RQ3 need models of two origins).")
    if len(design["language"]) == 1:
        gaps.append(f"One prompt language ({design['language'][0]}): no language contrast; respondents whose "
                    f"own language was not asked are compared with answers in {design['language'][0]}.")
    if [p for p in design["persona"] if p != "none"] == []:
        gaps.append("No national persona: RQ2 and Figure 4 (persona contrast) need answers under at least two "
                    "national personas.")
    if len(out.surveys()) == 1:
        gaps.append(f"One survey ({survey_label(out.surveys()[0])}): Table 2 shows one survey.")
    return gaps


def _design_section(out: OutputDir) -> str:
    design = out.design()
    means = out.item_means()
    rows = [("Surveys", ", ".join(survey_label(s) for s in out.surveys())),
            ("Models", str(len(design["model"]))), ("LLM origins", ", ".join(design["origin"])),
            ("Prompt languages", ", ".join(design["language"])), ("Personas", ", ".join(design["persona"]))]
    if means is not None and "n_total" in means:
        rows.append(("Samples per item and condition", ", ".join(map(str, sorted(means["n_total"].dropna()
                                                                                 .astype(int).unique())))))
    rows.append(("Answer mode", "distribution (token probabilities)" if out.item_distributions() is not None
                 else "sampled answers"))
    summary = out.summary()
    if summary.get("paper_compatible"):
        rows.append(("Paper-compatible mode", "yes: reproduces what the paper's scripts did (ANALYSIS_NOTES.md)"))
    table = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    gaps = design_gaps(out) + [f"{survey_label(s)} {a}: {r}" for s, a, r in out.skipped_analyses()]
    gap_html = ("<h3>What this design leaves out</h3><ul>" + "".join(f"<li>{_e(g)}</li>" for g in gaps)
                + "</ul>") if gaps else ""
    return (f"<h2>Study design</h2><p>LLMs answered validated human value surveys; their answers are compared "
            f"with real respondents' by the cosine similarity of z-scored answer vectors.</p>"
            f"<table>{table}</table>{gap_html}")


def _models_section(out: OutputDir) -> str:
    from whosevalues.models.catalog import load_catalog

    catalog = load_catalog()
    rows = []
    for model, origin in sorted(out.model_origins().items(), key=lambda kv: (kv[1], display_name(kv[0]))):
        spec = catalog.get(model)
        rows.append({"Model": display_name(model), "id": model, "Origin": origin,
                     "Company": spec.company if spec and spec.company else ""})
    if not rows:
        return ""
    return "<h2>Models and their origins</h2>" + _table_html(pd.DataFrame(rows))


def _populations_section(out: OutputDir) -> str:
    records = out.populations()
    if not records:
        return "<h2>Human populations</h2><p>No population information was written (populations.json absent).</p>"
    parts = ["<h2>Human populations and their audits</h2>"]
    for record in records:
        title = f"{survey_label(record['survey'])}, {record['country']}: n = {record.get('n', '?')}"
        details = {k: v for k, v in record.items() if k not in ("survey", "country", "n", "source")}
        items = "".join(f"<tr><th>{_e(k)}</th><td>{_format_value(v)}</td></tr>" for k, v in details.items())
        parts.append(f"<h3>{_e(title)}</h3><p>{_e(record.get('source', ''))}</p>"
                     + (f"<table>{items}</table>" if items else ""))
    return "".join(parts)


def _format_value(value) -> str:
    if isinstance(value, dict):
        return "<br>".join(f"{_e(k)}: {_format_value(v)}" for k, v in value.items()) or "—"
    if isinstance(value, (list, tuple)):
        if value and all(isinstance(v, (list, tuple)) and len(v) == 2 for v in value):
            return "<br>".join(f"{_e(a)}: {_e(b)}" for a, b in value)
        return "<br>".join(_format_value(v) for v in value) or "—"
    if isinstance(value, float):
        return _e(fmt_number(value, 3))
    return _e(value)


def _figures_section(out: OutputDir, figures: list[FigureResult]) -> str:
    parts = ["<h2>Figures</h2>"]
    for survey in out.surveys():
        parts.append(f"<h3>{_e(survey_label(survey))}</h3>")
        for figure in (f for f in figures if f.name.endswith(f"_{survey}")):
            if figure.skipped_reason:
                parts.append(f"<p class=\"skipped\"><b>{_e(figure.name)}</b> left out: {_e(figure.skipped_reason)}</p>")
                continue
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
    parts = ["<h2>Tables</h2>"]
    paper_table = table2(out)
    if paper_table is not None:
        flat = paper_table.copy()
        flat.columns = [f"{a} {b}" for a, b in flat.columns]
        parts.append("<h3>Table 2 (the paper's layout)</h3><p>Cosine similarity regressed on the congruence of the "
                     "respondent's nationality with prompt language, persona and LLM origin (sum coded, mean "
                     "centred, congruent positive).</p>" + _table_html(flat, index=True))
    found = formatted_tables(out)
    for stem, title, shown in found:
        parts.append(f"<h3>{_e(title)}</h3><p class=\"meta\">tables/{_e(stem)}.csv (.md, .tex)</p>"
                     + _table_html(shown))
    if paper_table is None and not found:
        parts.append("<p class=\"skipped\">No regression tables: the analyses were skipped (see the design "
                     "section for why).</p>")
    return "".join(parts)


def refusal_summary(out: OutputDir) -> pd.DataFrame | None:
    """Model x survey x condition rows with any invalid or refused answer."""
    means = out.item_means()
    if means is None or not {"n_valid", "n_total"} <= set(means.columns):
        return None
    means = means.assign(refused=means["refusal_rate"] * means["n_total"] if "refusal_rate" in means else float("nan"),
                         no_answer=(means["n_valid"] == 0).astype(int))
    grouped = means.groupby(["model", "survey", "language", "persona"], as_index=False)[
        ["n_valid", "n_total", "refused", "no_answer"]].sum(min_count=1)
    grouped = grouped[grouped["n_valid"] < grouped["n_total"]]
    return pd.DataFrame({
        "Model": grouped["model"].map(display_name), "Survey": grouped["survey"].map(survey_label),
        "Language": grouped["language"], "Persona": grouped["persona"],
        "Valid answers": (grouped["n_valid"] / grouped["n_total"]).map(lambda v: f"{v:.1%}"),
        "Refusals": (grouped["refused"] / grouped["n_total"]).map(lambda v: "" if pd.isna(v) else f"{v:.1%}"),
        "Items with no valid answer": grouped["no_answer"].astype(int),
    })


def _exclusions_section(out: OutputDir) -> str:
    parts = ["<h2>Exclusions and refusals</h2>"]
    exclusions = out.exclusions()
    if exclusions is not None and len(exclusions):
        shown = exclusions.copy()
        if "model" in shown:
            shown["model"] = shown["model"].astype(str).map(display_name)
        parts.append("<h3>Models or conditions excluded from an analysis</h3>" + _table_html(shown))
    else:
        parts.append("<p>No model or condition was excluded from any analysis.</p>")
    refusals = refusal_summary(out)
    if refusals is None:
        parts.append("<p>item_means.csv does not record valid-answer counts.</p>")
    elif len(refusals):
        parts.append("<h3>Conditions with invalid answers or refusals</h3>" + _table_html(refusals))
    else:
        parts.append("<p>Every sampled answer was a valid number on the scale.</p>")
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
                    f"<tr><th>{_e(p)}</th><td><pre>{_e(instrument.render(items[0], language, p).system)}</pre></td></tr>"
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
