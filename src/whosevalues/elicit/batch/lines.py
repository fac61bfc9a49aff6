"""What goes in a batch: custom_ids, parts within the provider's limits, requests rebuilt from the store."""

from __future__ import annotations

import json

from whosevalues.elicit.plan import PlannedRequest
from whosevalues.elicit.store import Store
from whosevalues.instruments import load_instrument
from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import ChatRequest
from whosevalues.models.batch_base import BatchAdapter


def custom_id(key: str, sent_before: int = 0) -> str:
    """A line's custom_id: its request key (32 hex digits), and ``-<n>`` when the key was in n earlier
    batches (its lines failed there). Valid for OpenAI, Anthropic (``[a-zA-Z0-9_-]{1,64}``) and Gemini."""
    return key if not sent_before else f"{key}-{sent_before}"


def split_by_limits(adapter: BatchAdapter, requests: list[PlannedRequest]) -> list[list[PlannedRequest]]:
    """Parts no larger than the provider allows in requests and bytes per batch."""
    chunks: list[list[PlannedRequest]] = [[]]
    size = 0
    for planned in requests:
        line_bytes = len(json.dumps(adapter.line(custom_id(planned.key), planned.request),
                                    ensure_ascii=False).encode()) + 1
        full = len(chunks[-1]) >= adapter.max_requests or (
            adapter.max_bytes is not None and size + line_bytes > adapter.max_bytes)
        if chunks[-1] and full:
            chunks.append([])
            size = 0
        chunks[-1].append(planned)
        size += line_bytes
    return [chunk for chunk in chunks if chunk]


def planned_from_store(store: Store, keys: set[str]) -> dict[str, PlannedRequest]:
    """Rebuild planned requests from the store's ``requests`` rows (a batch may outlive the plan that made it)."""
    if not keys:
        return {}
    wanted = sorted(keys)
    rows = []
    for start in range(0, len(wanted), 500):
        part = wanted[start:start + 500]
        rows += store.db.execute(
            "SELECT key, model, origin, survey, item, language, persona, sample, mode, temperature, max_tokens, "
            f"seed, system, user, variant FROM requests WHERE key IN ({', '.join('?' * len(part))})", part).fetchall()
    planned: dict[str, PlannedRequest] = {}
    formats: dict[tuple[str, str, str], AnswerFormat | None] = {}
    for (key, model, origin, survey, item, language, persona, sample, mode, temperature, max_tokens, seed,
         system, user, variant) in rows:
        if key not in keys:
            continue
        if (survey, variant, language) not in formats:
            try:
                formats[survey, variant, language] = load_instrument(survey).answer_format(variant, language)
            except Exception:  # a survey file (or its format) no longer loadable: its lines stay pending
                formats[survey, variant, language] = None
        answer_format = formats[survey, variant, language]
        if answer_format is None:
            continue
        request = ChatRequest(key=key, system=system, user=user, mode=mode, scale_min=answer_format.scale_min,
                              scale_max=answer_format.scale_max, temperature=temperature, max_tokens=max_tokens,
                              seed=seed, answer_format=answer_format)
        planned[key] = PlannedRequest(model, origin, survey, item, language, persona, sample, request, variant)
    return planned
