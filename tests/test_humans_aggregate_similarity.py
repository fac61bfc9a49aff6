"""Aggregate similarity (bundled WVS-7 distributions): item-mean cosine and Wasserstein-based similarity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from whosevalues.analysis.aggregate_similarity import COLUMNS, POINT_MASS, SAMPLED, compare
from whosevalues.humans import load_populations

ITEMS = [f"Q{number}" for number in range(177, 196)]


@pytest.fixture(scope="module")
def wvs():
    return load_populations("wvs7")


def _item_means(rows: dict[tuple[str, str, str, str], np.ndarray]) -> pd.DataFrame:
    """item_means.csv rows for (model, origin, language, persona) -> 19 means."""
    records = []
    for (model, origin, language, persona), means in rows.items():
        for item, mean in zip(ITEMS, means):
            records.append({"model": model, "origin": origin, "survey": "wvs7", "language": language,
                            "persona": persona, "item": item, "mean": mean, "n_valid": 20, "n_total": 20,
                            "refusal_rate": 0.0})
    return pd.DataFrame(records)


def test_cosine_is_one_for_the_countrys_own_means_and_invariant_to_affine_maps(wvs, tmp_path):
    chn = wvs[0].item_means()[ITEMS].to_numpy()
    item_means = _item_means({("copy", "CHN", "zh", "none"): chn,
                              ("affine", "USA", "en", "none"): 2.0 * chn + 1.0,
                              ("flat", "USA", "en", "CHN"): np.full(19, 5.0)})
    result = compare(item_means, {"wvs7": wvs}, tmp_path).set_index(["model", "country"])
    assert result.loc[("copy", "CHN"), "cosine_item_means"] == pytest.approx(1.0)
    assert result.loc[("affine", "USA"), "cosine_item_means"] == pytest.approx(
        result.loc[("copy", "USA"), "cosine_item_means"])
    assert np.isnan(result.loc[("flat", "CHN"), "cosine_item_means"])  # an LLM without variation has no z-scores
    written = pd.read_csv(tmp_path / "aggregate_similarity_wvs7.csv")
    assert list(written.columns) == COLUMNS and len(written) == 3 * len(wvs)


def test_point_mass_wasserstein_is_mean_absolute_deviation(wvs, tmp_path):
    rng = np.random.default_rng(3)
    means = rng.uniform(1, 10, 19)
    result = compare(_item_means({("m", "USA", "en", "none"): means}), {"wvs7": wvs}, tmp_path)
    for population in wvs:
        shares = population.distributions.loc[ITEMS].to_numpy()
        values = np.arange(1, 11)
        # W(point mass at m, H) = E_H |X - m|; similarity = 1 - W / (10 - 1), averaged over items.
        expected = np.mean(1 - (shares * np.abs(values[None, :] - means[:, None])).sum(axis=1) / 9)
        row = result[result["country"] == population.country].iloc[0]
        assert row["wasserstein_similarity"] == pytest.approx(expected)
        assert row["llm_distribution"] == POINT_MASS


def test_sampled_distributions_equal_to_humans_give_similarity_one(wvs, tmp_path):
    chn = wvs[0]
    distributions = (chn.distributions.loc[ITEMS].rename_axis(index="item", columns="value").stack()
                     .rename("probability").reset_index()
                     .assign(model="twin", survey="wvs7", language="zh", persona="none"))
    distributions.to_csv(tmp_path / "item_distributions.csv", index=False)  # picked up from out_dir
    item_means = _item_means({("twin", "CHN", "zh", "none"): chn.item_means()[ITEMS].to_numpy()})
    result = compare(item_means, {"wvs7": wvs}, tmp_path).set_index("country")
    assert result.loc["CHN", "wasserstein_similarity"] == pytest.approx(1.0)
    assert result.loc["USA", "wasserstein_similarity"] < 1.0
    assert result.loc["CHN", "llm_distribution"] == SAMPLED


def test_human_distributions_file_and_respondent_surveys_skipped(wvs, tmp_path):
    mfq2 = load_populations("mfq2")
    item_means = _item_means({("m", "USA", "en", "none"): np.linspace(1, 10, 19)})
    result = compare(item_means, {"wvs7": wvs, "mfq2": mfq2}, tmp_path)
    assert set(result["survey"]) == {"wvs7"}
    assert not (tmp_path / "aggregate_similarity_mfq2.csv").exists()
    shares = pd.read_csv(tmp_path / "human_distributions.csv")
    assert list(shares.columns) == ["survey", "country", "item", "value", "proportion"]
    totals = shares.groupby(["survey", "country", "item"])["proportion"].sum()
    np.testing.assert_allclose(totals, 1.0)
    assert len(totals) == 19 * 2 + 36 * 2


def test_means_only_countries_get_a_cosine_but_no_wasserstein(tmp_path):
    populations = load_populations("wvs7", countries=["DEU", "JPN"])
    item_means = _item_means({("m", "USA", "en", "none"): np.linspace(1, 10, 19)})
    result = compare(item_means, {"wvs7": populations}, tmp_path)
    assert result["cosine_item_means"].notna().all()
    assert result["wasserstein_similarity"].isna().all()
