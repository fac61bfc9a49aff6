"""The model catalog (``catalog.toml``): known models by id, plus the models a study file defines."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import ValidationError

from whosevalues.datafiles import describe_validation_error, read_toml
from whosevalues.models.spec import ModelSpec

CATALOG_PATH = Path(__file__).parent / "catalog.toml"
EMBEDDED_MODEL = "smollm2-135m"
PAPER_MODELS = (
    "baichuan2-13b-chat", "claude-3.5-sonnet", "claude-3.7-sonnet", "claude-opus-4", "deepseek-v2-lite-chat",
    "deepseek-v3", "ernie-4.5-300b-a47b", "gemini-2.0-flash", "gemini-2.5-flash", "glm-4-plus", "gpt-4",
    "gpt-4o", "gpt-4.1", "kimi-1.5", "kimi-k2", "llama-3.3-70b-instruct", "llama-4-maverick",
    "qwen2.5-72b-instruct", "qwen3-235b-a22b", "yi-34b-chat",
)


class UnknownModelError(KeyError):
    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


def model_spec_from_dict(data: dict, where: str) -> ModelSpec:
    try:
        return ModelSpec.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"{where}: model {data.get('id', '?')!r} {describe_validation_error(exc)}") from None


@lru_cache(maxsize=1)
def load_catalog() -> dict[str, ModelSpec]:
    data = read_toml(CATALOG_PATH, "model catalog", ValueError, "the whosevalues installation")
    return {entry["id"]: model_spec_from_dict(entry, str(CATALOG_PATH)) for entry in data["models"]}


def resolve_model(model_id: str, custom: dict[str, ModelSpec] | None = None) -> ModelSpec:
    """A model by id: a study's own definitions first, then the catalog."""
    if custom and model_id in custom:
        return custom[model_id]
    catalog = load_catalog()
    if model_id in catalog:
        return catalog[model_id]
    aliases = {"paper": "the 20 paper models"}
    raise UnknownModelError(
        f"unknown model {model_id!r}: run `whosevalues models` to list known ids, or define it in a study "
        f"file as a [[models]] block with id, provider and api_model ({', '.join(aliases)} selects "
        f"{aliases['paper']})")


def expand_model_ids(ids: list[str]) -> list[str]:
    """Expand the shorthand ``paper`` into the paper's 20 models, keeping order and dropping repeats."""
    out: list[str] = []
    for model_id in ids:
        for one in (PAPER_MODELS if model_id == "paper" else (model_id,)):
            if one not in out:
                out.append(one)
    return out
