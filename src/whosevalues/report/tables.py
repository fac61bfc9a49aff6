"""RQ1/RQ2/RQ3 tables as Markdown and LaTeX (booktabs) next to the analysis CSVs, and Table 2 in the
paper's layout (predictor, beta, SE, p; both surveys side by side when both were analysed).

Numbers are formatted as in the paper: no leading zero (.207), p below R's double precision as "< 2e-16".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from whosevalues.report.outdir import OutputDir, survey_label

RQ_KINDS = ("rq1", "rq2", "rq3", "welch")
RQ_TITLES = {
    "rq1": "RQ1: cosine ~ nationality x LLM origin (persona none, respondents' language)",
    "rq2": "RQ2 (Table 2): cosine ~ congruence of language x persona x LLM origin with the respondent's nationality",
    "rq3": "RQ3: cosine ~ nationality x LLM origin x removed dimension (reference: nothing removed)",
    "welch": "RQ1 per model: Welch t-tests of similarity to CHN vs USA respondents",
}
TERM_NAMES = {"Intercept": "Intercept", "nationality": "Nationality", "origin": "LLM origin",
              "language": "Language", "persona": "Persona"}
TABLE2_TERMS = ["Intercept", "language", "persona", "origin", "language:persona", "language:origin",
                "persona:origin", "language:persona:origin"]
STANDARD = ["estimate", "std_error", "t_value", "p_value"]
ROBUST_HEADERS = {"se_cluster_respondent": "SE (cl. resp.)", "se_cluster_model": "SE (cl. model)",
                  "se_twoway": "SE (two-way)", "p_twoway": "p (two-way)", "boot_se_models": "SE (boot. models)"}


# -- formatting ------------------------------------------------------------------------------------

def fmt_number(value, digits: int = 3) -> str:
    """.207, -.030, 1.250: the paper drops the leading zero of numbers below 1."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{value:.{digits}f}"
    return text.replace("0.", ".", 1) if abs(value) < 1 else text


def fmt_p(value) -> str:
    if value is None or pd.isna(value):
        return ""
    value = float(value)
    if value < 2.2e-16:
        return "< 2e-16"
    if value < 1e-4:
        return f"{value:.0e}".replace("e-0", "e-")
    return fmt_number(value, 4)


def term_label(term: str) -> str:
    """``nationality:removed[Care]`` -> ``Nationality : Removed Care``."""
    parts = []
    for part in str(term).split(":"):
        if part.startswith("removed[") and part.endswith("]"):
            parts.append(f"Removed {part[len('removed['):-1]}")
        else:
            parts.append(TERM_NAMES.get(part, part))
    return " : ".join(parts)


def format_regression(table: pd.DataFrame) -> pd.DataFrame:
    """A coefficient table as display strings: Predictor, beta, SE, t, p, then any robust columns present."""
    shown = pd.DataFrame({"Predictor": table["term"].map(term_label)})
    shown["β"] = table["estimate"].map(fmt_number)
    shown["SE"] = table["std_error"].map(fmt_number)
    if "t_value" in table:
        shown["t"] = table["t_value"].map(lambda v: fmt_number(v, 2))
    shown["p"] = table["p_value"].map(fmt_p)
    for column, header in ROBUST_HEADERS.items():
        if column in table and table[column].notna().any():
            shown[header] = table[column].map(fmt_p if column.startswith("p_") else fmt_number)
    if {"boot_ci_low", "boot_ci_high"} <= set(table.columns) and table["boot_ci_low"].notna().any():
        shown["95% CI (boot.)"] = [f"[{fmt_number(lo)}, {fmt_number(hi)}]" if pd.notna(lo) else ""
                                  for lo, hi in zip(table["boot_ci_low"], table["boot_ci_high"])]
    return shown


def format_generic(table: pd.DataFrame) -> pd.DataFrame:
    """Any other table (e.g. Welch tests): numbers to 3 decimals, p columns in p format."""
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            formatter = fmt_p if column.lower().startswith("p") else fmt_number
            shown[column] = shown[column].map(formatter)
    return shown.astype(str).replace("nan", "")


def table2(out: OutputDir) -> pd.DataFrame | None:
    """The paper's Table 2: RQ2 coefficients, one (β, SE, p) block per survey, side by side."""
    blocks = []
    for survey in out.surveys():
        table = out.table("rq2", survey)
        if table is None:
            continue
        table = table.set_index(table["term"].astype(str))
        terms = [t for t in TABLE2_TERMS if t in table.index] + [t for t in table.index if t not in TABLE2_TERMS]
        label = survey_label(survey)
        block = pd.DataFrame({
            (label, "β"): [fmt_number(table.at[t, "estimate"]) for t in terms],
            (label, "SE"): [fmt_number(table.at[t, "std_error"]) for t in terms],
            (label, "p"): [fmt_p(table.at[t, "p_value"]) for t in terms],
        }, index=[term_label(t) for t in terms])
        blocks.append(block)
    if not blocks:
        return None
    joined = pd.concat(blocks, axis=1).fillna("")
    joined.index.name = "Predictor"
    return joined


# -- Markdown and LaTeX ----------------------------------------------------------------------------

def to_markdown(table: pd.DataFrame, title: str = "") -> str:
    if isinstance(table.columns, pd.MultiIndex):
        headers = [table.index.name or ""] + [f"{a} {b}" for a, b in table.columns]
        rows = [[str(i), *map(str, r)] for i, r in zip(table.index, table.to_numpy())]
    else:
        headers = list(map(str, table.columns))
        rows = [list(map(str, r)) for r in table.to_numpy()]
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(headers) + " |")
    lines.append("|" + "|".join(":---" if k == 0 else "---:" for k in range(len(headers))) + "|")
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
                    "<": r"$<$", ">": r"$>$", "β": r"$\beta$"}
    return "".join(replacements.get(ch, ch) for ch in str(text))


def to_latex(table: pd.DataFrame, caption: str = "", label: str = "") -> str:
    """A booktabs table (needs \\usepackage{booktabs})."""
    multi = isinstance(table.columns, pd.MultiIndex)
    n_data = len(table.columns)
    lines = [r"\begin{table}[t]", r"\centering"]
    if caption:
        lines.append(rf"\caption{{{_latex_escape(caption)}}}")
    if label:
        lines.append(rf"\label{{{label}}}")
    lines.append(r"\begin{tabular}{l" + "r" * (n_data if multi else n_data - 1) + "}")
    lines.append(r"\toprule")
    if multi:
        groups = list(dict.fromkeys(a for a, _ in table.columns))
        spans = [(g, sum(1 for a, _ in table.columns if a == g)) for g in groups]
        lines.append(" & " + " & ".join(rf"\multicolumn{{{n}}}{{c}}{{{_latex_escape(g)}}}" for g, n in spans)
                     + r" \\")
        start, rules = 2, []
        for _, n in spans:
            rules.append(rf"\cmidrule(lr){{{start}-{start + n - 1}}}")
            start += n
        lines.append(" ".join(rules))
        lines.append(_latex_escape(table.index.name or "") + " & "
                     + " & ".join(_latex_escape(b) for _, b in table.columns) + r" \\")
        body = [[str(i), *map(str, r)] for i, r in zip(table.index, table.to_numpy())]
    else:
        lines.append(" & ".join(_latex_escape(c) for c in table.columns) + r" \\")
        body = [list(map(str, r)) for r in table.to_numpy()]
    lines.append(r"\midrule")
    lines += [" & ".join(_latex_escape(cell) for cell in row) + r" \\" for row in body]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines) + "\n"


# -- writing ---------------------------------------------------------------------------------------

def formatted_tables(out: OutputDir) -> list[tuple[str, str, pd.DataFrame]]:
    """(file stem, title, display table) for every table CSV present, in RQ order per survey."""
    found = []
    for survey in out.surveys():
        for kind in RQ_KINDS:
            table = out.table(kind, survey)
            if table is None or not len(table):
                continue
            regression = {"term", "estimate", "std_error", "p_value"} <= set(table.columns)
            shown = format_regression(table) if regression else format_generic(table)
            found.append((f"{kind}_{survey}", f"{RQ_TITLES[kind]} — {survey_label(survey)}", shown))
    return found


def write_tables(out_dir: OutputDir | Path | str) -> list[Path]:
    """Write tables/<rq>_<survey>.md and .tex for every table CSV, tables/table2.md/.tex and
    tables/validity.md/.tex (every model x condition); returns the paths."""
    out = out_dir if isinstance(out_dir, OutputDir) else OutputDir(out_dir)
    folder = out.path / "tables"
    written: list[Path] = []
    for stem, title, shown in formatted_tables(out):
        written += _write_pair(folder, stem, shown, title)
    paper_table = table2(out)
    if paper_table is not None:
        title = ("Table 2. Cosine similarity of LLM and human answers regressed on the congruence of the "
                 "respondent's nationality with prompt language, persona and LLM origin (sum coded, mean "
                 "centred, congruent positive).")
        written += _write_pair(folder, "table2", paper_table, title)
    from whosevalues.report.answers import validity_table

    validity = validity_table(out, every_condition=True)
    if validity is not None and len(validity):  # .md/.tex only: a CSV here would read as an analysis file
        written += _write_pair(folder, "validity", validity,
                               "Answer validity per model and condition, in the terms of each model's answer mode")
    return written


def _write_pair(folder: Path, stem: str, table: pd.DataFrame, title: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    md, tex = folder / f"{stem}.md", folder / f"{stem}.tex"
    md.write_text(to_markdown(table, title), encoding="utf-8")
    tex.write_text(to_latex(table, caption=title, label=f"tab:{stem}"), encoding="utf-8")
    return [md, tex]
