"""The end-of-run summary in the terminal: mean similarity of each model to each population, and the report."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from whosevalues.report.outdir import OutputDir, display_name, survey_label
from whosevalues.report.tables import fmt_number

MAX_POPULATION_COLUMNS = 4
WEAK_MASS = 0.5  # as answers.LOW_VALID_MASS: below it a distribution rests on a small part of the probability


def validity_cell(valid_rate: float, valid_mass: float) -> str:
    """The terminal's "valid" cell of a condition. Sampled: the share of valid samples. Distribution mode:
    every item gets an answer once renormalised, so "1.00" would say nothing; the cell shows the probability
    that fell on the scale instead, and calls it weak below WEAK_MASS (issue 17: never "valid 1.00" where 7%
    of the probability was on the scale)."""
    import math

    if valid_mass is not None and not (isinstance(valid_mass, float) and math.isnan(valid_mass)):
        return f"mass {valid_mass:.2f}" + (" (weak)" if valid_mass < WEAK_MASS else "")
    if valid_rate is None or (isinstance(valid_rate, float) and math.isnan(valid_rate)):
        return ""
    return f"{valid_rate:.2f}"


def condition_rows(summary):
    """elicit.aggregate.condition_summary's rows of one survey as the run's terminal table shows them: "valid"
    says what validity means in each condition's mode (``validity_cell``), short column names."""
    rows = summary.dropna(axis=1, how="all")
    rows = rows.drop(columns=[c for c in ("survey", "origin", "n_items", "refusal_rate") if c in rows])
    mass = rows["valid_mass"] if "valid_mass" in rows else [None] * len(rows)
    rate = rows["valid_rate"] if "valid_rate" in rows else [None] * len(rows)
    cells = [validity_cell(r, m) for r, m in zip(rate, mass)]
    first = min([list(rows.columns).index(c) for c in ("valid_rate", "valid_mass") if c in rows] or [len(rows.columns)])
    rows = rows.drop(columns=[c for c in ("valid_rate", "valid_mass") if c in rows])
    rows.insert(min(first, len(rows.columns)), "valid", cells)
    rows = rows.rename(columns={"language": "lang"})
    # beyond this, each model's closest and furthest countries come in their own table
    return rows.rename(columns=lambda c: c[:4] if c[:1].isupper() else c)


def summary_tables(out_dir: OutputDir | Path | str) -> list[Table]:
    """One rich table per survey: model, origin, then mean cosine to each population (closest in bold)."""
    from whosevalues.report.figures import model_similarity, rq1_rows

    out = out_dir if isinstance(out_dir, OutputDir) else OutputDir(out_dir)
    tables = []
    for survey in out.surveys():
        data = model_similarity(out, survey)
        if data is None or data.empty:
            continue
        grid = data.pivot_table(index=["model", "origin"], columns="population", values="mean")
        if len(grid.columns) > MAX_POPULATION_COLUMNS:  # many countries: CHN and USA here, the rest below
            grid = grid[[c for c in ("CHN", "USA") if c in grid.columns] or list(grid.columns[:2])]
        populations = list(grid.columns)
        table = Table(title=f"{survey_label(survey)}: mean cosine similarity to each population", title_justify="left")
        table.add_column("Model")
        table.add_column("Origin")
        for population in populations:
            table.add_column(population, justify="right")
        for (model, origin), row in sorted(grid.iterrows(), key=lambda kv: (kv[0][1], display_name(kv[0][0]))):
            best = row.idxmax() if row.notna().any() else None
            cells = [f"[bold]{fmt_number(v)}[/bold]" if p == best and len(populations) > 1 else fmt_number(v)
                     for p, v in row.items()]
            table.add_row(display_name(model), origin, *cells)
        if rq1_rows(out, survey)[1] == "model":
            table.caption = "cosine of the model's item means with the population's item means"
        else:
            table.caption = "mean over respondents (persona none, prompts in the respondents' language)"
        tables.append(table)
    return tables


def print_summary(out_dir: OutputDir | Path | str, console: Console | None = None, *,
                  fingerprint: str | None = None) -> None:
    """Print the similarity tables, the headline and the path of report.html (if written). ``fingerprint``:
    the directory's (report/reuse.py) when the caller just computed it (``write_report``)."""
    console = console or Console()
    out = out_dir if isinstance(out_dir, OutputDir) else OutputDir(out_dir)
    content = _summary_content(out, fingerprint)
    for spec in content["tables"]:
        console.print(_table_from_json(spec))
    if not content["tables"]:
        console.print("No similarity to human populations could be computed for this design "
                      "(see report.html, section 'What this design leaves out').")
    for text, style in content["lines"]:  # the report's headline, with its 95% CI and coverage
        console.print(text, style=style, highlight=False)
    if content["formats"]:  # as the report's "Read with care" box says it
        console.print(f"[yellow]note:[/] {escape(content['formats'])}", highlight=False)
    report = out.path / "report.html"
    if report.is_file():
        console.print(f"Report: {report}")


def _summary_content(out: OutputDir, fingerprint: str | None) -> dict:
    """What the summary prints, as plain data: read from ``reuse.SUMMARY_CACHE`` when it was made from exactly
    this directory's files and the report's code (a rerun that changes nothing: the headline's bootstrap and
    half a second of imports are not redone), else computed and saved there."""
    from whosevalues.report import reuse

    fingerprint = fingerprint or reuse.directory_fingerprint(out.path, out.surveys())
    cache = out.path / reuse.SUMMARY_CACHE
    try:
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("fingerprint") == fingerprint:
            return saved["content"]
    except (OSError, ValueError, AttributeError):
        pass  # none yet, or unreadable: computed again
    content = _computed_summary(out)
    try:
        from whosevalues.outfiles import atomic_write

        atomic_write(cache, json.dumps({"fingerprint": fingerprint, "content": content}))
    except OSError:  # a read-only directory: printed all the same
        pass
    return content


def _computed_summary(out: OutputDir) -> dict:
    from whosevalues.report.format_section import caveat
    from whosevalues.report.headline import coverage_sentence, headline_sentence, headlines
    from whosevalues.report.whose_values import world_tables

    lines = []
    for h in headlines(out):
        lines += [(headline_sentence(h, len(out.model_origins())), None), (coverage_sentence(h), "dim")]
    return {"tables": [_table_to_json(table) for table in summary_tables(out) + world_tables(out)],
            "lines": lines, "formats": caveat(out)}


def _table_to_json(table: Table) -> dict:
    """A table whose title, caption and cells are text (markup included), as JSON."""
    return {"title": str(table.title), "title_justify": table.title_justify,
            "caption": table.caption and str(table.caption), "caption_justify": table.caption_justify,
            "columns": [{"header": str(column.header), "justify": column.justify, "no_wrap": column.no_wrap,
                         "cells": [str(cell) for cell in column.cells]} for column in table.columns]}


def _table_from_json(spec: dict) -> Table:
    table = Table(title=spec["title"], title_justify=spec["title_justify"], caption=spec["caption"],
                  caption_justify=spec["caption_justify"])
    for column in spec["columns"]:
        table.add_column(column["header"], justify=column["justify"], no_wrap=column["no_wrap"])
    for row in zip(*(column["cells"] for column in spec["columns"])):
        table.add_row(*row)
    return table
