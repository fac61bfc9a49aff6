"""Batch prices beside online prices: the dry run and what each batch record keeps."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from whosevalues.elicit.batch.costs import with_batch_prices
from whosevalues.elicit.cost import estimate_cost
from whosevalues.models.batch_base import BATCH_PRICE_FACTOR, batch_price_factor
from whosevalues.models.catalog import resolve_model
from whosevalues.pipeline import plan_study
from whosevalues.study import Study

REPO = Path(__file__).resolve().parents[1]


def test_batch_price_is_the_documented_discount_of_the_online_price():
    study = Study(models=["gpt-4o", "claude-3.5-sonnet", "gemini-2.5-flash", "deepseek-v3"], surveys=["mfq2"])
    specs = {spec.id: spec for spec in study.model_specs()}
    plan = plan_study(study, {model: "sample" for model in specs})
    table = estimate_cost([(specs[m], p.request) for m, requests in plan.items() for p in requests])
    table = with_batch_prices(table, specs).set_index("model")
    for model, provider_factor in (("gpt-4o", BATCH_PRICE_FACTOR["openai"]),
                                   ("claude-3.5-sonnet", BATCH_PRICE_FACTOR["anthropic"]),
                                   ("gemini-2.5-flash", BATCH_PRICE_FACTOR["gemini"])):
        assert math.isclose(table.loc[model, "batch_cost_usd"], table.loc[model, "cost_usd"] * provider_factor)
    assert math.isnan(table.loc["deepseek-v3", "batch_cost_usd"])  # DeepSeek's API has no batch endpoint


def test_other_openai_compatible_endpoints_have_no_documented_discount():
    own = resolve_model("gpt-4o").model_copy(update={"base_url": "http://127.0.0.1:8000/v1"})
    assert batch_price_factor(own) is None
    assert batch_price_factor(resolve_model("gpt-4o")) == BATCH_PRICE_FACTOR["openai"]


@pytest.mark.slow
def test_dry_run_prints_the_batch_column():
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), COLUMNS="200")
    result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", "--dry-run", "--models",
                             "gpt-4o,deepseek-v3", "--surveys", "mfq2"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "batch $" in result.stdout and "documented discount" in result.stdout
