"""Aggregation: item means, answer distributions and the per-condition summary, checked against
independent computations on synthetic answers and on the paper's raw answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from shared_paths import PAPER
from whosevalues.elicit.aggregate import (
    DISTRIBUTION_COLUMNS,
    ITEM_MEANS_COLUMNS,
    AggregateError,
    condition_summary,
    item_distributions,
    item_means,
)
from whosevalues.elicit.parse import parse_answer
from whosevalues.instruments import load_instrument

MFQ = load_instrument("mfq2")
WVS = load_instrument("wvs7")
CONTRACT = ["model", "origin", "survey", "language", "persona", "item", "mean", "n_valid", "n_total", "refusal_rate"]
STATUSES = ["valid", "valid", "valid", "refusal", "no_number", "ambiguous", "error"]


def sample_answers(seed: int = 0, samples: int = 8) -> pd.DataFrame:
    """Random sample-mode answers: 2 models x both surveys x 2 languages x 3 personas, mixed statuses."""
    rng = np.random.default_rng(seed)
    rows = []
    for model, origin in [("m-usa", "USA"), ("m-chn", "CHN")]:
        for instrument in (MFQ, WVS):
            for language in ("zh", "en"):
                for persona in ("USA", "none", "CHN"):
                    for item in reversed(instrument.item_ids):  # stored out of order on purpose
                        for sample in range(samples):
                            status = STATUSES[rng.integers(len(STATUSES))]
                            value = float(rng.integers(instrument.scale.min, instrument.scale.max + 1))
                            rows.append(dict(model=model, origin=origin, survey=instrument.id, item=item,
                                             language=language, persona=persona, sample=sample, mode="sample",
                                             status=status, value=value if status == "valid" else np.nan,
                                             distribution=None, valid_mass=None))
    return pd.DataFrame(rows)


def distribution_answers(seed: int = 1) -> pd.DataFrame:
    """Distribution-mode answers of one model under the paper's design: one row per item and condition."""
    rng = np.random.default_rng(seed)
    rows = []
    for instrument in (MFQ, WVS):
        for language in ("en", "zh"):
            for persona in ("none", "CHN", "USA"):
                for item in instrument.item_ids:
                    probabilities = rng.dirichlet(np.ones(len(instrument.scale.values))) * rng.uniform(0.2, 1.0)
                    dist = dict(zip(instrument.scale.values, probabilities.tolist()))
                    total = probabilities.sum()
                    rows.append(dict(model="smol", origin="USA", survey=instrument.id, item=item,
                                     language=language, persona=persona, sample=0, mode="distribution",
                                     status="valid", value=sum(v * p for v, p in dist.items()) / total,
                                     distribution=dist, valid_mass=total))
    return pd.DataFrame(rows)


def test_item_means_columns_are_the_contract_then_extras():
    means = item_means(sample_answers())
    assert list(means.columns[: len(CONTRACT)]) == CONTRACT
    assert list(means.columns) == ITEM_MEANS_COLUMNS


def test_sample_mode_means_counts_and_refusal_rates_match_a_direct_count():
    answers = sample_answers()
    # The expected figures by plain Python over the rows, independent of pandas' groupby.
    tally: dict[tuple, dict] = {}
    for row in answers.itertuples():
        cell = tally.setdefault((row.model, row.survey, row.language, row.persona, row.item),
                                {"values": [], "total": 0, "refusals": 0})
        if row.status != "error":
            cell["total"] += 1
            cell["refusals"] += row.status == "refusal"
        if row.status == "valid":
            cell["values"].append(row.value)
    means = item_means(answers).set_index(["model", "survey", "language", "persona", "item"])
    assert len(means) == len(tally)
    keys = list(tally)
    got = means.loc[keys]
    assert list(got["n_total"]) == [tally[k]["total"] for k in keys]
    assert list(got["n_valid"]) == [len(tally[k]["values"]) for k in keys]
    expected_mean = [sum(v) / len(v) if v else np.nan for v in (tally[k]["values"] for k in keys)]
    np.testing.assert_allclose(got["mean"], expected_mean)
    expected_refusals = [tally[k]["refusals"] / tally[k]["total"] if tally[k]["total"] else np.nan for k in keys]
    np.testing.assert_allclose(got["refusal_rate"], expected_refusals)
    assert got["valid_mass"].isna().all() and (got["mode"] == "sample").all()


def test_rows_follow_model_survey_language_persona_and_instrument_item_order():
    means = item_means(sample_answers())
    first = means[(means["model"] == means["model"].iloc[0]) & (means["survey"] == "mfq2")
                  & (means["language"] == "en") & (means["persona"] == "none")]
    assert list(first["item"]) == MFQ.item_ids  # "1", "2", ..., "10", not "1", "10", "11"
    conditions = means[["model", "survey", "language", "persona"]].drop_duplicates()
    assert list(conditions["persona"].iloc[:3]) == ["none", "CHN", "USA"]
    assert conditions["model"].is_monotonic_increasing
    wvs = means[(means["survey"] == "wvs7")].drop_duplicates(["model", "language", "persona"])
    assert len(wvs) == 2 * 2 * 3


def test_distribution_mode_uses_the_renormalised_expectation_and_keeps_the_valid_mass():
    answers = distribution_answers()
    means = item_means(answers)
    assert len(means) == (len(MFQ.item_ids) + len(WVS.item_ids)) * 2 * 3 == 330
    merged = means.merge(answers, on=["model", "survey", "language", "persona", "item"])
    expected = [sum(v * p for v, p in d.items()) / sum(d.values()) for d in merged["distribution"]]
    np.testing.assert_allclose(merged["mean"], expected)
    np.testing.assert_allclose(merged["valid_mass_x"], merged["valid_mass_y"])
    assert (merged["n_valid"] == 1).all() and (merged["n_total"] == 1).all()
    assert (merged["refusal_rate"] == 0).all() and (merged["mode_x"] == "distribution").all()
    for instrument in (MFQ, WVS):
        rows = means[means["survey"] == instrument.id]
        assert rows["mean"].between(instrument.scale.min, instrument.scale.max).all()


def test_distribution_mode_refusal_and_unnormalised_keys_as_text():
    answers = distribution_answers().iloc[:2].copy()
    answers.loc[0, ["status", "value"]] = ["refusal", np.nan]
    answers.at[1, "distribution"] = {"1": 2.0, "5": 2.0}  # keys as text (JSON), mass not yet normalised
    means = item_means(answers).set_index("item")
    assert means.loc["1", "refusal_rate"] == 1 and means.loc["1", "n_valid"] == 0
    assert np.isnan(means.loc["1", "mean"])
    assert means.loc["2", "mean"] == pytest.approx(3.0)


def test_errors_are_not_answers():
    answers = sample_answers().query("survey == 'wvs7' and item == 'Q177'").copy()
    answers["status"] = "error"
    answers["value"] = np.nan
    means = item_means(answers)
    assert (means["n_total"] == 0).all() and means["mean"].isna().all() and means["refusal_rate"].isna().all()


def test_item_distributions_sample_mode_is_the_share_of_valid_samples_on_the_whole_scale():
    answers = sample_answers(samples=12)
    distributions = item_distributions(answers)
    assert list(distributions.columns) == DISTRIBUTION_COLUMNS
    key = ["model", "survey", "language", "persona", "item"]
    sums = distributions.groupby(key)["probability"].sum()
    np.testing.assert_allclose(sums, 1.0)
    sizes = distributions.groupby(key).size().reset_index(name="points")
    expected_points = sizes["survey"].map({"mfq2": 5, "wvs7": 10})
    assert (sizes["points"] == expected_points).all()
    group = answers[(answers["model"] == "m-chn") & (answers["survey"] == "wvs7") & (answers["language"] == "zh")
                    & (answers["persona"] == "CHN") & (answers["item"] == "Q182") & (answers["status"] == "valid")]
    shares = group["value"].value_counts(normalize=True)
    row = distributions[(distributions["model"] == "m-chn") & (distributions["survey"] == "wvs7")
                        & (distributions["language"] == "zh") & (distributions["persona"] == "CHN")
                        & (distributions["item"] == "Q182")].set_index("value")["probability"]
    for value in WVS.scale.values:
        assert row[value] == pytest.approx(shares.get(float(value), 0.0))


def test_item_distributions_distribution_mode_is_the_stored_distribution_renormalised():
    answers = distribution_answers()
    distributions = item_distributions(answers)
    assert len(distributions) == 2 * 3 * (36 * 5 + 19 * 10)
    first = answers.iloc[0]
    stored = first["distribution"]
    row = distributions[(distributions["survey"] == first["survey"]) & (distributions["item"] == first["item"])
                        & (distributions["language"] == first["language"])
                        & (distributions["persona"] == first["persona"])]
    np.testing.assert_allclose(row["probability"], [stored[v] / sum(stored.values()) for v in row["value"]])
    # The expectation of the listed distribution is the item mean.
    means = item_means(answers)
    expectation = (distributions["value"] * distributions["probability"]).groupby(
        [distributions[c] for c in ["survey", "language", "persona", "item"]], sort=False).sum()
    merged = means.set_index(["survey", "language", "persona", "item"])["mean"]
    np.testing.assert_allclose(expectation.loc[merged.index], merged)


def test_condition_summary_valid_rate_and_foundation_means():
    means = item_means(sample_answers())
    summary = condition_summary(means)
    assert len(summary) == 2 * 2 * 2 * 3
    assert list(summary.columns[:5]) == ["model", "origin", "survey", "language", "persona"]
    assert MFQ.dimensions == [c for c in summary.columns if c in MFQ.dimensions]
    row = summary[(summary["model"] == "m-usa") & (summary["survey"] == "mfq2") & (summary["language"] == "zh")
                  & (summary["persona"] == "USA")].iloc[0]
    cell = means[(means["model"] == "m-usa") & (means["survey"] == "mfq2") & (means["language"] == "zh")
                 & (means["persona"] == "USA")]
    assert row["valid_rate"] == pytest.approx(cell["n_valid"].sum() / cell["n_total"].sum())
    for foundation in MFQ.dimensions:
        items = [i.id for i in MFQ.items if i.dimension == foundation]
        assert row[foundation] == pytest.approx(cell[cell["item"].isin(items)]["mean"].mean())
    wvs = summary[summary["survey"] == "wvs7"]
    assert wvs[MFQ.dimensions].isna().all().all() and wvs["mean"].notna().all()


def test_missing_columns_are_a_clear_error():
    with pytest.raises(AggregateError, match="status"):
        item_means(sample_answers().drop(columns=["status"]))
    assert issubclass(AggregateError, ValueError)


def test_empty_answers_give_empty_frames_with_the_columns():
    empty = sample_answers().iloc[:0]
    assert list(item_means(empty).columns) == ITEM_MEANS_COLUMNS
    assert list(item_distributions(empty).columns) == DISTRIBUTION_COLUMNS


@pytest.mark.needs_shared
def test_paper_raw_answers_parse_and_aggregate():
    """The paper's one stored raw sample per item, parsed and aggregated, covers its whole design."""
    raw = pd.read_csv(PAPER / "llm_mfq_responses.csv", keep_default_na=False, dtype={"response": str, "item": str})
    parsed = [parse_answer(text, 1, 5) for text in raw["response"]]
    answers = pd.DataFrame({
        "model": raw["LLM"], "origin": raw["model_nation"].map({"China": "CHN", "USA": "USA"}), "survey": "mfq2",
        "item": raw["item"], "language": raw["language"].map({"English": "en", "Chinese": "zh"}),
        "persona": raw["persona"].map({"none": "none", "China": "CHN", "USA": "USA"}), "mode": "sample",
        "status": [p.status for p in parsed], "value": [p.value for p in parsed],
    })
    means = item_means(answers)
    assert len(means) == len(raw) == 20 * 2 * 3 * 36
    assert means["mean"].dropna().between(1, 5).all()
    assert means["n_valid"].sum() == sum(p.status == "valid" for p in parsed)
    summary = condition_summary(means)
    assert len(summary) == 20 * 2 * 3
    valid = answers.assign(valid=answers["status"] == "valid")
    direct = valid.groupby(["model", "language", "persona"])["valid"].mean()
    got = summary.set_index(["model", "language", "persona"])["valid_rate"]
    np.testing.assert_allclose(got.loc[direct.index], direct)


def test_store_round_trip_gives_the_default_designs_330_item_means(tmp_path):
    """Answers saved through the real store and parsed by the runner's parser aggregate to the contract."""
    from whosevalues.elicit.plan import plan_model
    from whosevalues.elicit.runner import decide_planned
    from whosevalues.elicit.store import Store
    from whosevalues.models.base import ProviderReply
    from whosevalues.study import Study

    study = Study(samples=2, variants=["original"])  # the paper's design
    spec = study.model_specs()[0]
    texts = ["3", " 4\n", "As an AI language model, I", "我无法回答", "3 or 4", "7 out of 10"]
    store = Store(tmp_path / "answers.db")
    try:
        run = store.start_run("test", "{}", "0")
        planned = plan_model(study, spec, "sample", study.instruments())
        store.add_requests(planned, run)
        for index, request in enumerate(planned):
            reply = ProviderReply(answer_text=texts[index % len(texts)], finish_reason="stop")
            store.save_answer(request, reply, decide_planned(request, reply), run, attempts=1, latency_s=0.0)
        answers = store.answers_frame()
    finally:
        store.close()
    means = item_means(answers)
    assert len(means) == 330 and (means["n_total"] == 2).all()
    assert means["n_valid"].sum() == (answers["status"] == "valid").sum()
    assert means["refusal_rate"].mul(means["n_total"]).sum() == pytest.approx((answers["status"] == "refusal").sum())
    for instrument in (MFQ, WVS):
        rows = means[means["survey"] == instrument.id]["mean"].dropna()
        assert rows.between(instrument.scale.min, instrument.scale.max).all()
