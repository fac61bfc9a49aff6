"""The report's text reaches the page escaped exactly once (jinja2's autoescape; no Python code escapes it):
a model named ``<script>alert(1)</script>`` or ``a & b "q" 'x'`` shows as written and runs nothing."""

from __future__ import annotations

import html
import re

import pandas as pd
from markupsafe import escape

from test_report_fixtures import PAPER, needs_shared
from whosevalues.report import render
from whosevalues.report.figures import FigureResult

HOSTILE = ["<script>alert(1)</script>", "a & b \"q\" 'x'"]


def _escaped_once(page: str, text: str) -> bool:
    """Every appearance of text in the page is its escaped form, and nothing is escaped twice."""
    shown = page.count(escape(text))
    return shown > 0 and html.unescape(page).count(text) == shown and "&amp;amp;" not in page \
        and "&amp;lt;" not in page and "&amp;#" not in page


def test_section_text_table_cells_and_figures_are_escaped_once():
    frame = pd.DataFrame({HOSTILE[0]: HOSTILE, "n": [1.5, float("nan")]})
    skipped = FigureResult(name="fig_x", caption=HOSTILE[1], paths=[], skipped_reason=HOSTILE[0])
    page = render.page(HOSTILE[1], [
        ("caveats", {"points": HOSTILE}),
        ("figures", {"mixed_modes": HOSTILE[1],
                     "surveys": [{"label": HOSTILE[0], "figures": [render.figure(skipped)]}]}),
        ("models", {"table": render.table(frame), "shared_reason": HOSTILE[1], "run_notes": None}),
    ])
    assert "<script" not in page
    for text in HOSTILE:
        assert _escaped_once(page, text), text
    cells = re.findall(r"<td>([^<]*)</td>", page)
    assert cells == [str(escape(HOSTILE[0])), "1.5", str(escape(HOSTILE[1])), ""]  # NaN shown empty


def test_a_cell_of_several_lines_is_shown_as_lines_each_escaped():
    page = render.page("t", [("models", {"table": render.table(pd.DataFrame({"Steps": ["a < b\nc & d"]})),
                                         "shared_reason": None, "run_notes": None})])
    assert "<td>a &lt; b<br>c &amp; d</td>" in page


@needs_shared
def test_hostile_model_names_in_a_whole_report(tmp_path):
    from whosevalues.analysis.llm_responses import load_llm_responses
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.humans import load_populations
    from whosevalues.report.html import render_report
    from whosevalues.report.outdir import OutputDir

    means = load_llm_responses(PAPER / "llm_mfq_responses.csv")
    means = means[means["model"].isin(["gpt-4o", "deepseek-chat"])].copy()
    means["model"] = means["model"].map({"gpt-4o": HOSTILE[0], "deepseek-chat": HOSTILE[1]})
    means.to_csv(tmp_path / "item_means.csv", index=False)
    analyze(means, {"mfq2": load_populations("mfq2", "bundled", countries=["CHN", "USA"])}, out_dir=tmp_path,
            bootstrap=0)
    page = render_report(OutputDir(tmp_path), [])
    assert "<script" not in page.lower()
    for name in HOSTILE:
        assert _escaped_once(page, name), name
        models = page.split("<h2>Models and how they answered</h2>", 1)[1].split("</table>", 1)[0]
        assert f"<td>{escape(name)}</td>" in models  # the models table: its display name and its id

