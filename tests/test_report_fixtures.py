"""Build realistic analysis output directories (docs/output.md) for the report tests.

Computed from the paper's published data in ../shared: the LLM item means of llm_mfq_responses.csv and
llm_wvs_responses.csv, the MFQ-2 respondents reconstructed in 36-row blocks, and the WVS-7 answer
distributions. The similarities follow the paper's recipe (z within respondent and within LLM, cosine);
they stand in for the analysis pipeline's files until the report tests switch to that pipeline.
Only answer distributions are synthetic (the paper published one sample per item): a discretised normal
around each item mean.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

SHARED = Path(__file__).resolve().parents[2] / "shared"
PAPER = SHARED / "data" / "made_in_china_paper"
WVS_DISTRIBUTIONS = SHARED / "data" / "wvs7_values_to_country" / "derived_wvs7_chn_usa_q177_q195_distributions.csv"
RESPONDENT_LANGUAGE = {"CHN": "zh", "USA": "en"}

needs_shared = pytest.mark.skipif(not PAPER.is_dir(), reason="../shared (the paper's data) is not present")


def paper_item_means() -> pd.DataFrame:
    frames = []
    for survey, file in (("mfq2", "llm_mfq_responses.csv"), ("wvs7", "llm_wvs_responses.csv")):
        raw = pd.read_csv(PAPER / file, dtype={"item": str}, encoding="utf-8-sig")
        frame = pd.DataFrame({
            "model": raw["LLM"], "origin": raw["model_nation"].map({"China": "CHN", "USA": "USA"}),
            "survey": survey, "language": raw["language"].map({"English": "en", "Chinese": "zh"}),
            "persona": raw["persona"].map({"none": "none", "China": "CHN", "USA": "USA"}),
            "item": raw["item"] if survey == "mfq2" else "Q" + raw["item"], "mean": raw["llm_response"],
        })
        frames.append(frame.drop_duplicates(["model", "survey", "language", "persona", "item"]))
    means = pd.concat(frames, ignore_index=True)
    means["n_total"] = 20
    means["n_valid"] = np.where(means["mean"].notna(), 20, 0)
    means["refusal_rate"] = 1 - means["n_valid"] / means["n_total"]
    return means


def mfq_respondents() -> pd.DataFrame:
    wide = pd.read_csv(PAPER / "derived_human_mfq_wide_by_block.csv")
    wide = wide[wide["straightliner"] == 0]
    country = wide["group"].map({"China": "CHN", "USA": "USA"})
    answers = wide[[f"item_{i}" for i in range(1, 37)]].astype(float)
    answers.columns = [str(i) for i in range(1, 37)]
    answers.index = country + "-" + wide["respondent"].astype(str)
    answers.insert(0, "nationality", country.to_numpy())
    return answers


def _z_rows(matrix: np.ndarray) -> np.ndarray:
    # a constant answer vector has no z-scores (NaN), as in the paper
    with np.errstate(invalid="ignore", divide="ignore"):
        return (matrix - matrix.mean(axis=1, keepdims=True)) / matrix.std(axis=1, ddof=1, keepdims=True)


def _cosines(humans: np.ndarray, llms: np.ndarray) -> np.ndarray:
    h, l = _z_rows(humans), _z_rows(llms)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (h @ l.T) / np.outer(np.linalg.norm(h, axis=1), np.linalg.norm(l, axis=1))


def _similarity_rows(respondents: pd.DataFrame, means: pd.DataFrame, items: list[str],
                     conditions: list[tuple[str, str]], respondent_language: bool) -> pd.DataFrame:
    """respondent x model x condition cosines; respondent_language: only the respondent's own language
    (falling back to the first language asked when the design lacks it)."""
    vectors = means.pivot_table(index=["model", "origin", "language", "persona"], columns="item", values="mean")
    vectors = vectors[items].dropna()
    frames = []
    for nationality, humans in respondents.groupby("nationality"):
        for language, persona in conditions:
            if respondent_language:
                languages = sorted(vectors.index.get_level_values("language").unique())
                wanted = RESPONDENT_LANGUAGE.get(nationality, languages[0])
                if language != (wanted if wanted in languages else languages[0]):
                    continue
            llm = vectors.xs((language, persona), level=("language", "persona"), drop_level=False)
            cos = _cosines(humans[items].to_numpy(), llm.to_numpy())
            frame = pd.DataFrame(cos, index=humans.index, columns=llm.index.get_level_values("model"))
            long = frame.stack().rename("cosine").reset_index()
            long.columns = ["respondent", "model", "cosine"]
            origin = dict(zip(llm.index.get_level_values("model"), llm.index.get_level_values("origin")))
            frames.append(long.assign(nationality=nationality, origin=long["model"].map(origin),
                                      language=language, persona=persona))
    columns = ["respondent", "nationality", "model", "origin", "language", "persona", "cosine"]
    return pd.concat(frames, ignore_index=True)[columns]


def _ols_table(data: pd.DataFrame, formula: str) -> pd.DataFrame:
    import statsmodels.formula.api as smf

    fit = smf.ols(formula, data=data).fit()
    return pd.DataFrame({"term": fit.params.index, "estimate": fit.params.to_numpy(), "std_error": fit.bse.to_numpy(),
                         "t_value": fit.tvalues.to_numpy(), "p_value": fit.pvalues.to_numpy()})


def _centred(flag: pd.Series) -> pd.Series:
    code = np.where(flag, 0.5, -0.5)
    return code - code.mean()


def _write_mfq_similarities(out: Path, means: pd.DataFrame, tables: bool) -> None:
    from whosevalues.instruments import load_instrument

    mfq = load_instrument("mfq2")
    respondents = mfq_respondents()
    items = mfq.item_ids
    languages = sorted(means["language"].unique())
    personas = sorted(means["persona"].unique())
    rq1 = _similarity_rows(respondents, means, items, [(lang, "none") for lang in languages], True)
    rq1.to_parquet(out / "similarity_mfq2_rq1.parquet", index=False)
    national = [p for p in personas if p != "none"]
    rq2 = None
    if national:
        rq2 = _similarity_rows(respondents, means, items, [(lang, p) for lang in languages for p in national], False)
        rq2.to_parquet(out / "similarity_mfq2_rq2.parquet", index=False)
    dims = mfq.dimension_of()
    rq3 = [rq1.assign(removed="none")]
    for dim in mfq.dimensions:
        kept = [i for i in items if dims[i] != dim]
        rq3.append(_similarity_rows(respondents, means, kept, [(lang, "none") for lang in languages], True)
                   .assign(removed=dim))
    rq3 = pd.concat(rq3, ignore_index=True)
    rq3.to_parquet(out / "similarity_mfq2_rq3.parquet", index=False)
    _write_reference(out, respondents, means, items)
    if not tables:
        return
    (out / "tables").mkdir(exist_ok=True)
    coded = rq1.assign(nationality=_centred(rq1["nationality"] == "CHN"), origin=_centred(rq1["origin"] == "CHN"))
    _ols_table(coded, "cosine ~ nationality * origin").to_csv(out / "tables" / "rq1_mfq2.csv", index=False)
    if rq2 is not None:
        code = rq2.assign(
            language=_centred(rq2["language"] == rq2["nationality"].map(RESPONDENT_LANGUAGE)),
            persona=_centred(rq2["persona"] == rq2["nationality"]),
            origin=_centred(rq2["origin"] == rq2["nationality"]))
        _ols_table(code, "cosine ~ language * persona * origin").to_csv(out / "tables" / "rq2_mfq2.csv", index=False)
    coded = rq3.assign(nationality=_centred(rq3["nationality"] == "CHN"), origin=_centred(rq3["origin"] == "CHN"))
    table = _ols_table(coded, "cosine ~ nationality * origin * C(removed, Treatment('none'))")
    table["term"] = table["term"].str.replace(r"C\(removed, Treatment\('none'\)\)\[T\.(\w+)\]", r"removed[\1]",
                                              regex=True)
    table.to_csv(out / "tables" / "rq3_mfq2.csv", index=False)


def _write_reference(out: Path, respondents: pd.DataFrame, means: pd.DataFrame, items: list[str]) -> None:
    refs = {f"Human {c}": g[items].mean().to_numpy() for c, g in respondents.groupby("nationality")}
    none = means[means["persona"] == "none"]
    for origin, group in none.groupby("origin"):
        refs[f"LLM {origin}"] = group.groupby("item")["mean"].mean().reindex(items).to_numpy()
    cos = _cosines(respondents[items].to_numpy(), np.vstack(list(refs.values())))
    frame = pd.DataFrame(cos, index=respondents.index, columns=list(refs)).stack().rename("cosine").reset_index()
    frame.columns = ["respondent", "reference", "cosine"]
    frame["nationality"] = frame["respondent"].map(respondents["nationality"])
    frame[["respondent", "nationality", "reference", "cosine"]].to_csv(out / "reference_similarity_mfq2.csv", index=False)


def _human_files(out: Path, surveys: list[str]) -> None:
    from whosevalues.instruments import load_instrument

    stats, dists, populations = [], [], []
    if "mfq2" in surveys:
        respondents = mfq_respondents()
        dims = load_instrument("mfq2").dimension_of()
        items = [str(i) for i in range(1, 37)]
        for country, group in respondents.groupby("nationality"):
            answers = group[items]
            z = pd.DataFrame(_z_rows(answers.to_numpy()), columns=items)
            stats.append(pd.DataFrame({"survey": "mfq2", "country": country, "item": items,
                                       "dimension": [dims[i] for i in items], "mean": answers.mean().to_numpy(),
                                       "sd": answers.std().to_numpy(), "z_mean": z.mean().to_numpy(),
                                       "n": len(answers)}))
            for value in range(1, 6):
                dists.append(pd.DataFrame({"survey": "mfq2", "country": country, "item": items, "value": value,
                                           "proportion": (answers == value).mean().to_numpy()}))
            populations.append({"survey": "mfq2", "country": country, "n": len(group),
                                "source": "Atari et al. (2023), via the paper's human_mfq_responses.csv (36-row blocks)",
                                "steps": [["respondents in file", len(group) + 1], ["straight-liners dropped", 1]],
                                "audit": {"alpha": {"Care": 0.85}, "straight_liners": 1}, "warnings": []})
    if "wvs7" in surveys and WVS_DISTRIBUTIONS.is_file():
        wvs = pd.read_csv(WVS_DISTRIBUTIONS)
        for country, group in wvs.groupby("B_COUNTRY_ALPHA"):
            stats.append(pd.DataFrame({"survey": "wvs7", "country": country, "item": group["qid"],
                                       "dimension": group["qid"], "mean": group["mean"], "sd": group["sd"],
                                       "z_mean": np.nan, "n": group["n"]}))
            for value in range(1, 11):
                dists.append(pd.DataFrame({"survey": "wvs7", "country": country, "item": group["qid"],
                                           "value": value, "proportion": group[f"prop_{value}"]}))
            populations.append({"survey": "wvs7", "country": country, "n": int(group["n"].iloc[0]),
                                "source": "WVS-7 aggregates (wanLo/values-to-country)", "steps": [],
                                "audit": {}, "warnings": ["aggregates only: no individual respondents"]})
    pd.concat(stats).to_csv(out / "human_item_stats.csv", index=False)
    pd.concat(dists).to_csv(out / "human_distributions.csv", index=False)
    (out / "populations.json").write_text(json.dumps(populations, indent=1), encoding="utf-8")


def _write_wvs_aggregate(out: Path, means: pd.DataFrame) -> None:
    wvs = pd.read_csv(WVS_DISTRIBUTIONS).pivot(index="B_COUNTRY_ALPHA", columns="qid", values="mean")
    items = list(wvs.columns)
    vectors = means.pivot_table(index=["model", "origin", "language", "persona"], columns="item", values="mean")
    vectors = vectors[items].dropna()
    cos = _cosines(vectors.to_numpy(), wvs.to_numpy())
    frame = pd.DataFrame(cos, index=vectors.index, columns=wvs.index).stack().rename("cosine_item_means")
    frame = frame.reset_index().rename(columns={"B_COUNTRY_ALPHA": "country"})
    frame["wasserstein_similarity"] = np.nan
    frame.to_csv(out / "aggregate_similarity_wvs7.csv", index=False)


def _synthetic_distributions(means: pd.DataFrame) -> pd.DataFrame:
    scale = {"mfq2": range(1, 6), "wvs7": range(1, 11)}
    frames = []
    for survey, group in means.dropna(subset=["mean"]).groupby("survey"):
        values = np.array(list(scale[survey]), dtype=float)
        weights = np.exp(-((values[None, :] - group["mean"].to_numpy()[:, None]) ** 2) / (2 * 0.6 ** 2))
        probs = weights / weights.sum(axis=1, keepdims=True)
        long = pd.DataFrame(probs, columns=values.astype(int), index=group.index).stack().rename("probability")
        long = long.reset_index(level=1).rename(columns={"level_1": "value"})
        frames.append(group[["model", "survey", "language", "persona", "item"]].join(long))
    return pd.concat(frames, ignore_index=True)


def build_output_dir(out: Path, *, models: list[str] | None = None, surveys: tuple[str, ...] = ("mfq2", "wvs7"),
                     languages: list[str] | None = None, personas: list[str] | None = None,
                     distributions: bool = True, tables: bool = True) -> Path:
    """An output directory for the paper's published answers, restricted to the given design."""
    out.mkdir(parents=True, exist_ok=True)
    means = paper_item_means()
    keep = means["survey"].isin(surveys)
    for column, wanted in (("model", models), ("language", languages), ("persona", personas)):
        if wanted is not None:
            keep &= means[column].isin(wanted)
    means = means[keep].reset_index(drop=True)
    # one refused item so the validity figure and the refusal section have something to show
    means.loc[means.index[0], ["n_valid", "refusal_rate"]] = [17, 0.15]
    means.to_csv(out / "item_means.csv", index=False)
    if distributions:
        _synthetic_distributions(means).to_csv(out / "item_distributions.csv", index=False)
    present = list(dict.fromkeys(means["survey"]))
    _human_files(out, present)
    if "mfq2" in present:
        _write_mfq_similarities(out, means[means["survey"] == "mfq2"], tables)
    if "wvs7" in present:
        _write_wvs_aggregate(out, means[means["survey"] == "wvs7"])
    exclusions = [{"survey": "wvs7", "analysis": "rq1", "model": m, "language": "", "persona": "none",
                   "reason": "refused some item in all 20 samples"} for m in ("gpt-4", "claude-opus-4")]
    pd.DataFrame(exclusions, columns=["survey", "analysis", "model", "language", "persona", "reason"]).to_csv(
        out / "exclusions.csv", index=False)
    summary = {"version": "fixture", "design": {"models": sorted(means["model"].unique()), "surveys": present,
                                                "languages": sorted(means["language"].unique()),
                                                "personas": sorted(means["persona"].unique())}}
    (out / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return out


@needs_shared
def test_fixture_has_the_documented_columns(tmp_path):
    out = build_output_dir(tmp_path / "out", surveys=("mfq2",), distributions=False)
    rq1 = pd.read_parquet(out / "similarity_mfq2_rq1.parquet")
    assert {"respondent", "nationality", "model", "origin", "language", "persona", "cosine"} <= set(rq1.columns)
    # CHN respondents are compared with Chinese prompts, USA respondents with English ones (paper's RQ1)
    assert set(rq1.loc[rq1["nationality"] == "CHN", "language"]) == {"zh"}
    assert set(rq1.loc[rq1["nationality"] == "USA", "language"]) == {"en"}
    assert rq1["cosine"].between(-1, 1).all()


def analysed_dir(out: Path, *, surveys: tuple[str, ...] = ("mfq2", "wvs7"), models: list[str] | None = None,
                 languages: list[str] | None = None, personas: list[str] | None = None,
                 distributions: bool = False, paper_compatible: bool = False) -> Path:
    """Run the real analysis pipeline on the paper's published answers (bundled human data) into ``out``;
    paper_compatible groups the MFQ-2 respondents by Participant label, as the paper's scripts did."""
    from whosevalues.analysis.llm_responses import load_llm_responses
    from whosevalues.analysis.pipeline import analyze
    from whosevalues.humans import load_populations

    files = {"mfq2": "llm_mfq_responses.csv", "wvs7": "llm_wvs_responses.csv"}
    means = load_llm_responses([PAPER / files[s] for s in surveys])
    for column, wanted in (("model", models), ("language", languages), ("persona", personas)):
        if wanted is not None:
            means = means[means[column].isin(wanted)]
    out.mkdir(parents=True, exist_ok=True)
    means.to_csv(out / "item_means.csv", index=False)
    populations = {s: load_populations(s, "bundled", countries=["CHN", "USA"], paper_labels=paper_compatible)
                   for s in surveys}
    analyze(means, populations, out_dir=out, bootstrap=0, paper_compatible=paper_compatible)
    if distributions:  # as a distribution-mode run would write them
        _synthetic_distributions(means).to_csv(out / "item_distributions.csv", index=False)
    return out


def paper_report_dir(tmp_path_factory) -> Path:
    """The report of the paper's published answers, built once per test session and shared by modules."""
    out = tmp_path_factory.getbasetemp() / "paper_report"
    if not (out / "report.html").is_file():
        from whosevalues.report.html import write_report

        analysed_dir(out, distributions=True)
        write_report(out)
    return out
