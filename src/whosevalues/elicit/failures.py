"""Why requests failed, in the provider's own words, with the fix: for the run's summary.

The store keeps every failure's message. When many answers of a model are errors, the user needs the most
common one (a 401, a bad header, an HTML page, a dead proxy) and what to do about it, not a table of NaN.
"""

from __future__ import annotations

import re

import pandas as pd

from whosevalues.models.keys import redact_keys

#: (pattern in the provider's message, the fix), first match wins
FIXES: list[tuple[str, str]] = [
    (r"\b(401|403)\b|unauthori[sz]ed|invalid api key|incorrect api key|authentication|permission denied",
     "check the model's API key (its variable in `whosevalues models`) and that it may use this model"),
    (r"illegal header|invalid header", "the API key has stray characters: set its variable to the key alone"),
    (r"<html|<!doctype|\bhtml\b|not json|expecting value|jsondecodeerror",
     "the endpoint answered with something other than the provider's API (an HTML page?): check base_url"),
    (r"\b404\b|not found|does not exist|no such model", "check api_model (the provider's name for the model) "
                                                          "and base_url"),
    (r"\b429\b|rate limit|quota|insufficient_quota|billing",
     "the provider limits or bills this key: wait, raise the limit, or lower requests_per_minute"),
    (r"proxy|connection refused|connect|timed out|timeout|name or service not known|unreachable",
     "the endpoint (or a proxy in HTTP(S)_PROXY) could not be reached: check the network, base_url and proxy"),
    (r"\b5\d\d\b|overloaded|server error", "the provider failed on its side: run the same command again later"),
]
FALLBACK_FIX = "see the failures in the store (`answers.error`); run the same command again to ask them again"


def fix_for(message: str) -> str:
    lowered = message.lower()
    for pattern, fix in FIXES:
        if re.search(pattern, lowered):
            return fix
    return FALLBACK_FIX


def common_failures(answers: pd.DataFrame) -> list[str]:
    """One line per model with failed requests: how many, the most common message, and the fix."""
    if answers.empty or "status" not in answers.columns:
        return []
    failed = answers[answers["status"] == "error"]
    lines = []
    for model, rows in failed.groupby("model", sort=False):
        messages = rows["error"].fillna("no message").astype(str).map(lambda m: " ".join(m.split())[:300])
        top, count = messages.value_counts().index[0], int(messages.value_counts().iloc[0])
        share = f"{len(rows)} of {int((answers['model'] == model).sum())} requests failed"
        lines.append(redact_keys(f"{model}: {share}; most often ({count}x): {top} -> {fix_for(top)}") or "")
    return lines
