"""`whosevalues analyze` as one function: choose the human populations, write the item means, run the
analysis and write the report. This is ``whosevalues.analyze`` (the Python API) and what the CLI calls after
parsing its options; ``analysis.pipeline.analyze`` is the analysis step alone, on populations already loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd
from rich.console import Console
from rich.text import Text

from whosevalues.errors import UsageError

DEFAULT_RQ_COUNTRIES = ["CHN", "USA"]


def analyze(item_means: pd.DataFrame, out_dir: str | Path, *, humans: Optional[dict[str, str]] = None,
            countries: Optional[list[str]] = None, paper_compatible: bool = False, bootstrap: int = 1999,
            min_valid_samples: Optional[int] = None, write_means: bool = True,
            answers: Optional[pd.DataFrame] = None, console: Optional[Console] = None,
            summary_to: Optional[Console] = None) -> dict:
    """Compare LLM item means with human populations and write every output file and report.html.

    ``humans``: survey -> ``"bundled"`` or a file (default: the bundled data). ``countries``: the RQ analyses
    compare CHN and USA and countries_<survey>.csv every country with data; a list narrows both, ``["all"]``
    widens the RQ analyses too. ``answers`` (a store's answers) adds item_distributions.csv and the modes.
    Notes and warnings go to ``console`` (stderr by default); ``summary_to``, when given, gets the terminal
    summary (what `whosevalues analyze` prints on stdout). Returns the analysis summary (summary.json).
    """
    from whosevalues.analysis.summary_lines import summary_warnings

    console = console or Console(stderr=True)
    out_dir = Path(out_dir)
    humans = humans or {}
    populations, all_populations = choose_populations(item_means, humans, countries, paper_compatible, console)
    if write_means:  # only now: every input has been read and checked
        from whosevalues.outfiles import write_csv_atomically

        out_dir.mkdir(parents=True, exist_ok=True)
        write_csv_atomically(item_means, out_dir / "item_means.csv")
        if answers is not None:
            _write_store_extras(answers, out_dir)
    summary, files = _analysis(item_means, populations, all_populations, out_dir, paper_compatible=paper_compatible,
                               bootstrap=bootstrap, min_valid_samples=min_valid_samples)
    for warning in summary_warnings(summary):  # departures from a balanced, fully sampled design
        console.print(Text.assemble(("warning: ", "yellow"), warning))
    if any(not population.has_respondents for pops in populations.values() for population in pops):
        from whosevalues.analysis.aggregate_similarity import AGGREGATE_NOTE

        console.print(Text.assemble(("note: ", "yellow"), AGGREGATE_NOTE))
    from whosevalues.report.write import write_report

    write_report(out_dir, files=files, summary_to=summary_to)
    return summary


def _analysis(item_means: pd.DataFrame, populations: dict, all_populations: dict, out_dir: Path,
              **options) -> tuple[dict, str]:
    """``analysis.pipeline.analyze``, or, when ``out_dir`` holds the files of an analysis of exactly these
    inputs (a rerun that changes nothing: analysis/rerun.py), its summary without analysing again; with the
    digest of the analysis files (report/reuse.py), which the report takes rather than reading them again."""
    from whosevalues.analysis import rerun

    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = rerun.inputs_hash(item_means, populations, all_populations, options, out_dir)
    reused = rerun.reusable_summary(out_dir, inputs)
    if reused is not None:
        return reused
    from whosevalues.analysis.pipeline import analyze as run_analysis
    from whosevalues.report.figures.render import discard_prewarm, prewarm

    prewarm()  # the figure workers load matplotlib on the other core meanwhile
    rerun.forget(out_dir)
    try:
        summary = run_analysis(item_means, populations, out_dir=out_dir, country_populations=all_populations,
                               **options)
    except BaseException:
        discard_prewarm()  # no figures follow: the workers would linger, in this directory
        raise
    return summary, rerun.record(out_dir, inputs)


def choose_populations(item_means: pd.DataFrame, humans: dict[str, str], countries: Optional[list[str]],
                       paper_compatible: bool, console: Console) -> tuple[dict, dict]:
    """(populations of the RQ analyses, populations of the every-country comparison), per survey."""
    from whosevalues.humans import load_populations
    from whosevalues.humans.bundled import BUNDLED_SURVEYS

    surveys = list(dict.fromkeys(item_means["survey"]))
    unknown = sorted(set(humans) - set(surveys))
    if unknown:
        raise UsageError(f"--humans names survey {unknown[0]!r}, which the LLM answers do not contain "
                         f"(they have {', '.join(surveys)})")
    every = countries is None or countries == ["all"]
    rq_countries = None if countries == ["all"] else (countries or DEFAULT_RQ_COUNTRIES)
    populations: dict[str, list] = {}
    all_populations: dict[str, list] = {}
    for survey in surveys:
        if survey not in humans and survey not in BUNDLED_SURVEYS:
            console.print(Text.assemble(("note: ", "yellow"), f"no human data for survey {survey!r}: only the "
                                        f"LLMs' answers are reported; compare with people via --humans "
                                        f"{survey}=PATH"))
            populations[survey] = all_populations[survey] = []
            continue
        wanted = None if every or countries is None else _countries_for(survey, countries, survey not in humans,
                                                                          console)
        loaded = load_populations(survey, humans.get(survey, "bundled"), countries=wanted,
                                  paper_labels=paper_compatible)
        all_populations[survey] = loaded
        populations[survey] = [p for p in loaded if rq_countries is None or p.country in rq_countries]
    return populations, all_populations


def _countries_for(survey: str, countries: list[str], bundled: bool, console: Console) -> list[str]:
    """The --countries the bundled data of ``survey`` has (a note names the others); all of them for a file."""
    from whosevalues.countries import check_codes
    from whosevalues.humans.bundled import countries_with_data

    countries = check_codes(countries, "--countries")
    if not bundled:
        return countries
    available = set(countries_with_data(survey))
    kept = [country for country in countries if country in available]
    if not kept:
        raise UsageError(f"--countries {','.join(countries)}: the bundled {survey} data has none of them; it has "
                         f"{', '.join(countries_with_data(survey))} (or pass a file with --humans {survey}=PATH)")
    if len(kept) < len(countries):
        missing = ", ".join(c for c in countries if c not in available)
        console.print(Text.assemble(("note: ", "yellow"), f"the bundled {survey} data has no {missing}: compared "
                                    f"with {', '.join(kept)} only"))
    return kept


def _write_store_extras(answers: pd.DataFrame, out_dir: Path) -> None:
    """Beside item_means.csv: the answer distributions, and each model's mode as the store records it."""
    from whosevalues.elicit.aggregate import item_distributions
    from whosevalues.outfiles import write_csv_atomically
    from whosevalues.pipeline import write_mode_notes

    distributions = item_distributions(answers)
    if len(distributions):
        write_csv_atomically(distributions, out_dir / "item_distributions.csv")
    modes, reasons = {}, {}
    for model, used in answers.groupby("model", sort=False)["mode"]:
        counts = used.value_counts()
        modes[model] = str(counts.index[0])
        reasons[model] = "as recorded in the store" + ("" if len(counts) == 1 else
                                                        ": " + ", ".join(f"{n} {m}" for m, n in counts.items()))
    write_mode_notes(out_dir, modes, reasons, [], since=0.0)  # keep what a run wrote there; modes from the store
