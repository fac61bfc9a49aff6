"""Study: what to ask whom. Built from CLI options or a TOML file; validated before anything runs.

A study file looks like::

    models = ["gpt-4o", "deepseek-v3"]        # catalog ids, or "paper" for the paper's 20
    surveys = ["mfq2", "wvs7"]                # built-in ids or paths of survey .toml files
    languages = ["en", "zh"]
    personas = ["none", "CHN", "USA"]
    samples = 20
    mode = "auto"                             # auto | sample | distribution
    variants = ["original", "recoded"]        # question formats: original | core | all | names

    [[models]]                                # or define / override models inline
    id = "my-qwen"
    provider = "openai-compatible"
    base_url = "http://127.0.0.1:8000/v1"
    api_model = "Qwen/Qwen2.5-7B-Instruct"
    origin = "CHN"
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from whosevalues.datafiles import describe_validation_error, read_toml
from whosevalues.errors import WhosevaluesError
from whosevalues.instruments import NO_PERSONA, Instrument, load_instrument
from whosevalues.instruments.variants import DEFAULT_RUN_VARIANTS, ORIGINAL
from whosevalues.models.catalog import (
    EMBEDDED_MODEL,
    expand_model_ids,
    load_catalog,
    model_spec_from_dict,
    resolve_model,
)
from whosevalues.models.spec import ModelSpec

PAPER_LANGUAGES = ("en", "zh")
PAPER_PERSONAS = (NO_PERSONA, "CHN", "USA")
# `--personas countries`: every country with bundled human data for the survey at hand.
ALL_COUNTRIES = "countries"
StudyMode = Literal["auto", "sample", "distribution", "per-model"]
#: The documented range of every numeric study field (study file and command line), as (low, high).
FIELD_RANGES = {"samples": (1, 100_000), "temperature": (0.0, 2.0), "max_tokens": (1, 100_000)}


class StudyError(WhosevaluesError, ValueError):
    """The study cannot run as specified. The message says what to change."""


@dataclass(frozen=True)
class Condition:
    """One cell of the design for one survey: prompt language x persona."""

    language: str
    persona: str


class Study(BaseModel):
    """What to ask whom. Defaults are the paper's design on the embedded local model."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
                             description="the study's id in the store (default: a hash of the design)")
    models: list[str] = Field(default_factory=lambda: [EMBEDDED_MODEL], min_length=1)
    custom_models: dict[str, ModelSpec] = Field(default_factory=dict)
    surveys: list[str] = Field(default_factory=lambda: ["mfq2", "wvs7"], min_length=1)
    languages: list[str] = Field(default_factory=lambda: list(PAPER_LANGUAGES), min_length=1)
    personas: list[str] = Field(default_factory=lambda: list(PAPER_PERSONAS), min_length=1)
    samples: int = Field(default=20, ge=FIELD_RANGES["samples"][0], le=FIELD_RANGES["samples"][1])
    mode: StudyMode = Field(default="auto", description="auto: distribution mode only if every model supports "
                                                        "it; per-model: each model its own (the report flags it)")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, allow_inf_nan=False,
                                      description="override every model's temperature")
    max_tokens: int = Field(default=10, ge=FIELD_RANGES["max_tokens"][0], le=FIELD_RANGES["max_tokens"][1])
    variants: list[str] = Field(default_factory=lambda: list(DEFAULT_RUN_VARIANTS), min_length=1,
                                description="question formats: original (the paper's prompt), core, all, or "
                                            "variant names (instruments/variant_schema.py)")

    @field_validator("models", "surveys", "languages", "personas", "variants")
    @classmethod
    def _no_blank_or_repeated(cls, values: list[str]) -> list[str]:
        blank = [value for value in values if not isinstance(value, str) or not value.strip()]
        if blank:
            raise ValueError("an empty name in the list: give ids separated by commas, like en,zh")
        repeated = sorted({value for value in values if values.count(value) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]!r} is listed twice: list each once")
        return [value.strip() for value in values]

    @field_validator("personas")
    @classmethod
    def _country_codes_upper_case(cls, personas: list[str]) -> list[str]:
        """Codes are case-insensitive on input (usa is USA); none and countries are words, kept lower-case."""
        codes = [p.lower() if p.lower() in (NO_PERSONA, ALL_COUNTRIES) else p.upper() for p in personas]
        repeated = sorted({code for code in codes if codes.count(code) > 1})
        if repeated:
            raise ValueError(f"{repeated[0]!r} is listed twice: list each once")
        return codes

    @property
    def study_id(self) -> str:
        """The study's id in the store: its ``name``, else a short hash of everything that shapes its answers."""
        if self.name:
            return self.name
        # the paper's design alone (original only) keeps the id it had before formats existed
        exclude = {"name", "variants"} if self.variants == [ORIGINAL] else {"name"}
        design = self.model_dump(mode="json", exclude=exclude)
        return "study-" + hashlib.sha256(json.dumps(design, sort_keys=True).encode()).hexdigest()[:8]
    min_valid_mass: float = Field(default=0.5, ge=0.0, le=1.0,
                                  description="distribution mode: below this share of probability on the scale's "
                                              "answers an item is sampled instead")
    batch: bool | None = Field(default=None, description="True: every model through its provider's batch API; "
                                                        "False: none; None: the models whose block says batch")

    def batch_model_ids(self) -> set[str]:
        """The models asked through batch APIs (``batch`` here overrides each model's own ``batch``)."""
        return {spec.id for spec in self.model_specs() if (spec.batch if self.batch is None else self.batch)}

    # -- resolved views ------------------------------------------------------------------------
    def model_specs(self) -> list[ModelSpec]:
        return [resolve_model(model_id, self.custom_models) for model_id in expand_model_ids(self.models)]

    def instruments(self) -> list[Instrument]:
        return [load_instrument(survey) for survey in self.surveys]

    def personas_for(self, instrument: Instrument) -> list[str]:
        """The personas, with ``countries`` expanded to the survey's countries with human data."""
        if ALL_COUNTRIES not in self.personas:
            return list(self.personas)
        from whosevalues.humans.bundled import countries_with_data

        expanded = [p for persona in self.personas
                    for p in (countries_with_data(instrument.id) if persona == ALL_COUNTRIES else [persona])]
        return list(dict.fromkeys(expanded))

    def conditions(self, instrument: Instrument) -> list[Condition]:
        personas = self.personas_for(instrument)
        return [Condition(language, persona) for language in self.languages for persona in personas]

    def variants_for(self, instrument: Instrument) -> list[str]:
        """The question formats asked of ``instrument``, in its own order (``original`` first); see
        ``instruments.resolve.resolve_variants``. Raises StudyError for a format it lacks."""
        from whosevalues.instruments.resolve import VariantError, resolve_variants

        try:
            return resolve_variants(self.variants, instrument)
        except VariantError as exc:
            raise StudyError(str(exc)) from None

    def validate_design(self) -> None:
        """Fail early, with the fix, on anything unknown: models, surveys, languages, personas, formats."""
        try:
            specs = self.model_specs()
        except KeyError as exc:
            raise StudyError(str(exc.args[0])) from None
        for spec in specs:
            check_model_ranges(spec)
        from whosevalues.instruments.resolve import VariantError, check_variant_names

        instruments = self.instruments()
        check_distinct_survey_ids(self.surveys, instruments)
        try:
            check_variant_names(self.variants, instruments)
        except VariantError as exc:
            raise StudyError(str(exc)) from None
        for instrument in instruments:
            self.variants_for(instrument)
            check_countries_persona(self.personas, instrument)
            for language in self.languages:
                if language not in instrument.languages:
                    raise StudyError(f"survey {instrument.id} has no language {language!r}: use one of "
                                     f"{', '.join(instrument.languages)} or add [languages.{language}] to its file")
                for persona in self.personas_for(instrument):
                    try:
                        instrument.check_persona(language, persona)
                    except KeyError as exc:
                        raise StudyError(str(exc.args[0])) from None

    # -- construction --------------------------------------------------------------------------
    def with_overrides(self, **changes) -> "Study":
        """A copy with some fields replaced (e.g. from command-line options), validated again."""
        data = {**self.model_dump(), **changes}
        try:
            return Study.model_validate(data)
        except ValidationError as exc:
            field = str(exc.errors()[0]["loc"][0]) if exc.errors()[0]["loc"] else ""
            option = "--" + field.replace("_", "-") if field in changes else f"study field {field}"
            raise StudyError(f"{option}: {describe_field_error(exc)}") from None

    @classmethod
    def from_toml(cls, path: str | Path) -> "Study":
        path = Path(path)
        return cls.from_dict(read_toml(path, "study file", StudyError, "the --config path"), where=str(path))

    @classmethod
    def from_dict(cls, data: dict, where: str = "study") -> "Study":
        data = dict(data)
        # `models` may be a list of ids, or [[models]] tables (an id alone refers to the catalog).
        ids: list[str] = []
        custom: dict[str, ModelSpec] = {}
        if "models" in data and data["models"] in ([], None, ""):
            # never the embedded model in its place: an empty list is a mistake, not a choice
            raise StudyError(f"{where}: field models is empty: list the models to ask (ids from `whosevalues "
                             f"models`), or leave models out for the embedded local model")
        models = data.pop("models", []) or []
        if not isinstance(models, list):
            raise StudyError(f"{where}: field models must be a list, like models = [{models!r}], or [[models]] "
                             f"tables")
        for entry in models:
            if isinstance(entry, str):
                ids.append(entry)
            elif isinstance(entry, dict) and set(entry) == {"id"}:
                ids.append(entry["id"])
            elif isinstance(entry, dict):
                try:
                    if "provider" not in entry and entry.get("id") in load_catalog():
                        # a catalog model with some settings changed (thinking, temperature, limits, ...)
                        entry = {**load_catalog()[entry["id"]].model_dump(exclude_unset=True), **entry}
                    spec = model_spec_from_dict(entry, where)
                except ValueError as exc:
                    raise StudyError(str(exc)) from None
                custom[spec.id] = spec
                ids.append(spec.id)
            else:
                raise StudyError(f"{where}: models entries must be ids or [[models]] tables")
        if ids:
            data["models"] = ids
        data["custom_models"] = custom
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            field = ".".join(str(part) for part in exc.errors()[0]["loc"])
            raise StudyError(f"{where}: field {field}: {describe_field_error(exc)}") from None
        except ValueError as exc:
            raise StudyError(str(exc)) from None


def check_distinct_survey_ids(surveys: list[str], instruments: list[Instrument]) -> None:
    """Two survey files with one id would be asked both and averaged into one survey: refused."""
    seen: dict[str, str] = {}
    for name, instrument in zip(surveys, instruments):
        if instrument.id in seen:
            raise StudyError(f"surveys {seen[instrument.id]} and {name} both have id {instrument.id!r}; give each "
                             f"survey file its own id (field id)")
        seen[instrument.id] = name


def check_countries_persona(personas: list[str], instrument: Instrument) -> None:
    """`countries` must name at least one country for every survey (else its personas silently vanish)."""
    if ALL_COUNTRIES not in personas:
        return  # before the import: the human data's modules load pandas, which a run needs only later
    from whosevalues.humans.bundled import countries_with_data

    if not countries_with_data(instrument.id):
        raise StudyError(f"personas 'countries' means every country with bundled human data, and survey "
                         f"{instrument.id} has none, so no country persona would be asked; name the countries "
                         f"instead (e.g. --personas none,CHN,USA)")


#: What shapes a study's answers: a study name reused with any of these changed would mix two designs.
DESIGN_FIELDS = ("models", "surveys", "languages", "personas", "samples", "mode", "temperature", "max_tokens",
                 "min_valid_mass", "variants")


def design_changes(stored_json: str, study: "Study") -> list[str]:
    """The design fields that differ between a stored study and ``study``, as "samples 20 -> 30"."""
    try:
        stored = json.loads(stored_json or "{}")
    except ValueError:
        return []
    current = json.loads(study.model_dump_json())
    return [f"{field} {stored[field]} -> {current[field]}" for field in DESIGN_FIELDS
            if field in stored and field in current and stored[field] != current[field]]


def check_name_keeps_design(study: "Study", stored_json: str | None, where: str) -> None:
    """A study ``name`` already in the store with another design would mix two designs under one study."""
    if not study.name or stored_json is None:
        return
    changes = design_changes(stored_json, study)
    if changes:
        raise StudyError(f"study {study.name!r} in {where} was run with another design ({'; '.join(changes)}); "
                         f"answers of two designs would be mixed under one study: give this design a new name, "
                         f"or leave name out (the study is then named by its design)")


#: Documented ranges of the per-model settings a study file may give ([[models]] blocks).
MODEL_RANGES = {"temperature": (0.0, 2.0), "max_concurrency": (1, 10_000), "requests_per_minute": (0.001, 1e9),
                "tokens_per_minute": (1, 1e12), "timeout": (0.1, 86_400), "max_attempts": (1, 100)}


def check_model_ranges(spec: ModelSpec) -> None:
    """Every numeric setting of a model within its documented range (a negative timeout would never finish)."""
    for field, (low, high) in MODEL_RANGES.items():
        value = getattr(spec, field)
        if value is None:
            continue
        if isinstance(value, float) and not math.isfinite(value) or not low <= value <= high:
            raise StudyError(f"model {spec.id!r}: {field} = {value} is outside {low:g}..{high:g}; "
                             f"set {field} in its [[models]] block within that range")


def describe_field_error(exc: ValidationError) -> str:
    """What is wrong with a study field and what to give instead, e.g. 'must be from 0 to 2 (got -1)'."""
    first = exc.errors()[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    got = first.get("input")
    if field in FIELD_RANGES and first["type"] in {"greater_than_equal", "less_than_equal", "finite_number"}:
        low, high = FIELD_RANGES[field]
        return f"must be from {low:g} to {high:g} (got {got})"
    if first["type"] == "too_short":
        return "must not be empty: give at least one"
    if first["type"] == "int_from_float":
        return f"must be a whole number (got {got!r})"
    if first["type"] in {"int_parsing", "float_parsing", "int_type", "float_type"}:
        return f"must be a number (got {got!r})"
    if first["type"] == "list_type":
        return f"must be a list, like {field} = [{got!r}]"
    if first["type"] == "literal_error" and field == "mode":
        return f"must be one of auto, sample, distribution, per-model (got {got!r})"
    return describe_validation_error(exc).split(": ", 1)[-1]
