"""Population: a set of real respondents (or, failing that, their answer distributions) for one survey."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from whosevalues.errors import WhosevaluesError


class PopulationError(WhosevaluesError, ValueError):
    """A human data file or selection cannot be used. The message names the problem and the fix."""


class PopulationWarning(UserWarning):
    """Something about a population the user should know (also kept in ``Population.audit["warnings"]``)."""


@dataclass
class Population:
    """Respondents of one country for one survey.

    ``responses``: one row per respondent (index: respondent id as str), one column per item id of the
    survey (str, in the survey's item order), float values on the survey's scale, NaN where missing.
    ``None`` when only aggregates are available (the bundled WVS-7 data): then ``distributions`` holds,
    per item (rows) and scale value (columns), the proportion of respondents giving that answer.
    ``audit`` is filled when the population loads (Cronbach's alpha, straight-liners, item means) and
    ``steps`` records what loading kept and dropped, in order, e.g. ("non-nationals (Q254 == 5)", 123).
    ``means``: item means (index: item id) for populations known only by their means (the bundled 55-country
    WVS-7 means); ``None`` otherwise.
    ``dimension_means``: means per dimension (index: dimension name, e.g. MFQ-2 foundation) for populations
    known only at that level (the bundled 19-country MFQ-2 foundation means); ``None`` otherwise.
    """

    survey: str
    country: str  # ISO 3166 alpha-3 (WVS B_COUNTRY_ALPHA)
    source: str  # human-readable provenance
    responses: pd.DataFrame | None = None
    distributions: pd.DataFrame | None = None
    steps: list[tuple[str, int]] = field(default_factory=list)
    audit: dict = field(default_factory=dict)
    means: pd.Series | None = None
    dimension_means: pd.Series | None = None

    @property
    def n(self) -> int:
        if self.responses is not None:
            return len(self.responses)
        return int(self.audit.get("n", 0))

    @property
    def has_respondents(self) -> bool:
        return self.responses is not None

    @property
    def level(self) -> str:
        """``item`` where item means can be had (respondents, distributions, item means), else ``dimension``."""
        item_level = (self.responses, self.distributions, self.means)
        return "item" if any(data is not None for data in item_level) else "dimension"

    def item_means(self) -> pd.Series:
        """Item means (empty for a population known only by dimension means)."""
        if self.level == "dimension":
            return pd.Series(dtype=float)
        if self.responses is not None:
            return self.responses.mean()
        if self.distributions is None:
            return self.means
        values = self.distributions.columns.astype(float)
        return (self.distributions * values).sum(axis=1) / self.distributions.sum(axis=1)
