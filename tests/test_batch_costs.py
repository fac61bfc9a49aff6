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
from whosevalues.models.anthropic_backend import AnthropicBackend
from whosevalues.models.batch_base import batch_price_factor
from whosevalues.models.catalog import _catalog_data, host_batch_price_factor, resolve_model
from whosevalues.models.gemini_backend import GeminiBackend
from whosevalues.pipeline import plan_study
from whosevalues.study import Study

REPO = Path(__file__).resolve().parents[1]


def test_batch_price_is_the_documented_discount_of_the_online_price():
    study = Study(models=["gpt-4o", "claude-3.5-sonnet", "gemini-2.5-flash", "deepseek-v3"], surveys=["mfq2"])
    specs = {spec.id: spec for spec in study.model_specs()}
    plan = plan_study(study, {model: "sample" for model in specs})
    table = estimate_cost([(specs[m], p.request) for m, requests in plan.items() for p in requests])
    table = with_batch_prices(table, specs).set_index("model")
    for model, provider_factor in (("gpt-4o", host_batch_price_factor("https://api.openai.com/v1")),
                                   ("claude-3.5-sonnet", AnthropicBackend.batch_price),
                                   ("gemini-2.5-flash", GeminiBackend.batch_price)):
        assert math.isclose(table.loc[model, "batch_cost_usd"], table.loc[model, "cost_usd"] * provider_factor)
    assert math.isnan(table.loc["deepseek-v3", "batch_cost_usd"])  # DeepSeek's API has no batch endpoint


def test_other_openai_compatible_endpoints_have_no_documented_discount():
    own = resolve_model("gpt-4o").model_copy(update={"base_url": "http://127.0.0.1:8000/v1"})
    assert batch_price_factor(own) is None
    assert batch_price_factor(resolve_model("gpt-4o")) == _catalog_data()["batch_price_factors"]["api.openai.com"]


def test_hosts_that_publish_a_batch_discount_get_it_from_the_catalog_and_a_model_may_override_it():
    qwen = resolve_model("qwen3.8-max")  # DashScope (intl): Model Studio's batch costs 50% (cited in catalog.toml)
    factors = _catalog_data()["batch_price_factors"]
    assert batch_price_factor(qwen) == factors["dashscope-intl.aliyuncs.com"]
    together = qwen.model_copy(update={"base_url": "https://api.together.xyz/v1"})
    assert batch_price_factor(together) == factors["api.together.xyz"]
    assert batch_price_factor(qwen.model_copy(update={"batch_price_factor": 0.6})) == 0.6


@pytest.mark.slow
def test_dry_run_prints_the_batch_column():
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"), COLUMNS="200")
    result = subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", "--dry-run", "--models",
                             "gpt-4o,deepseek-v3", "--surveys", "mfq2"], env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "batch $" in result.stdout and "documented discount" in result.stdout
