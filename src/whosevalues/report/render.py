"""The report's markup: one jinja2 environment over ``report/templates/``, and the plain data its macros take.

Python decides what a section shows (text, numbers, lists, dicts); the templates decide how. Autoescape is on
for every template, so no Python code escapes text for the page: a value reaches the HTML escaped once, by
jinja2. ``report.html.j2`` is the page, ``sections/<name>.html.j2`` one section each (given ``section``, the
dict its Python function returned), ``macros.html.j2`` the tables and figures they share.
"""

from __future__ import annotations

import base64
from functools import lru_cache
from typing import TYPE_CHECKING

import pandas as pd

from whosevalues.report.figures import FigureResult

if TYPE_CHECKING:
    import jinja2


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The one environment, made on first use: a rerun whose report is current renders nothing and need not
    import jinja2."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("whosevalues.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,  # each section ends its own line
    )


def page(title: str, sections: list[tuple[str, dict]]) -> str:
    """The whole page: ``sections`` are (template name under sections/, its data), in page order."""
    return environment().get_template("report.html.j2").render(title=title, sections=sections)


def section(name: str, section: dict | None) -> str:
    """One section on its own (templates/sections/<name>.html.j2); "" when the section has nothing to show."""
    if section is None:
        return ""
    return environment().get_template(f"sections/{name}.html.j2").render(section=section)


def table(frame: pd.DataFrame, index: bool = False) -> dict:
    """A DataFrame as the ``table`` macro shows it: column names and rows of cell texts (a cell's lines are
    shown as lines), missing values empty and numbers as pandas prints them. With ``index``, the index is the
    first column, its cells row headers."""
    if index:
        frame = frame.rename_axis(frame.index.name or "").reset_index()
    texts = [_cell_texts(frame.iloc[:, i]) for i in range(frame.shape[1])]
    return {"columns": [str(c) for c in frame.columns], "rows": [list(row) for row in zip(*texts)],
            "row_headers": index}


def _cell_texts(column: pd.Series) -> list[str]:
    if pd.api.types.is_float_dtype(column) and len(column):  # a column's floats to the same precision
        return [text.strip() for text in column.to_string(index=False, na_rep="").split("\n")]
    return ["" if _missing(value) else str(value) for value in column]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NA or value is pd.NaT


def figure(result: FigureResult | None) -> dict | None:
    """A figure for the ``figure`` macro: drawn (inline base64 PNG at its printed size) or skipped with why."""
    if result is None:
        return None
    shown: dict = {"name": result.name, "caption": result.caption, "skipped_reason": result.skipped_reason,
                   "width": None, "png_base64": None}
    if result.skipped_reason:
        return shown
    assert result.png is not None, "a figure not skipped was drawn"
    png = result.png.read_bytes()
    # shown at its printed size (200 dpi -> 96 CSS px per inch), so fonts read as on paper
    return {**shown, "width": int(int.from_bytes(png[16:20], "big") * 96 / 200),
            "png_base64": base64.b64encode(png).decode("ascii")}
