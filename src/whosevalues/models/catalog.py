"""The model catalog (``catalog.toml``): known models by id, plus the models a study file defines."""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from whosevalues.datafiles import describe_validation_error, read_toml
from whosevalues.errors import NotFoundError
from whosevalues.models.spec import ModelSpec

CATALOG_PATH = Path(__file__).parent / "catalog.toml"
EMBEDDED_MODEL = "smollm2-135m"
PAPER_MODELS = (
    "baichuan2-13b-chat", "claude-3.5-sonnet", "claude-3.7-sonnet", "claude-opus-4", "deepseek-v2-lite-chat",
    "deepseek-v3", "ernie-4.5-300b-a47b", "gemini-2.0-flash", "gemini-2.5-flash", "glm-4-plus", "gpt-4",
    "gpt-4o", "gpt-4.1", "kimi-1.5", "kimi-k2", "llama-3.3-70b-instruct", "llama-4-maverick",
    "qwen2.5-72b-instruct", "qwen3-235b-a22b", "yi-34b-chat",
)
#: selection shorthands always understood, besides any other tag found in the catalog
SHORTHANDS = frozenset({"paper", "current"})


class UnknownModelError(NotFoundError):
    """A model id neither the catalog nor the study file defines."""


def model_spec_from_dict(data: dict, where: str) -> ModelSpec:
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}: model {data.get('id', '?')!r} {describe_validation_error(exc)}") from None


@lru_cache(maxsize=1)
def _catalog_data() -> dict:
    return read_toml(CATALOG_PATH, "model catalog", ValueError, "the whosevalues installation")


def host_batch_price_factor(base_url: str | None) -> float | None:
    """The batch price factor the catalog gives for an OpenAI-compatible host (``[batch_price_factors]``, each
    cited there), matched on the host name; None where the host publishes none."""
    from urllib.parse import urlparse

    host = (urlparse(base_url or "https://api.openai.com/v1").hostname or "").lower()
    factors = _catalog_data().get("batch_price_factors", {})
    return next((float(factor) for name, factor in factors.items() if host == name or host.endswith("." + name)),
                None)


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, ModelSpec]:
    data = _catalog_data()
    catalog = {entry["id"]: model_spec_from_dict(entry, str(CATALOG_PATH)) for entry in data["models"]}
    check_lifecycle(catalog, str(CATALOG_PATH))
    return catalog


def check_lifecycle(specs: dict[str, ModelSpec], where: str) -> None:
    """Every ``retired`` is a YYYY-MM-DD date and every ``successor`` names a known model."""
    for spec in specs.values():
        if spec.retired is not None:
            try:
                date.fromisoformat(spec.retired)
            except ValueError:
                raise ValueError(f"{where}: model {spec.id!r} has retired = {spec.retired!r}; "
                                 "write the date as YYYY-MM-DD") from None
        if spec.successor is not None and spec.successor not in specs:
            raise ValueError(f"{where}: model {spec.id!r} names successor {spec.successor!r}, "
                             "which is not a model id in the catalog")


def resolve_model(model_id: str, custom: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """A model by id: a study's own definitions first, then the catalog."""
    if custom and model_id in custom:
        return custom[model_id]
    catalog = load_catalog()
    if model_id in catalog:
        return catalog[model_id]
    raise UnknownModelError(
        f"unknown model {model_id!r}: run `whosevalues models` to list known ids, or define it in a study "
        f"file as a [[models]] block with id, provider and api_model ('paper' selects the paper's 20 models, "
        f"'current' today's models of both origins)")


def models_tagged(tag: str) -> tuple[str, ...]:
    """Catalog ids carrying ``tag``, in catalog order (``paper`` keeps the paper's own order)."""
    if tag == "paper":
        return PAPER_MODELS
    return tuple(model_id for model_id, spec in load_catalog().items() if tag in spec.tags)


def expand_model_ids(ids: list[str]) -> list[str]:
    """Expand shorthands (``paper``, ``current`` or any other catalog tag such as ``open-weights``) into
    model ids, keeping order and dropping repeats. A name that is a model id is never read as a tag."""
    catalog = load_catalog()
    out: list[str] = []
    for model_id in ids:
        shorthand = model_id not in catalog and model_id in SHORTHANDS | _all_tags(catalog)
        for one in (models_tagged(model_id) if shorthand else (model_id,)):
            if one not in out:
                out.append(one)
    return out


def _all_tags(catalog: dict[str, ModelSpec]) -> set[str]:
    return {tag for spec in catalog.values() for tag in spec.tags}


# -- lifecycle: the provider's retirement of a model, as of a given day -----------------------------------

def retirement_status(spec: ModelSpec, today: date | None = None) -> str | None:
    """``"retired"`` once the provider's shutdown date has passed, ``"retiring"`` before an announced
    shutdown, None for a model with no announced retirement."""
    if not spec.retired:
        return None
    when = date.fromisoformat(spec.retired)
    return "retired" if when <= (today or date.today()) else "retiring"


def describe_retirement(spec: ModelSpec, today: date | None = None) -> str | None:
    """One short phrase for people: "retired 2026-06-15, use claude-opus-5.5" (None if not retired)."""
    status = retirement_status(spec, today)
    if status is None:
        return None
    phrase = f"retired {spec.retired}" if status == "retired" else f"retires {spec.retired}"
    return f"{phrase}, use {spec.successor}" if spec.successor else phrase
