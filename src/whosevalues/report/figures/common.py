"""Shared styling and helpers of the report's figures: palette, sizes, saving, labels, instrument lookups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: figures are files

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

DPI = 200
# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies.
OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
COUNTRY_COLOURS = {"USA": "#0072B2", "CHN": "#D55E00"}
PAPER_WIDTH = 7.0  # inches: a two-column page width, so fonts print at their nominal size
STYLE = {
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


def colour_of(code: str, order: list[str] | None = None) -> str:
    """A fixed colour per country code (CHN, USA), others from the rest of the palette in a stable order."""
    if code in COUNTRY_COLOURS:
        return COUNTRY_COLOURS[code]
    others = [c for c in OKABE_ITO if c not in COUNTRY_COLOURS.values()]
    position = (order or [code]).index(code) if order and code in order else abs(hash(code))
    return others[position % len(others)]


def _skip(name: str, caption: str, reason: str) -> FigureResult:
    return FigureResult(name=name, paths=[], caption=caption, skipped_reason=reason)


def _save(fig, out_dir: Path, name: str, data: pd.DataFrame) -> list[Path]:
    fig_dir = out_dir / "figures"
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = [fig_dir / f"{name}.png", fig_dir / f"{name}.svg"]
    fig.savefig(paths[0], dpi=DPI, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    data.to_csv(fig_dir / f"{name}.csv", index=False)
    return paths


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
