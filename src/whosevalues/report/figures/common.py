"""Shared styling and helpers of the report's figures: palette, sizes, saving, labels, instrument lookups."""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DPI = 200
# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
COUNTRY_COLOURS = {"USA": "#0072B2", "CHN": "#D55E00"}
PAPER_WIDTH = 7.0  # inches: a two-column page width, so fonts print at their nominal size
STYLE: Any = {  # matplotlib's rc_context types its keys as literals
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8.5, "legend.fontsize": 7.5,
    "xtick.labelsize": 7.5, "ytick.labelsize": 7.5, "axes.spines.top": False, "axes.spines.right": False,
    "svg.fonttype": "none", "figure.dpi": 100,
}


@dataclass
class FigureResult:
    """One figure: its files (PNG then SVG), caption, and why it was skipped (None when drawn)."""

    name: str
    paths: list[Path]
    caption: str
    skipped_reason: str | None = None
    data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def png(self) -> Path | None:
        return next((p for p in self.paths if p.suffix == ".png"), None)


def pyplot():
    """matplotlib.pyplot on the Agg backend (figures are files), imported when a figure is first drawn: the
    figures' data, the report's tables and the terminal summary need no matplotlib, whose import costs about
    half a second of CPU time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def colour_of(code: str, order: list[str] | None = None) -> str:
    """A fixed colour per country code (CHN, USA), others from the rest of the palette in a stable order."""
    if code in COUNTRY_COLOURS:
        return COUNTRY_COLOURS[code]
    others = [c for c in OKABE_ITO if c not in COUNTRY_COLOURS.values()]
    # crc32, not hash(): Python salts str hashes per process, and a colour must not change between runs
    position = order.index(code) if order and code in order else zlib.crc32(code.encode())
    return others[position % len(others)]


def _skip(name: str, caption: str, reason: str) -> FigureResult:
    return FigureResult(name=name, paths=[], caption=caption, skipped_reason=reason)


def _save(fig, out_dir: Path, name: str, data: pd.DataFrame, survey: str | None = None) -> list[Path]:
    """Write the figure as PNG and SVG, its data as CSV, and the hash of its inputs (see ``_reuse``).

    The figure is drawn once at the PNG's resolution: that draw lays it out (constrained layout) and renders
    it, its tight bounding box is measured with the same renderer (whose text measurements are cached), and
    the PNG is those pixels cut to the box. Only the SVG draws again, with the layout engine off. (savefig's
    bbox_inches="tight" would lay out and measure the figure again for each file, and a PNG from savefig
    would render it a second time: together most of the cost of a figure.)"""
    plt = pyplot()
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = [fig_dir / f"{name}.png", fig_dir / f"{name}.svg"]
    svg_dpi = fig.dpi
    fig.set_dpi(DPI)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.get_tightbbox(renderer).padded(plt.rcParams["savefig.pad_inches"])
    fig.set_layout_engine("none")
    fig._layout_engine = None  # "none" leaves a placeholder engine, which savefig would lay out again
    if not _write_png_from_canvas(fig, box, paths[0]):
        fig.savefig(paths[0], dpi=DPI, bbox_inches=box)
    fig.savefig(paths[1], dpi=svg_dpi, bbox_inches=box, metadata={"Date": None})  # no date: same inputs, same file
    plt.close(fig)
    data.to_csv(fig_dir / f"{name}.csv", index=False)
    (fig_dir / f"{name}.inputs").write_text(inputs_hash(name, data, survey), encoding="utf-8")
    return paths


def _write_png_from_canvas(fig, box, path: Path) -> bool:
    """The pixels the canvas holds inside ``box`` (inches) as a PNG, as savefig writes one: where the box
    reaches beyond the figure (the padding around a figure laid out to its edges), the figure's background
    colour. False when something was drawn outside the figure (savefig would enlarge the canvas to show it)."""
    import matplotlib.colors
    import matplotlib.image

    pixels = np.asarray(fig.canvas.buffer_rgba())
    height, width = pixels.shape[:2]
    x0, top = round(box.x0 * DPI), round(height - box.y1 * DPI)
    x1, bottom = x0 + int(box.width * DPI), top + int(box.height * DPI)  # savefig's size: truncated, as Agg's
    if x1 <= x0 or bottom <= top:
        return False
    inside = fig.get_tightbbox(fig.canvas.get_renderer())  # without padding: what is drawn
    if inside.x0 < 0 or inside.y0 < 0 or inside.x1 > fig.get_figwidth() or inside.y1 > fig.get_figheight():
        return False
    background = np.array(matplotlib.colors.to_rgba(fig.get_facecolor())) * 255
    image = np.empty((bottom - top, x1 - x0, 4), dtype=np.uint8)
    image[:] = np.round(background).astype(np.uint8)
    rows, columns = slice(max(top, 0), min(bottom, height)), slice(max(x0, 0), min(x1, width))
    image[rows.start - top:rows.stop - top, columns.start - x0:columns.stop - x0] = pixels[rows, columns]
    matplotlib.image.imsave(path, image, format="png", origin="upper", dpi=DPI)
    return True


# -- skipping figures whose inputs did not change ------------------------------------------------

def _survey_fingerprint(survey: str | None) -> str:
    """A user's own survey file can change labels without changing the package: its items and dimensions."""
    instrument = _instrument(survey) if survey else None
    if instrument is None:
        return ""
    return repr((instrument.id, instrument.dimension_kind, instrument.dimensions,
                 [(item.id, getattr(item, "gloss", None)) for item in instrument.items]))


def inputs_hash(name: str, data: pd.DataFrame, survey: str | None = None) -> str:
    from whosevalues.report.reuse import code_fingerprint

    digest = hashlib.sha256(f"{code_fingerprint()}\0{name}\0{_survey_fingerprint(survey)}\0".encode())
    digest.update(data.to_csv(index=False).encode())
    return digest.hexdigest()


def _reuse(out_dir: Path, name: str, data: pd.DataFrame, survey: str | None = None) -> list[Path] | None:
    """The figure's files when an earlier ``_save`` drew it from the same data with the same code (its
    ``.inputs`` hash matches and every file is still there), else None: the caller draws it. Checked before
    drawing, so a rerun that changes nothing draws nothing."""
    fig_dir = out_dir / "figures"
    paths = [fig_dir / f"{name}.png", fig_dir / f"{name}.svg"]
    stamp = fig_dir / f"{name}.inputs"
    if not (stamp.is_file() and all(p.is_file() for p in paths) and (fig_dir / f"{name}.csv").is_file()):
        return None
    return paths if stamp.read_text(encoding="utf-8").strip() == inputs_hash(name, data, survey) else None


def _top_legend(fig, ax, title: str) -> None:
    """The figure's title with one legend under it, above every panel, so it never hides bars. The title is
    the legend's own title: constrained layout (which the figure must use) then reserves room for both,
    where a separate suptitle would overlap an "outside" legend."""
    handles, labels = ax.get_legend_handles_labels()
    fig.legend(handles, labels, title=title, title_fontsize=9, loc="outside upper center",
               ncol=min(len(labels), 4), frameon=False)


def _instrument(survey: str):
    from whosevalues.instruments import load_instrument

    try:
        return load_instrument(survey)
    except (ValueError, KeyError):
        return None


def _item_order(survey: str, items) -> list[str]:
    instrument = _instrument(survey)
    present = list(dict.fromkeys(map(str, items)))
    if instrument is None:
        return present
    ordered = [i for i in instrument.item_ids if i in present]
    return ordered + [i for i in present if i not in ordered]


def _dimension_map(survey: str) -> dict[str, str]:
    instrument = _instrument(survey)
    return instrument.dimension_of() if instrument is not None else {}


def _dimension_kind(survey: str) -> str:
    """What the survey calls its dimensions ("foundation", "question", ...), for captions and axes."""
    instrument = _instrument(survey)
    return instrument.dimension_kind if instrument is not None else "dimension"


def _dimension_label(survey: str, dimension: str) -> str:
    instrument = _instrument(survey)
    if instrument is not None and not instrument.dimensions:
        try:
            gloss = instrument.item(dimension).gloss
            return f"{dimension} {gloss}" if gloss else dimension
        except KeyError:
            pass
    return dimension


def _origin_label(origin: str) -> str:
    return f"LLMs made in {origin}"


def _population_label(country: str) -> str:
    return f"{country} respondents"


def _z(values: pd.Series) -> pd.Series:
    sd = values.std(ddof=1)
    return (values - values.mean()) / sd if sd and sd > 0 else values * np.nan


def _dimensions_of(frame: pd.DataFrame, dims: dict[str, str]) -> pd.Series:
    if "dimension" in frame and frame["dimension"].notna().all():
        return frame["dimension"].astype(str)
    return frame["item"].astype(str).map(lambda i: dims.get(i, i))


def _dimension_order(survey: str, present) -> list[str]:
    instrument = _instrument(survey)
    present = list(dict.fromkeys(map(str, present)))
    if instrument is None:
        return present
    canonical = instrument.dimensions or instrument.item_ids
    return [d for d in canonical if d in present] + [d for d in present if d not in canonical]


def _grouped_bars(ax, data: pd.DataFrame, *, group: str, hue: str, groups: list, hues: list, hue_label,
                  value: str = "mean", hatch_of=None) -> None:
    width = 0.8 / max(len(hues), 1)
    for j, h in enumerate(hues):
        sub = data[data[hue] == h].set_index(group).reindex(groups)
        x = np.arange(len(groups)) - 0.4 + width * (j + 0.5)
        yerr = None
        if {"ci_low", "ci_high"} <= set(sub.columns) and sub["ci_low"].notna().any():
            yerr = np.vstack([sub[value] - sub["ci_low"], sub["ci_high"] - sub[value]])
            yerr = np.nan_to_num(yerr)
        ax.bar(x, sub[value], width * 0.95, yerr=yerr, capsize=2, color=colour_of(str(h), hues),
               label=hue_label(h), edgecolor="black", linewidth=0.4, hatch=hatch_of(h) if hatch_of else None,
               error_kw={"elinewidth": 0.7})
    ax.axhline(0, color="black", linewidth=0.5)
