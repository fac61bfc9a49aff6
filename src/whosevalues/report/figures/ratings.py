"""Figure 2: normalised (z-scored) ratings per dimension, respondents by country and LLMs by origin."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.figures.common import (
    PAPER_WIDTH,
    FigureResult,
    _dimension_kind,
    _dimension_label,
    _dimension_map,
    _dimension_order,
    _dimensions_of,
    _origin_label,
    _population_label,
    _reuse,
    _save,
    _skip,
    _top_legend,
    _z,
    colour_of,
    pyplot,
)
from whosevalues.report.figures.similarity import HIGHLIGHTED
from whosevalues.report.outdir import OutputDir, ci_table, survey_label

# == Figure 2 ====================================================================================

def fig2_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Mean z-scored rating per dimension: respondents by country, LLMs by origin (persona none)."""
    dims = _dimension_map(survey)
    records = []
    stats = out.human_item_stats()
    if stats is not None:
        stats = stats[stats["survey"] == survey].copy()
        for country, group in stats.groupby("country"):
            z = group["z_mean"] if "z_mean" in group and group["z_mean"].notna().all() else _z(group["mean"])
            group = group.assign(z=z.to_numpy(), dimension=_dimensions_of(group, dims))
            for dimension, values in group.groupby("dimension")["z"]:
                records.append(dict(group="Respondents", country=country, dimension=dimension,
                                    z=float(values.mean()), ci_low=np.nan, ci_high=np.nan, n=int(group["n"].max())
                                    if "n" in group else np.nan))
    records += _aggregate_human_z(out, survey, dims, {r["country"] for r in records})
    means = out.survey_means(survey)
    means = means[means["persona"] == "none"] if "persona" in means else means
    if len(means):
        # z within each model and language (the paper's LLM vectors), then the model's mean per dimension
        means = means.dropna(subset=["mean"]).copy()
        means["z"] = means.groupby(["model", "language"])["mean"].transform(_z)
        means["dimension"] = _dimensions_of(means, dims)
        per_model = means.groupby(["origin", "model", "dimension"], as_index=False)["z"].mean()
        llms = ci_table(per_model, ["origin", "dimension"], "z", ["country", "dimension"])
        records += llms.rename(columns={"mean": "z"}).assign(group="LLMs").to_dict("records")
    if not records:
        return None
    data = pd.DataFrame(records)
    order = _dimension_order(survey, data["dimension"])
    data["dimension"] = pd.Categorical(data["dimension"], order, ordered=True)
    return data.sort_values(["dimension", "group", "country"]).reset_index(drop=True)


def _aggregate_human_z(out: OutputDir, survey: str, dims: dict[str, str], done: set[str]) -> list[dict]:
    """Populations absent from human_item_stats.csv (aggregate-only data such as bundled WVS): z-score the
    item means from their audit in populations.json, since within-respondent z needs respondents."""
    records = []
    for record in out.populations():
        item_means = (record.get("audit") or {}).get("item_means")
        if record.get("survey") != survey or str(record.get("country")) in done or not isinstance(item_means, dict):
            continue
        z = _z(pd.Series(item_means, dtype=float))
        per_dimension = z.groupby(z.index.map(lambda i: dims.get(str(i), str(i)))).mean()
        records += [dict(group="Respondents", country=str(record["country"]), dimension=dimension, z=float(value),
                         ci_low=np.nan, ci_high=np.nan, n=record.get("n", np.nan))
                    for dimension, value in per_dimension.items()]
    return records


# == many populations: the RQ populations and the few closest to and furthest from the LLMs ==========

def rq_populations(out: OutputDir, survey: str) -> list[str]:
    """The populations the RQ analyses compared (populations.json records an ``analysis`` for them); when
    those are many (``--countries all``), the paper's pair among them."""
    used = [str(r["country"]) for r in out.populations() if r.get("survey") == survey and r.get("analysis")]
    return used if len(used) <= len(HIGHLIGHTED) else [c for c in HIGHLIGHTED if c in used]


def shown_respondents(data: pd.DataFrame, highlighted: list[str], few: int = 2, limit: int = 6,
                      kind: str = "dimension") -> tuple[list[str], str]:
    """Every respondent population when at most ``limit``; else the ``highlighted`` ones and the ``few``
    closest to and furthest from the LLMs (Euclidean distance between the population's and the LLMs' mean
    z-profile over the dimensions). Also a caption sentence saying what was left out."""
    humans = data[data["group"] == "Respondents"].pivot_table(index="country", columns="dimension", values="z",
                                                              observed=True)
    if len(humans) <= limit:
        return sorted(humans.index), ""
    llms = data[data["group"] == "LLMs"].groupby("dimension", observed=True)["z"].mean()
    if llms.empty:  # nothing to be close to: keep the highlighted ones only
        distance = pd.Series(dtype=float)
    else:
        distance = ((humans[llms.index] - llms) ** 2).mean(axis=1, skipna=True).pow(0.5).dropna().sort_values()
    closest, furthest = list(distance.index[:few]), list(distance.index[-few:]) if len(distance) > few else []
    shown = list(dict.fromkeys([c for c in highlighted if c in humans.index] + closest + furthest))
    named = " and ".join(c for c in highlighted if c in humans.index)
    named = f"{named} (compared in the RQ analyses) and " if named else ""
    return shown, (f" Showing {len(shown)} of {len(humans)} respondent populations: {named}the "
                   f"{len(closest)} closest to and {len(furthest)} furthest from the LLMs' "
                   f"mean profile (root mean squared difference over the {len(llms)} {kind}s); the full "
                   f"data, every population, are in the figure's CSV (column shown).")


def figure2(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig2_{survey}"
    label = survey_label(survey)
    kind = _dimension_kind(survey)
    caption = (f"Figure 2 ({label}). Normalised ratings per {kind}: respondents by country (hatched) and LLMs "
               f"by origin (solid). Ratings are z-scored within each respondent and within each LLM and prompt "
               f"language (persona none), then averaged over the {kind}'s items; LLM error bars are 95% "
               f"confidence intervals over models.")
    data = fig2_data(out, survey)
    if data is None:
        return _skip(name, caption, f"neither human_item_stats.csv nor item means for {label}")
    stats = out.human_item_stats()
    if (data["group"] == "Respondents").any() and (stats is None or not (stats["survey"] == survey).any()):
        caption += (" The respondents' data are aggregates only, so each population's item means are z-scored "
                    "across items instead.")
    shown, left_out = shown_respondents(data, rq_populations(out, survey), kind=kind)
    caption += left_out
    data = data.assign(shown=(data["group"] == "LLMs") | data["country"].isin(shown))
    if (paths := _reuse(out.path, name, data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption, data=data)
    saved, data = data, data[data["shown"]]
    data = data.assign(key=data["group"] + " " + data["country"])
    keys = sorted(data["key"].unique(), key=lambda k: (not k.startswith("Resp"), k))
    dims = list(data["dimension"].cat.categories)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(PAPER_WIDTH if len(dims) > 8 else min(PAPER_WIDTH, 1.6 + 0.9 * len(dims)), 3.2),
                           layout="constrained")
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        sub = data[data["key"] == key].set_index("dimension").reindex(dims)
        group, country = key.split(" ", 1)
        x = np.arange(len(dims)) - 0.4 + width * (j + 0.5)
        yerr = np.nan_to_num(np.vstack([sub["z"] - sub["ci_low"], sub["ci_high"] - sub["z"]]))
        human = group == "Respondents"
        colour = colour_of(country, sorted(data["country"].unique()))
        ax.bar(x, sub["z"], width * 0.95, yerr=None if human else yerr, capsize=1.5,
               color="white" if human else colour, edgecolor=colour, hatch="////" if human else None,
               linewidth=0.8, label=_population_label(country) if human else _origin_label(country),
               error_kw={"elinewidth": 0.6})
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_xticks(range(len(dims)), [_dimension_label(survey, d) for d in dims],
                  rotation=45 if len(dims) > 8 else 0, ha="right" if len(dims) > 8 else "center")
    ax.set_ylabel("Mean z-scored rating")
    ax.set_xlabel(kind.capitalize())
    _top_legend(fig, ax, f"{label}: normalised ratings of humans and LLMs")
    return FigureResult(name, _save(fig, out.path, name, saved, survey), caption, data=saved)
