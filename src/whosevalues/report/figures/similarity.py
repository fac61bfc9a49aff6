"""Similarity of LLMs to each population: the shared RQ1 aggregations, Figure 1 (by origin) and Figure 3
(each LLM, and the mean-rating references)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from whosevalues.report.figures.common import (
    PAPER_WIDTH,
    FigureResult,
    _grouped_bars,
    _origin_label,
    _population_label,
    _reuse,
    _save,
    _skip,
    _z,
    colour_of,
    pyplot,
)
from whosevalues.report.outdir import OutputDir, ci_table, display_name, is_original, original_format, survey_label

# == shared aggregations =========================================================================

def rq1_rows(out: OutputDir, survey: str) -> tuple[pd.DataFrame | None, str]:
    """The respondent x model cosines of RQ1, or per-model cosines of item means when only aggregates exist.

    Returns (frame with model, origin, population, cosine[, respondent]), and the unit a row stands for.
    """
    sim = original_format(out.similarity(survey, "rq1"))
    if sim is not None and len(sim):
        rows = sim.rename(columns={"nationality": "population"})
        return rows[[c for c in ("respondent", "model", "origin", "population", "cosine") if c in rows]], "respondent"
    agg = original_format(out.aggregate_similarity(survey))
    if agg is not None and len(agg):
        rows = agg[agg["persona"].astype(str) == "none"] if "persona" in agg else agg
        rows = rows.rename(columns={"country": "population", "cosine_item_means": "cosine"})
        rows = rows.groupby(["model", "origin", "population"], as_index=False)["cosine"].mean()
        return rows, "model"
    rows = item_mean_cosines(out, survey)
    return (rows, "model") if rows is not None else (None, "")


# The prompt language that matches a population, as in the paper's RQ1; other populations use every language.
RESPONDENT_LANGUAGE = {"CHN": "zh", "USA": "en"}


def item_mean_cosines(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Last resort when the analysis wrote no similarity file (e.g. models of one origin only): the cosine
    between each model's z-scored item means (persona none) and each population's z-scored item means."""
    stats, means = out.human_item_stats(), out.survey_means(survey)
    if stats is None or not len(means):
        return None
    stats = stats[stats["survey"] == survey]
    means = means[means["persona"] == "none"] if (means["persona"] == "none").any() else means
    records = []
    for country, human in stats.groupby("country"):
        target = human.set_index("item")["mean"].astype(float)
        for (model, origin, language), llm in means.groupby(["model", "origin", "language"]):
            if RESPONDENT_LANGUAGE.get(str(country)) in set(means.loc[means["model"] == model, "language"]) \
                    and language != RESPONDENT_LANGUAGE[str(country)]:
                continue
            vector = llm.groupby("item")["mean"].mean().reindex(target.index)
            both = pd.concat([_z(vector), _z(target)], axis=1).dropna()
            if len(both) > 1:
                a, b = both.iloc[:, 0].to_numpy(), both.iloc[:, 1].to_numpy()
                cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
                records.append(dict(model=model, origin=origin, population=str(country), cosine=cosine))
    if not records:
        return None
    return pd.DataFrame(records).groupby(["model", "origin", "population"], as_index=False)["cosine"].mean()


def model_similarity(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Mean cosine of each model to each population (RQ1 conditions), with a 95% CI over respondents."""
    rows, _ = rq1_rows(out, survey)
    if rows is None:
        return None
    table = ci_table(rows, ["model", "origin", "population"], "cosine")
    table.insert(1, "display_name", table["model"].map(display_name))
    return table


# == many populations: the closest and furthest few, and the human baselines ===================

HIGHLIGHTED = ("CHN", "USA")


def shown_populations(data: pd.DataFrame, few: int, limit: int) -> tuple[list[str], str]:
    """Every population when at most ``limit``; else CHN and USA and the ``few`` most and least similar (mean
    similarity over the rows), most similar first. Also a caption sentence saying what was left out."""
    overall = data.groupby("population")["mean"].mean().sort_values(ascending=False)
    if len(overall) <= limit:
        return sorted(overall.index), ""
    picked = set(overall.index[:few]) | set(overall.index[-few:]) | {p for p in HIGHLIGHTED if p in overall.index}
    shown = [p for p in overall.index if p in picked]
    return shown, (f" Showing {len(shown)} of {len(overall)} populations, most similar first: "
                   f"{' and '.join(p for p in HIGHLIGHTED if p in overall.index) or 'none of CHN and USA'}, and "
                   f"the {few} most and {few} least similar; every population is in the figure's CSV "
                   f"(column shown) and in countries_<survey>.csv.")


def read_baselines(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """baselines_<survey>.csv (country, n_respondents, pairwise_cosine, own_mean_cosine_loo,
    other_mean_cosine) when the analysis wrote it: how similar respondents are to each other."""
    path = out.path / f"baselines_{survey}.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])
    if "versus" in table:  # human rows only: the null respondents (country random, ...) compare with a population
        table = table[table["versus"].isna()]
    return table if len(table) else None


# Reference lines drawn from baselines_<survey>.csv: column, line style, legend text.
BASELINE_LINES = (
    ("own_mean_cosine_loo", "-", "respondent vs own country's mean"),
    ("pairwise_cosine", ":", "two respondents, same country"),
    ("other_mean_cosine", "--", "respondent vs other countries' mean"),
)
BASELINE_GID = "baseline"  # marks the reference lines, which get their own legend under the plot


def _draw_baselines(ax, baselines: pd.DataFrame | None, populations: list[str], half_width: float = 0.45) -> bool:
    """Short black lines over each population's group of bars; True when any was drawn."""
    if baselines is None:
        return False
    rows = baselines.set_index(baselines["country"].astype(str))
    drawn = set()
    for x, population in enumerate(populations):
        if population not in rows.index:
            continue
        for column, style, text in BASELINE_LINES:
            value = rows.loc[population].get(column)
            if value is None or pd.isna(value):
                continue
            lines = ax.hlines(float(value), x - half_width, x + half_width, colors="black", linestyles=style,
                              lw=1.0, label=None if column in drawn else text, zorder=4)
            lines.set_gid(BASELINE_GID)
            drawn.add(column)
    return bool(drawn)


def _for_shown(baselines: pd.DataFrame | None, populations: list[str]) -> pd.DataFrame | None:
    """The baselines of the populations the figure shows (None when it shows none of them)."""
    if baselines is None:
        return None
    kept = baselines[baselines["country"].astype(str).isin(populations)]
    return kept if len(kept) else None


def _with_baselines(data: pd.DataFrame, baselines: pd.DataFrame | None) -> pd.DataFrame:
    """The plotted rows with each population's baselines as extra columns (``baseline_<column>``)."""
    if baselines is None:
        return data
    columns = {column: f"baseline_{column}" for column, _, _ in BASELINE_LINES}
    extra = baselines.set_index(baselines["country"].astype(str))[list(columns)].rename(columns=columns)
    return data.join(extra, on="population")


# == the random respondent: how close a model with no values would come ===========================

NULL_RESPONDENT = "random"
BAND_COLUMNS = ["null_mean", "null_low", "null_high"]
BAND_LABEL = "random respondent, 95% range"


RESPONDENT_METRIC, VECTOR_METRIC = "respondent_cosine", "similarity"


def random_band(out: OutputDir, survey: str, populations: list[str] | None = None,
                metric: str = RESPONDENT_METRIC, level: str = "item") -> pd.DataFrame | None:
    """Per population (``versus``): the random respondent's expected z-cosine and its 95% range, from the
    ``random`` rows of baselines_<survey>.csv; None when the file has none. ``metric``: the figure's own
    (``respondent_cosine``, the mean cosine with the population's respondents; ``similarity``, the cosine with
    its mean vector), at ``level`` (item or dimension), when the file says which metric a row is."""
    path = out.path / f"baselines_{survey}.csv"
    if not path.is_file():
        return None
    table = pd.read_csv(path, keep_default_na=False, na_values=[""])  # every row: the null respondents too
    if not {"country", "versus", "null_low", "null_high"} <= set(table.columns):
        return None
    rows = table[table["country"].astype(str) == NULL_RESPONDENT]
    if "variant" in rows:  # the random respondent has no format; first/last-option rows carry one
        rows = rows[is_original(rows["variant"])]
    if "metric" in rows:
        rows = rows[rows["metric"].astype(str) == metric]
    if "level" in rows and (rows["level"].astype(str) == level).any():
        rows = rows[rows["level"].astype(str) == level]
    rows = rows.assign(population=rows["versus"].astype(str)).drop_duplicates("population")
    if populations is not None:
        rows = rows[rows["population"].isin(populations)]
    rows = rows.dropna(subset=["null_low", "null_high"])
    if rows.empty:
        return None
    columns = ["population", *[c for c in BAND_COLUMNS if c in rows], *(["metric"] if "metric" in rows else [])]
    return rows[columns].reset_index(drop=True)


def _with_band(data: pd.DataFrame, band: pd.DataFrame | None, on: str = "population") -> pd.DataFrame:
    """The plotted rows with the random respondent's band of their population (columns null_*)."""
    if band is None:
        return data
    extra = band.set_index("population")[[c for c in BAND_COLUMNS if c in band]]
    return data.join(extra, on=on)


def band_caption(band: pd.DataFrame | None, survey: str) -> str:
    if band is None:
        return (f" No random-respondent band (no 'random' rows in baselines_{survey}.csv): how close chance "
                f"comes is not shown.")
    metric = f" ({band['metric'].iloc[0]})" if "metric" in band and pd.notna(band["metric"].iloc[0]) else ""
    return (f" Grey band: the 95% range of the z-cosine of a respondent answering uniformly at random with "
            f"each population{metric} (baselines_{survey}.csv, country random); a model inside it is no "
            f"further from that population than chance.")


def draw_band_per_group(ax, band: pd.DataFrame | None, groups: list[str], half_width: float = 0.45) -> bool:
    """A grey band over each population's group of bars (x = the group's position)."""
    if band is None:
        return False
    rows = band.set_index("population")
    drawn = False
    for x, group in enumerate(groups):
        if group in rows.index:
            patch = ax.fill_between([x - half_width, x + half_width], rows.loc[group, "null_low"],
                                    rows.loc[group, "null_high"], color="0.55", alpha=0.3, lw=0, zorder=0.5,
                                    label=None if drawn else BAND_LABEL)
            patch.set_gid(BASELINE_GID)
            drawn = True
    return drawn


def draw_band_across(ax, band: pd.DataFrame | None, populations: list[str]) -> bool:
    """The random respondent's range across the whole panel: one grey band when the populations share it
    (as they do when they answer the same items), else a pair of thin lines in each population's colour."""
    if band is None:
        return False
    rows = band[band["population"].isin(populations)]
    if rows.empty:
        return False
    if rows["null_low"].nunique() == 1 and rows["null_high"].nunique() == 1 or len(rows) == 1:
        patch = ax.axhspan(rows["null_low"].iloc[0], rows["null_high"].iloc[0], color="0.55", alpha=0.25, lw=0,
                           zorder=0.5, label=BAND_LABEL)
        patch.set_gid(BASELINE_GID)
        return True
    for row in rows.itertuples():
        colour = colour_of(row.population, populations)
        for k, value in enumerate((row.null_low, row.null_high)):
            line = ax.axhline(value, color=colour, ls=(0, (1, 2)), lw=1.2, zorder=0.5,
                              label=f"{row.population}: {BAND_LABEL}" if k == 0 else None)
            line.set_gid(BASELINE_GID)
    return True


def _legends(fig, ax, title: str) -> None:
    """The bars' legend above the plot (with the title), the human baselines' legend under it."""
    handles, labels = ax.get_legend_handles_labels()
    is_line = [getattr(h, "get_gid", lambda: None)() == BASELINE_GID for h in handles]
    bars = [(h, t) for h, t, line in zip(handles, labels, is_line) if not line]
    lines = [(h, t) for h, t, line in zip(handles, labels, is_line) if line]
    fig.legend(*zip(*bars), title=title, title_fontsize=9, loc="outside upper center", ncol=min(len(bars), 4),
               frameon=False)
    if lines:
        columns = 2 if max(len(t) for _, t in lines) > 32 else 3  # long labels: two columns fit the page
        fig.legend(*zip(*lines), title="Human baselines and chance", title_fontsize=7.5,
                   loc="outside lower center", ncol=min(len(lines), columns), frameon=False)


def _population_tick(population: str, many: bool) -> str:
    return population if many else _population_label(population)


# == Figure 1 ====================================================================================

def fig1_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Per population x origin: the mean over the origin's models of each model's mean cosine (over the
    population's respondents, or its item-mean cosine), with a 95% t interval over models: origin varies only
    between models, so the model is the unit of inference (as in the model-level tests); n is models."""
    rows, unit = rq1_rows(out, survey)
    if rows is None:
        return None
    table = ci_table(per_model_means(rows, ["population", "origin"]), ["population", "origin"], "cosine")
    return table.assign(unit="model", model_value="mean over respondents" if unit == "respondent" else "item means")


def per_model_means(rows: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """One row per model and group of ``by``: the mean cosine over the group's respondents (the model-level
    value whose spread over models the figures' error bars show)."""
    return rows.groupby(["model", *by], as_index=False)["cosine"].mean()



def figure1(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig1_{survey}"
    label = survey_label(survey)
    data = fig1_data(out, survey)
    caption = (f"Figure 1 ({label}). Mean cosine similarity of LLM answers to each population's respondents, "
               f"by the LLM's country of origin (persona none, prompts in the respondents' language). "
               f"Error bars: 95% confidence intervals")
    if data is None:
        return _skip(name, caption, f"no similarity data for {label} (similarity_{survey}_rq1 or "
                                    f"aggregate_similarity_{survey}.csv is missing)")
    caption += (" of the mean over models: each bar is the mean over the origin's models of each model's "
                + ("mean cosine over the population's respondents" if data["model_value"].iloc[0] != "item means"
                   else "cosine between its (z-scored) item means and the population's (no respondent-level "
                        "similarities were computed for this design)")
                + ", and its interval is over models (t, n - 1 df), the unit of the model-level tests, not over "
                  "respondent x model pairs. An origin with one model has no interval.")
    populations, left_out = shown_populations(data, few=4, limit=6)
    caption += left_out.replace("<survey>", survey)
    baselines = _for_shown(read_baselines(out, survey), populations)
    band = random_band(out, survey, populations,
                       RESPONDENT_METRIC if data["model_value"].iloc[0] != "item means" else VECTOR_METRIC)
    data = _with_band(_with_baselines(data.assign(shown=data["population"].isin(populations)), baselines), band)
    plotted = data
    if (paths := _reuse(out.path, name, plotted, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption + _baseline_caption(baselines, survey)
                            + band_caption(band, survey), data=data)
    origins = sorted(data["origin"].unique())
    many = len(populations) > 4
    width = min(PAPER_WIDTH, 2.4 + (0.55 if many else 1.6) * len(populations))
    if baselines is not None:  # room for the baselines' legend on one line
        width = max(width, PAPER_WIDTH)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(width, 3.0), layout="constrained")
    _grouped_bars(ax, data, group="population", hue="origin", groups=populations, hues=origins,
                  hue_label=_origin_label)
    with_baselines = _draw_baselines(ax, baselines, populations)
    draw_band_per_group(ax, band, populations)
    ax.set_xticks(range(len(populations)), [_population_tick(p, many) for p in populations],
                  rotation=45 if many else 0, ha="right" if many else "center")
    for tick, population in zip(ax.get_xticklabels(), populations):
        if many and population in HIGHLIGHTED:
            tick.set_fontweight("bold")
    ax.set_ylabel("Mean cosine similarity")
    ax.set_xlabel("Human population" + (" (most similar first)" if many else ""))
    _legends(fig, ax, f"{label}: similarity of LLMs to each population")
    caption += _baseline_caption(baselines if with_baselines else None, survey) + band_caption(band, survey)
    return FigureResult(name, _save(fig, out.path, name, plotted, survey), caption, data=data)


def _baseline_caption(baselines: pd.DataFrame | None, survey: str) -> str:
    if baselines is None:
        return ""
    return (f" Black lines: human baselines from baselines_{survey}.csv (solid: a respondent vs the mean of the "
            "other respondents of the same country; dotted: two respondents of the same country; dashed: a "
            "respondent vs the other countries' mean).")


# == Figure 3 ====================================================================================

def fig3_reference_data(out: OutputDir, survey: str) -> pd.DataFrame | None:
    """Panel B: each respondent's cosine with the mean ratings of each human population and of the LLMs of
    each origin, averaged over the population's respondents. Intervals: over respondents for the human
    references; over models for the LLM references (``llm_reference_cis``), whose uncertainty is which
    models were asked. ``ci_unit`` says which."""
    ref = original_format(out.reference_similarity(survey))
    if ref is None or not len(ref):
        return None
    table = ci_table(ref, ["nationality", "reference"], "cosine", ["population", "reference"])
    table = table.astype({"population": str, "reference": str}).assign(ci_unit="respondents")
    is_llm = table["reference"].str.startswith("LLM")
    table.loc[is_llm, ["ci_low", "ci_high", "n"]] = np.nan
    table.loc[is_llm, "ci_unit"] = "not available"
    from_analysis = analysis_reference_cis(out, survey)
    for index, row in table[is_llm].iterrows():
        interval = from_analysis.get((row["population"], row["reference"]))
        unit = "models (jackknife, model_means)"
        if interval is None:  # an older analysis directory: rebuilt here from item means and RQ1
            interval = llm_reference_ci(out, survey, row["population"], row["reference"].split()[-1], row["mean"])
            unit = "models (jackknife)"
        if interval is not None:
            table.loc[index, ["ci_low", "ci_high", "n"]] = interval
            table.loc[index, "ci_unit"] = unit
    return table


def llm_reference_ci(out: OutputDir, survey: str, population: str, origin: str,
                     bar: float) -> tuple[float, float, int] | None:
    """A 95% interval over models for the mean cosine of ``population``'s respondents with the mean ratings of
    the LLMs made in ``origin``, and the number of models; None when it cannot be rebuilt.

    The mean ratings' centred vector is the sum of the models' centred vectors w_j u_j (u_j unit, w_j its norm),
    so the mean cosine of the respondents with it is sum_j w_j c_j / |sum_j w_j u_j|, with c_j the respondents'
    mean cosine with model j (RQ1). That needs no respondent's answers, only item_means.csv and RQ1's
    similarities, so each model can be left out in turn: a t interval (n - 1 df) with the jackknife SE, as the
    analysis's model_means_<survey>.csv computes it (a percentile bootstrap would average fewer distinct models,
    whose noisier mean vector sits below the observed cosine). The rebuilt value must equal the bar (the
    analysis's own number) before any interval is drawn: otherwise (other items, other conditions) None."""
    from whosevalues.special import t_ppf

    parts = _reference_parts(out, survey, population, origin)
    if parts is None:
        return None
    weights, units, cosines = parts
    n = len(weights)
    if n < 2 or abs(_reference_cosine(weights, units, cosines) - bar) > 1e-6:
        return None
    left_out = np.array([_reference_cosine(np.delete(weights, j), np.delete(units, j, axis=0),
                                           np.delete(cosines, j)) for j in range(n)])
    se = float(np.sqrt((n - 1) / n * np.sum((left_out - left_out.mean()) ** 2)))
    half = float(t_ppf(0.975, n - 1)) * se
    return bar - half, bar + half, n


def analysis_reference_cis(out: OutputDir, survey: str) -> dict[tuple[str, str], tuple[float, float, int]]:
    """(population, "LLM <origin>") -> (ci_low, ci_high, n_models) from the analysis's model_means_<survey>.csv
    (figure 3B rows), when it wrote one."""
    path = out.path / f"model_means_{survey}.csv"
    if not path.is_file():
        return {}
    table = pd.read_csv(path, keep_default_na=False, na_values=[""], dtype={"figure": str})
    rows = table[(table["figure"] == "3B") & table["reference"].astype(str).str.startswith("LLM")]
    return {(str(r.population), str(r.reference)): (float(r.ci_low), float(r.ci_high), int(r.n_models))
            for r in rows.itertuples() if pd.notna(r.ci_low) and pd.notna(r.ci_high)}


def _reference_cosine(weights: np.ndarray, units: np.ndarray, cosines: np.ndarray) -> float:
    norm = np.linalg.norm(weights @ units)
    return float(weights @ cosines / norm) if norm > 0 else float("nan")


def _reference_parts(out: OutputDir, survey: str, population: str, origin: str):
    """(w_j, u_j, c_j) for the models of one origin in RQ1 with ``population``, or None."""
    sim = original_format(out.similarity(survey, "rq1"))
    means = out.survey_means(survey)
    if sim is None or "language" not in sim or not len(means):
        return None
    mine = sim[(sim["nationality"] == population) & (sim["origin"] == origin)]
    languages = mine["language"].unique()
    if len(languages) != 1:
        return None
    cosines = mine.groupby("model")["cosine"].mean()
    rows = means[(means["persona"] == "none") & (means["language"] == languages[0])
                 & means["model"].isin(cosines.index)]
    wide = rows.pivot_table(index="model", columns="item", values="mean").reindex(cosines.index)
    wide = wide.dropna(axis=1, how="all")
    if wide.isna().any().any() or wide.shape[1] < 2:
        return None
    centred = wide.to_numpy(dtype=float) - wide.to_numpy(dtype=float).mean(axis=1, keepdims=True)
    weights = np.linalg.norm(centred, axis=1)
    if (weights <= 0).any():
        return None
    return weights, centred / weights[:, None], cosines.to_numpy(dtype=float)


def figure3(out: OutputDir, survey: str) -> FigureResult:
    name = f"fig3_{survey}"
    label = survey_label(survey)
    caption = (f"Figure 3 ({label}). (A) Mean cosine similarity of each LLM to each population's respondents "
               f"(persona none, respondents' language), LLMs grouped by origin (shaded backgrounds alternate by "
               f"origin); error bars are 95% confidence intervals over respondents. (B) Similarity of individual "
               f"respondents to the mean item ratings of each human population and of the LLMs of each origin. "
               f"Error bars in B: over respondents for the human references; over models for the LLM references "
               f"(t interval with the jackknife SE, each model left out in turn), since which models were asked "
               f"is the uncertainty of an origin's mean ratings.")
    data = model_similarity(out, survey)
    if data is None:
        return _skip(name, caption, f"no similarity data for {label}")
    if rq1_rows(out, survey)[1] == "model":
        caption = caption.replace("error bars are 95% confidence intervals over respondents",
                                  "each bar is the cosine between the model's and the population's z-scored "
                                  "item means (no respondent-level data)")
    reference = fig3_reference_data(out, survey)
    if reference is None:
        caption = caption.split(" (B)")[0] + f" (Panel B is left out: reference_similarity_{survey}.csv is " \
                                              f"missing, it needs individual respondents.)"
    populations, left_out = shown_populations(data, few=1, limit=4)
    caption += left_out.replace("<survey>", survey)
    data = data.assign(shown=data["population"].isin(populations))
    if reference is not None:
        kept = [f"Human {p}" for p in populations]
        reference = reference[reference["population"].isin(populations) & (
            reference["reference"].isin(kept) | reference["reference"].str.startswith("LLM"))]
    if reference is not None and (reference["reference"].str.startswith("LLM")
                                  & ~reference["ci_unit"].str.startswith("models")).any():
        caption += (" LLM references without an error bar: their interval over models could not be rebuilt "
                    "from item_means.csv and RQ1's similarities (an origin with one model, or other items).")
    baselines = _for_shown(read_baselines(out, survey), populations)
    band = random_band(out, survey, populations,
                       RESPONDENT_METRIC if rq1_rows(out, survey)[1] == "respondent" else VECTOR_METRIC)
    data = _with_band(_with_baselines(data, baselines), band)
    out_data = data if reference is None else pd.concat([data.assign(panel="A"),
                                                         _with_band(reference, band).assign(panel="B")])
    caption_tail = band_caption(band, survey)
    if (paths := _reuse(out.path, name, out_data, survey)) is not None:  # drawn before from the same inputs
        return FigureResult(name, paths, caption + _fig3_baseline_caption(baselines, survey) + caption_tail,
                            data=data)
    data = data[data["shown"]]
    models = data.sort_values(["origin", "display_name"])[["model", "display_name", "origin"]].drop_duplicates()
    width_a = min(PAPER_WIDTH * (0.7 if reference is not None else 1),
                  1.5 + 0.35 * len(models) * len(populations) ** 0.5)
    ncols = 2 if reference is not None else 1
    plt = pyplot()
    fig, axes = plt.subplots(1, ncols, figsize=(PAPER_WIDTH if ncols == 2 else max(width_a, 3.0), 3.6),
                             gridspec_kw={"width_ratios": [3, 1.3]} if ncols == 2 else None, squeeze=False,
                             layout="constrained")
    ax = axes[0][0]
    plot = data.assign(x=data["model"].map({m: i for i, m in enumerate(models["model"])}))
    _shade_origins(ax, models)
    _grouped_bars(ax, plot, group="model", hue="population", groups=list(models["model"]), hues=populations,
                  hue_label=_population_label)
    with_baselines = _fig3_baselines(ax, baselines, populations)
    draw_band_across(ax, band, populations)
    many = len(models) > 3  # a few names fit horizontally; rotated, one name would waste half the figure
    ax.set_xticks(range(len(models)), models["display_name"], rotation=60 if many else 0,
                  ha="right" if many else "center")
    ax.set_ylabel("Mean cosine similarity")
    ax.set_title("A. Each LLM", loc="left", pad=12)
    if reference is not None:
        ax_b = axes[0][1]
        refs = sorted(reference["reference"].unique(), key=lambda r: (not r.startswith("Human"), r))
        _grouped_bars(ax_b, reference, group="reference", hue="population", groups=refs, hues=populations,
                      hue_label=_population_label)
        draw_band_across(ax_b, band, populations)
        ax_b.set_xticks(range(len(refs)), refs, rotation=45, ha="right")
        ax_b.set_title("B. Mean-rating references", loc="left", pad=12)
        ax_b.set_ylabel("Mean cosine similarity")
    _legends(fig, ax, f"{label}: similarity of each LLM to each population")
    caption += _fig3_baseline_caption(baselines if with_baselines else None, survey) + caption_tail
    return FigureResult(name, _save(fig, out.path, name, out_data, survey), caption, data=data)


def _fig3_baselines(ax, baselines: pd.DataFrame | None, populations: list[str]) -> bool:
    """One dashed line across panel A per population: its respondents vs their country's mean (leave-one-out)."""
    if baselines is None:
        return False
    rows = baselines.set_index(baselines["country"].astype(str))
    drawn = False
    for population in populations:
        if population in rows.index and pd.notna(rows.loc[population, "own_mean_cosine_loo"]):
            ax.axhline(float(rows.loc[population, "own_mean_cosine_loo"]), color=colour_of(population, populations),
                       ls="--", lw=0.9, zorder=4, label=f"{population}: respondent vs own country's mean",
                       gid=BASELINE_GID)
            drawn = True
    return drawn


def _fig3_baseline_caption(baselines: pd.DataFrame | None, survey: str) -> str:
    if baselines is None:
        return ""
    return (" Dashed lines in A: human baseline, the mean cosine of a respondent with the mean of the other "
            f"respondents of the same country (baselines_{survey}.csv).")


def _shade_origins(ax, models: pd.DataFrame) -> None:
    """Grey backgrounds behind every other origin's block of bars, with the origin written on top."""
    origins = list(dict.fromkeys(models["origin"]))
    for k, origin in enumerate(origins):
        positions = np.flatnonzero(models["origin"].to_numpy() == origin)
        if k % 2 == 0 and len(origins) > 1:
            ax.axvspan(positions.min() - 0.5, positions.max() + 0.5, color="0.9", zorder=0)
        ax.text((positions.min() + positions.max()) / 2, 1.0, f"made in {origin}", transform=ax.get_xaxis_transform(),
                ha="center", va="bottom", fontsize=7)
