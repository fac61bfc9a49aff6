"""ModelSpec: everything whosevalues needs to know about one model, from the catalog or a study file."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ThinkingSwitch(BaseModel):
    """How one model generation turns thinking off or on (catalog data; the backend's code is the fallback).

    ``fields``: request fields merged into the body (OpenAI-compatible: body fields such as
    ``reasoning_effort``; Gemini: ``GenerateContentConfig`` fields such as ``thinking_config``).
    ``note``: the departure to state when the switch cannot do what was asked (e.g. the lowest level instead
    of off); said in the run notes."""

    model_config = ConfigDict(extra="forbid")

    fields: dict[str, Any]
    note: str | None = None


class ModelSpec(BaseModel):
    """A model as the study sees it. ``id`` names it in results; ``provider`` picks the backend."""

    model_config = ConfigDict(extra="forbid")

    id: str
    provider: str
    display_name: str | None = None
    origin: str = Field(default="UNK", description="ISO 3166 alpha-3 of the maker, used by the analysis")
    company: str | None = None
    api_model: str | None = None
    base_url: str | None = None
    api_key_env: str | None = None
    temperature: float | None = Field(default=None, description="None: the provider's default")
    max_concurrency: int | None = None
    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    timeout: float = 60.0
    max_attempts: int = 6
    extra_body: dict[str, Any] = Field(default_factory=dict)
    # -- reasoning and the provider's documented parameters (see catalog.toml's header) -----------------
    thinking: Literal["off", "on", "default"] = Field(
        default="default", description="off: turn thinking off where the provider allows it; on: ask for it; "
                                       "default: the provider's own default (documented per provider)")
    reasoning_budget_cap: int = Field(default=8192, ge=16, le=1_000_000,
                                      description="largest max-token budget an answer may be asked again with")
    supports_logprobs: bool | None = Field(default=None, description="documented logprobs support; None: probe")
    max_output_tokens: int | None = Field(default=None, ge=1)
    context_window: int | None = Field(default=None, ge=1)
    typical_reasoning_tokens: int | None = Field(
        default=None, ge=0, description="expected reasoning tokens per answer (dry-run cost); None: not a reasoner")
    retired: str | None = Field(default=None, description="date (YYYY-MM-DD) the provider retired the model")
    successor: str | None = Field(default=None, description="catalog id of the model that replaced it")
    tags: list[str] = Field(default_factory=list, description="selection shorthands, e.g. current, paper")
    batch: bool = Field(default=False, description="send this model's requests through the provider's batch API")
    thinking_switch: dict[Literal["off", "on"], ThinkingSwitch] = Field(
        default_factory=dict, description="the request fields that turn thinking off / on for this model")
    batch_price_factor: float | None = Field(
        default=None, gt=0, le=1, description="fraction of the online price a batch request costs, where it "
                                              "differs from the host's (catalog.toml [batch_price_factors])")
    stream: bool = Field(default=False, description="the provider answers this model only when streamed (DashScope "
                                                    "QwQ, Qwen3 thinking); learned from a 400 when not declared")
    price_input_per_mtok: float | None = None
    price_output_per_mtok: float | None = None
    price_as_of: str | None = None
    notes: str | None = None

    @field_validator("origin")
    @classmethod
    def _origin_is_alpha3(cls, value: str) -> str:
        if len(value) != 3 or not value.isalpha():
            raise ValueError(f"origin must be an ISO 3166 alpha-3 code like CHN or USA, got {value!r}")
        return value.upper()

    @property
    def label(self) -> str:
        return self.display_name or self.id

    @property
    def endpoint_key(self) -> str:
        """What a probed capability depends on: a changed provider, endpoint or model is probed again."""
        return f"{self.provider}|{self.base_url or ''}|{self.api_model or self.id}"

    def api_key(self) -> str | None:
        """The key from the environment (never stored anywhere by whosevalues)."""
        from whosevalues.models.keys import read_key

        return read_key(self.api_key_env) if self.api_key_env else None
