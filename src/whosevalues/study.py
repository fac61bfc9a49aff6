"""Study: what to ask whom. Built from CLI options or a TOML file; validated before anything runs.

A study file looks like::

    models = ["gpt-4o", "deepseek-v3"]        # catalog ids, or "paper" for the paper's 20
    surveys = ["mfq2", "wvs7"]                # built-in ids or paths of survey .toml files
    languages = ["en", "zh"]
    personas = ["none", "CHN", "USA"]
    samples = 20
    mode = "auto"                             # auto | sample | distribution

    [[models]]                                # or define / override models inline
    id = "my-qwen"
    provider = "openai-compatible"
    base_url = "http://127.0.0.1:8000/v1"
    api_model = "Qwen/Qwen2.5-7B-Instruct"
    origin = "CHN"
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from whosevalues.datafiles import describe_validation_error, read_toml
from whosevalues.instruments import NO_PERSONA, Instrument, load_instrument
from whosevalues.models.catalog import (EMBEDDED_MODEL, expand_model_ids, load_catalog, model_spec_from_dict,
                                        resolve_model)
from whosevalues.models.spec import ModelSpec

PAPER_LANGUAGES = ("en", "zh")
PAPER_PERSONAS = (NO_PERSONA, "CHN", "USA")
# `--personas countries`: every country with bundled human data for the survey at hand.
ALL_COUNTRIES = "countries"
StudyMode = Literal["auto", "sample", "distribution"]


class StudyError(ValueError):
    """The study cannot run as specified. The message says what to change."""


@dataclass(frozen=True)
class Condition:
    """One cell of the design for one survey: prompt language x persona."""

    language: str
    persona: str


class Study(BaseModel):
    """What to ask whom. Defaults are the paper's design on the embedded local model."""

    model_config = ConfigDict(extra="forbid")

    models: list[str] = Field(default_factory=lambda: [EMBEDDED_MODEL])
    custom_models: dict[str, ModelSpec] = Field(default_factory=dict)
    surveys: list[str] = Field(default_factory=lambda: ["mfq2", "wvs7"])
    languages: list[str] = Field(default_factory=lambda: list(PAPER_LANGUAGES))
    personas: list[str] = Field(default_factory=lambda: list(PAPER_PERSONAS))
    samples: int = Field(default=20, ge=1, le=10_000)
    mode: StudyMode = "auto"
    temperature: float | None = Field(default=None, description="override every model's temperature")
    max_tokens: int = Field(default=10, ge=1)
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

    def validate_design(self) -> None:
        """Fail early, with the fix, on anything unknown: models, surveys, languages, personas."""
        try:
            self.model_specs()
        except KeyError as exc:
            raise StudyError(str(exc.args[0])) from None
        for instrument in self.instruments():
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
            raise StudyError(f"option {describe_validation_error(exc).removeprefix('field ')}") from None

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
        for entry in data.pop("models", []) or []:
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
            raise StudyError(f"{where}: {describe_validation_error(exc)}") from None
        except ValueError as exc:
            raise StudyError(str(exc)) from None
