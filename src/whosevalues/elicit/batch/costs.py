"""Batch prices beside online prices in the dry run (``elicit/cost.py`` estimates the online ones)."""

from __future__ import annotations

import pandas as pd

from whosevalues.models.batch_base import batch_price_factor
from whosevalues.models.spec import ModelSpec


def with_batch_prices(table: pd.DataFrame, specs: dict[str, ModelSpec]) -> pd.DataFrame:
    """``table`` (``cost.estimate_cost``) plus ``batch_cost_usd``: the typical cost at the provider's
    documented batch discount; NaN where the provider has no batch API or documents no discount."""
    factors = table["model"].map(lambda model: batch_price_factor(specs[model]))
    table = table.copy()
    table["batch_cost_usd"] = table["cost_usd"] * factors.astype(float)
    return table
