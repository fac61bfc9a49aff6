"""Thin typer commands over ``pipeline``, ``analysis`` and ``report``. Every user error: one line, exit 2."""

from __future__ import annotations

import os

# One BLAS thread: the analysis is many small products, and on a 2-core machine threaded BLAS is 2-3x slower.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import signal
import sqlite3
import sys
import warnings
from pathlib import Path
from typing import Optional, Protocol, TypeGuard, overload

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from whosevalues.errors import UsageError, WhosevaluesError
from whosevalues.instruments import NO_PERSONA, available_instruments, load_instrument
from whosevalues.models.base import ConfigurationError, Mode
from whosevalues.models.catalog import load_catalog
from whosevalues.study import Study

# rich_markup_mode=None: help texts are plain text, so defaults written in brackets ([mfq2,wvs7]) stay visible
app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  rich_markup_mode=None, help="Measure whose values a large language model expresses.")
surveys_app = typer.Typer(help="List the surveys, or show the exact messages sent for an item.",
                          invoke_without_command=True, rich_markup_mode=None)
app.add_typer(surveys_app, name="surveys")


def _print_version(value: bool) -> None:
    if value:
        from whosevalues.version import __version__

        print(f"whosevalues {__version__}")
        raise typer.Exit()


@app.callback()
def _main_options(version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version,
                                               help="Print the version and exit.")) -> None:
    """Measure whose values a large language model expresses."""

# Rich assumes 80 columns when output is not a terminal (logs, CI); tables read better a little wider.
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 120
out = Console(width=_WIDTH)
err = Console(stderr=True, width=_WIDTH)


def _split(value: Optional[str]) -> Optional[list[str]]:
    return [part.strip() for part in value.split(",") if part.strip()] if value else None


def _split_option(value: Optional[str], option: str) -> Optional[list[str]]:
    """A comma-separated option; given but empty (``--languages ""`` or ``","``) is an error, not the default."""
    if value is None:
        return None
    parts = _split(value)
    if not parts:
        raise UsageError(f"{option} is empty: give at least one value, or leave the option out for the default")
    return parts


# ---------------------------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------------------------
@app.command()
def run(
    models: Optional[str] = typer.Option(None, help="Comma-separated model ids (`whosevalues models`), "
                                                    "'paper' or 'current'."),
    surveys: Optional[str] = typer.Option(None, help="Comma-separated survey ids or .toml paths [mfq2,wvs7]."),
    languages: Optional[str] = typer.Option(None, help="Prompt languages [en,zh]."),
    personas: Optional[str] = typer.Option(None, help="Personas: none, ISO alpha-3 codes (any country, from the "
                                                      "survey's persona template), or 'countries' for every country "
                                                      "with human data [none,CHN,USA]."),
    samples: Optional[int] = typer.Option(None, help="Samples per item and condition in sample mode [20]."),
    mode: Optional[str] = typer.Option(None, help="auto (distribution mode only if every model exposes next-token "
                                                  "probabilities, else all sampled) | sample | distribution | "
                                                  "per-model (each its own; the report flags it) [auto]."),
    temperature: Optional[float] = typer.Option(None, help="Override every model's temperature (0-2)."),
    variants: Optional[str] = typer.Option(None, help="Question formats: original (the paper's prompt only), core, "
                                                      "all, or names like original,letters [original,recoded]."),
    config: Optional[Path] = typer.Option(None, help="Study TOML file; command-line options override it."),
    db: Optional[Path] = typer.Option(None, help="SQLite store [OUT/whosevalues.sqlite]."),
    out_dir: Path = typer.Option(Path("whosevalues-out"), "--out", help="Output directory."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print requests, tokens and cost per model; ask nothing."),
    analysis: bool = typer.Option(True, "--analysis/--no-analysis", help="Analyse and report after asking."),
    batch: Optional[bool] = typer.Option(None, "--batch/--no-batch", help="Send what the store lacks through the "
                                         "providers' batch APIs (about half price, results within 24 h; resumable)."),
) -> None:
    """Ask the models the surveys (resuming from the store), then analyse and write the report."""
    from whosevalues.datafiles import require_output_dir
    from whosevalues.elicit.store import check_store_path
    from whosevalues.pipeline import default_db, run_study

    study = _study_from_options(config, {
        "models": _split_option(models, "--models"), "surveys": _split_option(surveys, "--surveys"),
        "languages": _split_option(languages, "--languages"),
        "personas": _persona_codes(_split_option(personas, "--personas")), "samples": samples, "mode": mode,
        "temperature": temperature, "batch": batch, "variants": _split_option(variants, "--variants")})
    require_output_dir(out_dir, "--out", UsageError)  # before --db: the default store lives in it
    db_path = db or default_db(out_dir)
    check_store_path(db_path, must_exist=False)
    if dry_run:
        _dry_run(study, db_path)
        return
    result = run_study(study, out_dir, db_path, console=err, command="run")
    _say_run(result, study)
    if result.stats.interrupted:
        err.print("[yellow]Stopped early; run the same command again to ask what is missing.")
        raise typer.Exit(130)
    _require_valid_answers(result)
    if analysis and len(result.item_means):
        _analyze_and_report(result.item_means, out_dir, write_means=False)
    if result.stats.stopped:  # each was said once, with its fix, when it happened
        err.print(f"[red]{len(result.stats.stopped)} model(s) stopped on an account problem: "
                  f"{', '.join(result.stats.stopped)}; fix it and run the same command again.")
        raise typer.Exit(1)


def _study_from_options(config: Optional[Path], options: dict) -> Study:
    """The study file's study (else the default one) with the options given on the command line, checked."""
    study = Study.from_toml(config) if config else Study()
    study = study.with_overrides(**{key: value for key, value in options.items() if value is not None})
    study.validate_design()
    return study


def _say_run(result, study: Study) -> None:
    """The run's notes, retired model ids, and its summary."""
    for note in result.notes:
        err.print(f"[yellow]note:[/] {note}")
    for note in _retirement_notes(study.model_specs()):  # a retired id may fail or reach another model
        err.print(Text.assemble(("note: ", "yellow"), note), soft_wrap=True)
    _print_run_summary(result)


@overload
def _persona_codes(personas: None) -> None: ...
@overload
def _persona_codes(personas: list[str]) -> list[str]: ...
def _persona_codes(personas: Optional[list[str]]) -> Optional[list[str]]:
    """Country codes upper-cased; `none` and `countries` (every country with human data) as they are."""
    if personas is None:
        return None
    return [p.lower() if p.lower() in (NO_PERSONA, "countries") else p.upper() for p in personas]


def _dry_run(study: Study, db_path: Path) -> None:
    import pandas as pd

    from whosevalues.elicit.batch.costs import with_batch_prices
    from whosevalues.elicit.formats import cost_by_variant, format_notes
    from whosevalues.elicit.store import Store
    from whosevalues.pipeline import plan_study

    # No probing in a dry run: the mode each model will use follows the study's rule (one mode for every model
    # unless per-model) from what is known without asking: the local model and catalog entries that document
    # logprobs read distributions; the rest are costed as sampled (a conservative estimate).
    specs = {spec.id: spec for spec in study.model_specs()}
    modes, reasons = dry_run_modes(study, list(specs.values()))
    plan = plan_study(study, modes)
    done: set[str] = set()
    if db_path.exists():  # read only: a dry run changes nothing
        store = Store(db_path, read_only=True)
        done = store.answered_keys()
        store.close()
    table = with_batch_prices(cost_by_variant(plan, specs, done), specs)  # one row per model x format
    shown = table[["model", "variant", "mode", "requests", "already_done", "to_run", "input_tokens", "output_tokens",
                   "reasoning_tokens", "cost_usd", "cost_usd_max", "batch_cost_usd", "price_as_of"]].copy()
    total = {"model": "TOTAL", "variant": "", "mode": "", **{c: shown[c].sum(min_count=1) for c in shown.columns[3:-1]},
             "price_as_of": ""}
    shown = pd.concat([shown, pd.DataFrame([total])], ignore_index=True)
    shown.columns = ["model", "format", "mode", "requests", "in store", "to run", "input tok", "output tok",
                     "reasoning tok", "cost $", "max $", "batch $", "prices of"]
    _print_frame(shown, "Dry run: nothing was asked (costs are estimates from catalog list prices)")
    out.print("Tokens: about 4 characters (1 CJK character) per token. reasoning tok: the catalog's typical "
              "thinking tokens per answer for models that reason (billed as output). max $: every answer uses "
              "its max_tokens plus that reasoning; a reasoner asked again with a larger budget costs more. "
              "batch $: the "
              "same requests through the provider's batch API (run --batch) at its documented discount (OpenAI, "
              "Anthropic, Gemini: 50%); empty where the provider has none.")
    unpriced = list(dict.fromkeys(table.loc[table["cost_usd"].isna(), "model"]))
    if unpriced:
        out.print(f"TOTAL cost leaves out {', '.join(unpriced)}: no list price in the catalog.", soft_wrap=True)
    for model in specs:
        out.print(f"{model}: {modes[model]} ({reasons[model]})", soft_wrap=True)
    for note in format_notes(study, modes):
        out.print(Text.assemble(("note: ", "yellow"), note), soft_wrap=True)
    for note in _retirement_notes(specs.values()):
        out.print(Text.assemble(("note: ", "yellow"), note), soft_wrap=True)


def _retirement_notes(specs) -> list[str]:
    """One line per study model the provider has retired or will retire (answers may fail, or come from
    another model where the provider reroutes the id)."""
    from whosevalues.models.catalog import retirement_status

    notes = []
    for spec in specs:
        status = retirement_status(spec)
        if status == "retired":
            notes.append(f"{spec.id} was retired by its provider on {spec.retired}: requests may fail or be "
                         f"answered by another model" + (f"; its successor is {spec.successor}" if spec.successor
                                                          else ""))
        elif status == "retiring":
            notes.append(f"{spec.id} will be retired by its provider on {spec.retired}"
                         + (f"; its successor is {spec.successor}" if spec.successor else ""))
    return notes


def dry_run_modes(study: Study, specs: list) -> tuple[dict[str, Mode], dict[str, str]]:
    """The mode each model will use, decided without asking anyone, by the run's own rule
    (``pipeline._uniform_modes``) from what is known: the local model and catalog entries documenting logprobs."""
    from whosevalues.pipeline import _uniform_modes

    known = {spec.id: spec.provider == "local-llama" or spec.supports_logprobs is True for spec in specs}
    if study.mode == "sample":
        return ({model: "sample" for model in known}, {model: "the study asks for sampling" for model in known})
    unknown = "the run probes it first" + (" and stops if it has none" if study.mode == "distribution" else "")
    why = {model: "local, or documented in the catalog" if ok else f"not known without asking: {unknown}"
           for model, ok in known.items()}
    # mode distribution: the run stops if a probe finds none, so the plan to cost is every model's distributions
    assumed = study.mode == "distribution"
    own: dict[str, Mode] = {model: "distribution" if ok or assumed else "sample" for model, ok in known.items()}
    return _uniform_modes(study, own, {model: f"auto: {reason}" for model, reason in why.items()}, notes=[])


def _print_run_summary(result) -> None:
    from whosevalues.elicit.aggregate import condition_summary
    from whosevalues.elicit.failures import common_failures

    answers = result.answers
    for line in common_failures(answers):  # the provider's words and the fix, before any table
        err.print(Text.assemble(("failed: ", "yellow"), line), soft_wrap=True)
    if answers.empty or result.item_means.empty or result.item_means["mean"].isna().all():
        err.print("No answers stored." if answers.empty else
                  f"No valid answers stored ({len(answers)} requests, none with a valid answer); see the lines above.")
        return
    counts = answers["status"].value_counts()
    err.print(f"Asked {_asked_words(result.stats)} in {result.stats.seconds:.1f}s; store holds "
              f"{len(answers)} answers for this study: " + ", ".join(f"{s} {n}" for s, n in counts.items()),
              soft_wrap=True)
    summary = condition_summary(result.item_means)
    from whosevalues.report.terminal import condition_rows

    for survey, rows in summary.groupby("survey", sort=False):
        # valid: the share of valid samples, or in distribution mode the probability on the scale
        _print_frame(condition_rows(rows), f"{survey}: answer validity and mean answer per condition", console=err)


def _require_valid_answers(result) -> None:
    """A run that ends with no valid answer did nothing the analysis can use: an error, not exit 0."""
    from whosevalues.errors import NothingDoneError

    if result.answers.empty:
        raise NothingDoneError(f"no answer was stored for this study ({result.stats.asked} requests asked); see the "
                               f"notes above for why, fix it and run the same command again")
    if result.item_means.empty or result.item_means["mean"].isna().all():
        raise NothingDoneError(f"none of the {len(result.answers)} answers is valid (see the failures above); fix "
                               f"the cause and run the same command again (only what is missing is asked)")


def _asked_words(stats) -> str:
    """"530 requests (200 of them the sample check, kept apart from the study's answers)"."""
    words = f"{stats.asked} requests"
    if stats.sample_check:
        words += f" ({stats.sample_check} of them the sample check, kept apart from the study's answers)"
    return words


def _cell(value) -> str:
    if isinstance(value, float):
        return "" if value != value else f"{value:,.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _print_frame(frame, title: str, console: Console = out) -> None:
    table = Table(title=title)
    for column in frame.columns:
        table.add_column(str(column))
    for row in frame.itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


# ---------------------------------------------------------------------------------------------
# analyze and report
# ---------------------------------------------------------------------------------------------
MAX_BOOTSTRAP = 100_000


@app.command()
def analyze(
    db: Optional[Path] = typer.Option(None, help="A whosevalues store to analyse (opened read-only)."),
    study: Optional[str] = typer.Option(None, "--study", help="With --db: the study to analyse, when the store "
                                                              "holds several (an error lists them)."),
    llm_responses: Optional[list[Path]] = typer.Option(None, "--llm-responses", metavar="FILE",
        help="Item means: the project's item_means.csv or the paper's published CSVs (repeatable)."),
    humans: Optional[list[str]] = typer.Option(None, "--humans", metavar="SURVEY=SOURCE",
        help="SURVEY=SOURCE: 'bundled', an official WVS-7 file (.csv/.sav/.dta) or a respondents table (repeatable)."),
    countries: Optional[str] = typer.Option(None, help="Populations to compare with: the RQ analyses take "
                                                       "[CHN,USA], countries_<survey>.csv every country with data; "
                                                       "a list narrows both, 'all' widens the RQ analyses too."),
    paper_compatible: bool = typer.Option(False, "--paper-compatible",
        help="Reproduce what the paper's published scripts did (see docs/statistics.md)."),
    bootstrap: int = typer.Option(1999, help=f"Bootstrap resamples over models, 0-{MAX_BOOTSTRAP:,} (0 to skip)."),
    min_valid_samples: Optional[int] = typer.Option(None, "--min-valid-samples",
        help="Sample mode: an item with fewer valid samples is missing [default 5; 1 with --paper-compatible]."),
    surveys: Optional[str] = typer.Option(None, help="Survey .toml files the answers used, beyond the built-in "
                                                     "ones (comma-separated paths)."),
    out_dir: Path = typer.Option(..., "--out", help="Output directory."),
) -> None:
    """Compare stored or published LLM answers with human populations: RQ1-RQ3, tables, figures, report."""
    from whosevalues.countries import countries_option
    from whosevalues.datafiles import require_output_dir, require_readable_file

    # Everything is checked before anything is read at length or written.
    _check_analyze_options(db, study, llm_responses, bootstrap, min_valid_samples)
    require_output_dir(out_dir, "--out", UsageError)
    for path in llm_responses or []:
        require_readable_file(path, "--llm-responses", UsageError)
    for survey_file in _split_option(surveys, "--surveys") or []:
        load_instrument(survey_file)  # makes the survey known by its id to the analysis and the report
    humans_map = _humans_sources(humans or [])
    wanted = countries_option(_split_option(countries, "--countries"))  # chn,usa means CHN,USA
    item_means, answers = _item_means_to_analyse(db, study, llm_responses or [])
    if min_valid_samples is not None:
        from whosevalues.analysis.inference_outputs import check_min_valid

        check_min_valid(item_means, min_valid_samples)  # before anything is written
    _analyze_and_report(item_means, out_dir, humans=humans_map, paper_compatible=paper_compatible,
                        countries=wanted, bootstrap=bootstrap, write_means=True, answers=answers,
                        min_valid_samples=min_valid_samples)


def _check_analyze_options(db: Optional[Path], study: Optional[str], llm_responses: Optional[list[Path]],
                           bootstrap: int, min_valid_samples: Optional[int]) -> None:
    """The options of `analyze` that can be wrong on their own or together, as usage errors."""
    if bool(db) == bool(llm_responses):
        raise UsageError("give exactly one of --db or --llm-responses")
    if study and not db:
        raise UsageError("--study selects a study in a store: use it with --db")
    if not 0 <= bootstrap <= MAX_BOOTSTRAP:
        raise UsageError(f"--bootstrap {bootstrap}: give a number of resamples from 0 (skip) to {MAX_BOOTSTRAP:,}")
    if min_valid_samples is not None and not 1 <= min_valid_samples <= 100_000:
        raise UsageError(f"--min-valid-samples {min_valid_samples}: give a count of valid samples from 1 to 100,000")


def _humans_sources(options: list[str]) -> dict[str, str]:
    """--humans SURVEY=SOURCE options as survey -> source (one source per survey)."""
    from whosevalues.humans import parse_humans_option

    sources: dict[str, str] = {}
    for option in options:
        survey, source = parse_humans_option(option)
        if survey in sources:
            raise UsageError(f"--humans names survey {survey!r} twice ({sources[survey]} and {source}); give one "
                             "source per survey")
        sources[survey] = source
    return sources


def _item_means_to_analyse(db: Optional[Path], study: Optional[str], llm_responses: list[Path]):
    """(item means, the store's answers or None): from a store's study, else from item-means files."""
    if db:
        from whosevalues.elicit.aggregate import item_means as aggregate_item_means

        answers = _answers_from_db(db, study)
        return aggregate_item_means(answers), answers
    from whosevalues.analysis.llm_responses import load_llm_responses

    return load_llm_responses(list(llm_responses)), None


def _answers_from_db(db: Path, study: Optional[str]):
    """The answers of one study in a store, read without changing it (several studies: pick one)."""
    from whosevalues.elicit.store import Store

    store = Store(db, read_only=True)
    try:
        studies = store.studies()
        known = list(studies["study"])
        if study is not None and study not in known:
            raise UsageError(f"--study {study!r} is not in {db}; it holds {_list_studies(studies)}")
        if study is None and len(known) > 1:
            raise UsageError(f"{db} holds {len(known)} studies: {_list_studies(studies)}; choose one with --study ID")
        chosen = study or (known[0] if known else None)
        answers = store.answers_frame(study=chosen)
    finally:
        store.close()
    if answers.empty:
        raise UsageError(f"{db} holds no answers" + (f" for study {chosen}" if chosen else "") +
                         "; run `whosevalues run --db ...` first")
    return answers


def _list_studies(studies) -> str:
    return "; ".join(f"{row.study} ({row.answers} answers, last run {str(row.last_run)[:16]})"
                     for row in studies.itertuples())


def _analyze_and_report(item_means, out_dir: Path, **options) -> None:
    """``whosevalues.analyze`` (notes and warnings on stderr), then the summary tables on stdout."""
    from whosevalues.analysis.study_analysis import analyze as analyze_study

    analyze_study(item_means, out_dir, console=err, summary_to=out, **options)  # ends with the report's path


def _report(out_dir: Path) -> None:
    from whosevalues.report.write import write_report

    write_report(out_dir, summary_to=out)  # the summary ends with the report's path


@app.command()
def report(directory: Path = typer.Argument(..., help="An analysis output directory.")) -> None:
    """Write DIR/report.html (self-contained) from an analysis directory."""
    if not (directory / "item_means.csv").exists():
        raise UsageError(f"{directory} is not an analysis directory (no item_means.csv); "
                         f"run `whosevalues analyze --out {directory}` first")
    _report(directory)


# ---------------------------------------------------------------------------------------------
# batches
# ---------------------------------------------------------------------------------------------
@app.command()
def batches(
    db: Path = typer.Option(Path("whosevalues-out/whosevalues.sqlite"), help="The store `whosevalues run` wrote."),
    cancel: Optional[str] = typer.Option(None, help="Cancel one batch (its number here, or the provider's id)."),
    cancel_all: bool = typer.Option(False, "--cancel-all", help="Cancel every batch still open."),
    config: Optional[Path] = typer.Option(None, help="Study file defining the models (for custom endpoints)."),
) -> None:
    """List every provider batch in the store (provider, model, status, counts, age, cost); cancel them."""
    from whosevalues.elicit.batch import manage, records
    from whosevalues.elicit.store import Store, check_store_path

    if cancel and cancel_all:
        raise UsageError("give --cancel ID or --cancel-all, not both")
    check_store_path(db, must_exist=True)  # listing or cancelling never creates a store
    store = Store(db, read_only=not (cancel or cancel_all))
    try:
        if cancel or cancel_all:
            if cancel_all:
                targets = records.all_batches(store, open_only=True)
            else:
                target = records.find(store, cancel) if cancel else None
                if target is None:
                    raise UsageError(f"no batch {cancel!r} in {db}; `whosevalues batches --db {db}` lists them")
                targets = [target]
            custom = Study.from_toml(config).custom_models if config else None
            for message in manage.cancel(store, targets, custom):
                out.print(message, soft_wrap=True)
        frame = manage.batches_frame(store)
    finally:
        store.close()
    if frame.empty:
        out.print(f"No batches in {db}.")
        return
    _print_frame(frame, f"Batches in {db} (cost: estimated at batch prices, beside the online price)")


# ---------------------------------------------------------------------------------------------
# models, surveys
# ---------------------------------------------------------------------------------------------
@app.command()
def models(
    config: Optional[Path] = typer.Option(None, help="Also list the models a study file defines."),
    select: Optional[str] = typer.Option(None, "--models", help="Only these: ids, 'paper', 'current' or a tag."),
    check: bool = typer.Option(False, "--check", help="Contact each endpoint once: reachable, key, logprobs."),
    timeout: float = typer.Option(5.0, min=0.5, max=120, metavar="SECONDS",
                                  help="Seconds to wait for each endpoint (--check)."),
) -> None:
    """List known models: origin, company, and whether each is configured or retired. Nothing is
    contacted unless --check is given (then one cheap request per model; exit 1 if any failed)."""
    specs = _selected_models(config, _split(select))
    if check:
        _check_models(specs, explicit=select is not None, timeout=timeout)
        return
    for title, group in _model_groups(specs):
        out.print(Text(title, style="bold"))
        out.print(_models_table(group))
    out.print("configured: its API key is set, or it needs none. Nothing was contacted; "
              "`whosevalues models --check` tries each endpoint.", soft_wrap=False)


def _selected_models(config: Optional[Path], wanted: Optional[list[str]]) -> dict:
    from whosevalues.models.catalog import expand_model_ids, resolve_model

    custom = Study.from_toml(config).custom_models if config else {}
    if wanted:
        return {model_id: resolve_model(model_id, custom) for model_id in expand_model_ids(wanted)}
    return {**load_catalog(), **custom}


def _model_groups(specs: dict) -> list[tuple[str, list]]:
    from whosevalues.models.catalog import PAPER_MODELS

    current = [s for s in specs.values() if "current" in s.tags]
    paper = [specs[m] for m in PAPER_MODELS if m in specs]
    others = [s for s in specs.values() if s not in current and s not in paper]
    groups = [("Current models (--models current)", current), ("Paper models (--models paper)", paper),
              ("Other models", others)]
    return [(title, group) for title, group in groups if group]


def _models_table(specs: list) -> Table:
    # No box, origin and company in one column: fits 80 terminal columns; only a long status may wrap.
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    table.add_column("id", no_wrap=True)
    table.add_column("origin", no_wrap=True)
    table.add_column("status", overflow="fold")
    for spec in specs:
        table.add_row(spec.id, f"{spec.origin} {spec.company or ''}".rstrip(), _model_status(spec))
    return table


def _configuration(spec) -> tuple[str, bool]:
    """("configured" | "configured (no key needed)" | "needs KEY" | "not configured: why", configured?)."""
    from whosevalues.models.check import key_env_for
    from whosevalues.models.registry import create_backend

    env = key_env_for(spec)
    try:
        create_backend(spec).check_ready()
    except ConfigurationError as exc:
        return (f"needs {env}" if env and not os.environ.get(env) else f"not configured: {exc}"), False
    return ("configured" if env else "configured (no key needed)"), True


def _model_status(spec) -> Text:
    """retired -> successor, or the configuration, then "; retires DATE" when a retirement is announced."""
    from whosevalues.models.catalog import retirement_status

    lifecycle = retirement_status(spec)
    if lifecycle == "retired":
        return Text(f"retired {spec.retired}" + (f" -> {spec.successor}" if spec.successor else ""), style="dim")
    words, configured = _configuration(spec)
    return Text(f"{words}; retires {spec.retired}" if lifecycle == "retiring" else words,
                style="green" if configured else "yellow")


def _check_models(specs: dict, *, explicit: bool, timeout: float) -> None:
    """--check: contact the selected models (by default, every configured model not yet retired)."""
    from whosevalues.models.catalog import retirement_status
    from whosevalues.models.check import check_models
    from whosevalues.models.keys import redact_keys

    chosen = list(specs.values())
    if not explicit:
        chosen = [s for s in chosen if retirement_status(s) != "retired" and _configuration(s)[1]]
        if not chosen:
            out.print("No model is configured (no API key set): set a key, or name models with --models "
                      "to check them anyway.")
            return
    out.print(f"Contacting {len(chosen)} endpoint(s), one request each, {timeout:g} s timeout.")
    results = check_models(chosen, timeout=timeout)
    table = Table(box=None, pad_edge=False, padding=(0, 2, 0, 0), show_edge=False)
    for column in ("id", "reachable", "key", "logprobs"):
        table.add_column(column, no_wrap=True)
    table.add_column("note", overflow="fold")
    marks = {True: "yes", False: "no", None: "-"}
    for result in results:
        logprobs = result.logprobs + ("*" if result.documented else "")
        table.add_row(result.model, marks[result.reachable], result.key, logprobs,
                      Text(redact_keys(result.note) or "", style="" if result.ok else "yellow"))
    out.print(table)
    failed = [r.model for r in results if not r.ok]
    out.print(f"{len(results) - len(failed)} of {len(results)} reachable with a usable key. "
              "* documented, not probed. - not contacted (local).")
    if failed:
        raise typer.Exit(1)


@app.command()
def humans(
    survey: str = typer.Argument("mfq2", help="Survey id (mfq2, wvs7, ...)."),
    source: str = typer.Option("bundled", help="'bundled', an official WVS-7 file, or a respondents table."),
    countries: Optional[str] = typer.Option(None, help="Countries to load [CHN,USA]; 'all' for every one."),
    paper_labels: bool = typer.Option(False, "--paper-labels",
        help="MFQ-2 only: group rows by the published file's Participant label, as the paper's scripts did."),
) -> None:
    """Load human populations and print what loading kept and dropped, and their audits."""
    from whosevalues.countries import countries_option
    from whosevalues.humans import load_populations
    from whosevalues.humans.audit import format_summary

    wanted = countries_option(_split_option(countries, "--countries"))
    populations = load_populations(survey, source, countries=None if wanted == ["all"] else (wanted or ["CHN", "USA"]),
                                   paper_labels=paper_labels)
    for population in populations:
        print("\n".join(format_summary(population)))


@surveys_app.callback()
def surveys_list(ctx: typer.Context) -> None:
    """List the surveys."""
    if ctx.invoked_subcommand:
        return
    table = Table(title="Surveys")
    for column in ("id", "name", "items", "scale", "languages", "personas", "formats (--variants)"):
        table.add_column(column)
    for survey_id in available_instruments():
        instrument = load_instrument(survey_id)
        languages = list(instrument.languages)
        table.add_row(instrument.id, instrument.name, str(len(instrument.items)),
                      f"{instrument.scale.min}-{instrument.scale.max}", ", ".join(languages),
                      ", ".join(instrument.personas(languages[0])), ", ".join(instrument.variant_names))
    out.print(table)


@surveys_app.command("show")
def surveys_show(
    survey: str = typer.Argument(..., help="Survey id or .toml path."),
    language: str = typer.Option("en", help="Prompt language."),
    persona: str = typer.Option(NO_PERSONA, help="none or an ISO alpha-3 code (any country with a persona template)."),
    item: Optional[str] = typer.Option(None, help="Item id (default: the first item)."),
    variant: str = typer.Option("original", help="Question format (the survey's [variants]; original: the "
                                                 "paper's prompt)."),
) -> None:
    """Print the exact system and user messages that would be sent."""
    instrument = load_instrument(survey)
    prompt = instrument.render(item or instrument.item_ids[0], language, _persona_codes([persona])[0], variant)
    # Plain print, not rich: the messages must appear byte for byte (no markup, no wrapping).
    print(f"--- system ---\n{prompt.system}\n--- user ---\n{prompt.user}")


# ---------------------------------------------------------------------------------------------
# entry point: user errors become one line and a non-zero exit, never a traceback
# ---------------------------------------------------------------------------------------------
def _describe_os_error(exc: OSError) -> str:
    """A failed read or write outside the store, in one line (no full disk ever becomes a traceback)."""
    import errno

    where = f" {exc.filename}" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return (f"cannot write{where}: {exc.strerror} (the disk or a file-size limit is full); free space and run the "
                "same command again (stored answers are kept)")
    if isinstance(exc, IsADirectoryError):
        return f"{exc.filename} is a directory; give a file path"
    if isinstance(exc, NotADirectoryError):
        return f"{exc.filename}: part of this path is a file, not a directory; give another path"
    return f"cannot use{where}: {exc.strerror or exc}; check the path and its permissions"


def _print_error(message: str) -> None:
    # One line, no rich markup: messages quote TOML headers like [languages.en] that markup would eat.
    from whosevalues.models.keys import redact_keys

    err.print(Text.assemble(("error: ", "bold red"), " ".join(redact_keys(message).split())), soft_wrap=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    from whosevalues.models.keys import redact_keys

    err.print(Text.assemble(("warning: ", "yellow"), " ".join(redact_keys(str(message)).split())), soft_wrap=True)


MULTI_VALUE_OPTIONS = ("--llm-responses", "--humans")


def expand_multi_value_options(argv: list[str]) -> list[str]:
    """Let `--llm-responses A B C` mean `--llm-responses A --llm-responses B ...` (click takes one value per flag)."""
    expanded: list[str] = []
    current: str | None = None
    for arg in argv:
        if arg in MULTI_VALUE_OPTIONS:
            current = arg
            expanded.append(arg)
            continue
        if current and not arg.startswith("-") and expanded[-1] != current:
            expanded.append(current)
        elif arg.startswith("-"):
            current = None
        expanded.append(arg)
    return expanded


PATH_OPTIONS = ("--out", "--db", "--config", "--llm-responses")


def refuse_empty_paths(argv: list[str]) -> None:
    """``--out ""`` would become the working directory (click turns "" into "."): an empty path is refused."""
    for index, arg in enumerate(argv):
        option, _, inline = arg.partition("=")
        if option not in PATH_OPTIONS:
            continue
        value = inline if "=" in arg else (argv[index + 1] if index + 1 < len(argv) else None)
        if value is not None and not value.strip():
            raise UsageError(f"{option} is empty: give a path, or leave {option} out for its default")


class _ClickError(Protocol):
    exit_code: int

    def format_message(self) -> str: ...


def _is_click_error(exc: BaseException) -> TypeGuard[_ClickError]:
    # typer vendors its own click: recognise its usage errors by shape rather than by class
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code")


def _tolerate_narrow_encodings() -> None:
    """PYTHONIOENCODING=ascii (or a legacy code page): characters it lacks print as '?', never a crash."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")


def main() -> None:
    _tolerate_narrow_encodings()
    warnings.showwarning = _show_warning  # data warnings (e.g. audits) as one line each, not source lines
    if hasattr(signal, "SIGXFSZ"):  # a file-size limit: let the write fail with an error we can explain
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    try:
        refuse_empty_paths(sys.argv[1:])
        code = app(args=expand_multi_value_options(sys.argv[1:]), prog_name="whosevalues", standalone_mode=False)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        sys.exit(_exit_code_for(exc))
    sys.exit(code if isinstance(code, int) else 0)


def _exit_code_for(exc: Exception) -> int:
    """Print what went wrong in one or two lines and return the exit code (the traceback with WHOSEVALUES_DEBUG=1).

    Only a ``WhosevaluesError`` is the user's to fix (exit 2); a failed read or write of a file (``OSError``)
    or of the store (``sqlite3.Error``) is the machine's (exit 1); anything else is a bug in whosevalues (exit 70).
    """
    if type(exc).__name__ == "Abort":
        return 130
    if _is_click_error(exc):
        _print_error(exc.format_message())
        return 2
    if isinstance(exc, WhosevaluesError):
        _print_error(str(exc))
        code = 2
    elif isinstance(exc, OSError):
        _print_error(_describe_os_error(exc))
        code = 1
    elif isinstance(exc, sqlite3.Error):
        _print_error(f"the store failed ({exc}); the store is intact (SQLite keeps every committed answer): "
                     "check the disk and run the same command again")
        code = 1
    else:
        _print_bug(exc)
        code = 70  # EX_SOFTWARE
    if os.environ.get("WHOSEVALUES_DEBUG"):
        _print_traceback(exc)
    return code


def _print_bug(exc: Exception) -> None:
    """Two lines: this is whosevalues' fault, and how to report it."""
    from whosevalues.version import __version__

    _print_error(f"whosevalues {__version__} failed with an internal error, a bug: {type(exc).__name__}: {exc}")
    err.print("It is not a problem with your input: please report it on the project's issue tracker with the "
              "command you ran and its output with WHOSEVALUES_DEBUG=1 set (which shows the traceback).",
              soft_wrap=True, markup=False, highlight=False)


def _print_traceback(exc: BaseException) -> None:
    import traceback

    sys.stderr.write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


if __name__ == "__main__":
    main()
