"""The schema of a survey data file, and rendering an item into the exact messages sent to a model.

A survey is DATA (``instruments/data/<id>.toml``); this module only validates it. Adding a survey, a
language or a persona means writing or editing such a file: see README "Adding a survey".
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, model_validator

from whosevalues.errors import NotFoundError
from whosevalues.instruments.variant_schema import Variant, check_variants, option_words
from whosevalues.instruments.variants import ORIGINAL, AnswerFormat

NO_PERSONA = "none"


class Scale(BaseModel):
    """An integer rating scale. ``labels[language][value]`` names the points (at least both ends)."""

    model_config = ConfigDict(extra="forbid")

    min: int
    max: int
    labels: dict[str, dict[int, str]]

    @model_validator(mode="after")
    def _check(self) -> "Scale":
        if self.max <= self.min:
            raise ValueError(f"scale.max ({self.max}) must be greater than scale.min ({self.min})")
        if not self.labels:
            raise ValueError("scale.labels is empty: give at least the labels of both ends for each language, "
                             "e.g. [scale.labels.en] 1 = \"Never\"")
        for language, labels in self.labels.items():
            outside = [v for v in labels if not self.min <= v <= self.max]
            if outside:
                raise ValueError(f"scale.labels.{language} has values {outside} outside {self.min}..{self.max}")
            if self.min not in labels or self.max not in labels:
                raise ValueError(f"scale.labels.{language} must label both ends ({self.min} and {self.max})")
        return self

    @property
    def values(self) -> list[int]:
        return list(range(self.min, self.max + 1))


class LanguagePrompts(BaseModel):
    """The system and user templates of one language, and the persona sentences in that language."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(description="system message; {persona} marks where the persona sentence goes")
    user: str = Field(description="user message; {item} marks where the item text goes")
    persona_separator: str = "\n"
    personas: dict[str, str] = Field(default_factory=dict, description="ISO alpha-3 code -> sentence")
    persona_template: str | None = Field(
        default=None, description="sentence for any other country; {country} is its name in this language "
                                  "(CLDR, through Babel, unless country_names gives one)")
    country_names: dict[str, str] = Field(
        default_factory=dict, description="ISO alpha-3 code -> the name the template uses, where CLDR's reads "
                                          "badly in the sentence (e.g. 'the Netherlands')")

    @model_validator(mode="after")
    def _check(self) -> "LanguagePrompts":
        if "{item}" not in self.user:
            raise ValueError("the user template has no {item} placeholder: add {item} where the item text goes")
        if "{persona}" not in self.system:
            raise ValueError("the system template has no {persona} placeholder: add {persona} where the persona "
                             "sentence goes (it is empty for persona 'none')")
        for code in [*self.personas, *self.country_names]:
            if len(code) != 3 or not code.isalpha() or not code.isupper():
                raise ValueError(f"persona {code!r} is not an ISO 3166 alpha-3 code like CHN or USA")
        if self.persona_template is not None and "{country}" not in self.persona_template:
            raise ValueError("persona_template has no {country} placeholder: add {country} where the country's "
                             "name goes")
        return self

    def persona_sentence(self, persona: str, language: str) -> str | None:
        """The sentence for ``persona``: the survey file's own sentence, else the template filled with the
        country's name in ``language``; None when neither exists. Raises CountryError for a bad code."""
        if persona in self.personas:
            return self.personas[persona]
        if self.persona_template is None:
            return None
        from whosevalues.countries import check_codes, country_name

        check_codes([persona], "persona")
        name = self.country_names.get(persona) or country_name(persona, language)
        return self.persona_template.replace("{country}", name)


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    text: dict[str, str]
    dimension: str | None = None
    label: str | None = None
    gloss: str | None = None
    note: str | None = None
    reverse: bool = False


@dataclass(frozen=True)
class RenderedPrompt:
    system: str
    user: str


class Instrument(BaseModel):
    """A survey: items, scale, and per-language prompts. Loaded from a TOML file by ``load_instrument``."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    citation: str = ""
    licence: str = ""
    dimension_kind: str = "question"
    dimensions: list[str] = Field(default_factory=list)
    scale: Scale
    languages: dict[str, LanguagePrompts]
    items: list[Item]
    #: question formats beside the top-level prompt (``original``): see ``instruments/variant_schema.py``
    variants: dict[str, Variant] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "Instrument":
        if not self.items:
            raise ValueError("items is empty: add [[items]] blocks with id, text.<language> (and dimension)")
        seen: set[str] = set()
        for item in self.items:
            if item.id in seen:
                raise ValueError(f"items: duplicate id {item.id!r}; give every item a unique id")
            seen.add(item.id)
            missing = [lang for lang in self.languages if not item.text.get(lang, "").strip()]
            if missing:
                raise ValueError(f"items[id={item.id}].text has no text for language(s) {missing}: "
                                 f"add text.{missing[0]} = \"...\"")
            if self.dimensions and item.dimension not in self.dimensions:
                raise ValueError(f"items[id={item.id}].dimension {item.dimension!r} is not one of "
                                 f"dimensions {self.dimensions}: fix the name or add it to dimensions")
        for language in self.languages:
            if language not in self.scale.labels:
                raise ValueError(f"scale.labels has no labels for language {language!r}: "
                                 f"add [scale.labels.{language}]")
        check_variants(self.variants, self.scale.labels, self.scale.min, self.scale.max, list(self.languages))
        return self

    # -- lookups -------------------------------------------------------------------------------
    @property
    def item_ids(self) -> list[str]:
        return [item.id for item in self.items]

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == str(item_id):
                return item
        raise NotFoundError(f"survey {self.id} has no item {item_id!r}; "
                            f"items are {self.item_ids[0]}..{self.item_ids[-1]}")

    def personas(self, language: str) -> list[str]:
        """The personas with their own sentence in ``language`` (any other country may come from its template)."""
        return [NO_PERSONA, *self.languages[language].personas]

    def has_persona_template(self, language: str) -> bool:
        return self.languages[language].persona_template is not None

    def check_persona(self, language: str, persona: str) -> None:
        """Raise KeyError (one line, with the fix) when ``persona`` cannot be rendered in ``language``."""
        self.render(self.items[0].id, language, persona)

    @property
    def variant_names(self) -> list[str]:
        """``original`` (the top-level prompt), then the declared variants in the file's order."""
        return [ORIGINAL, *self.variants]

    def dimension_of(self) -> dict[str, str]:
        """item id -> dimension (the item id itself where the survey has no dimensions, as for WVS)."""
        return {item.id: item.dimension or item.id for item in self.items}

    # -- rendering -----------------------------------------------------------------------------
    def render(self, item_id: str, language: str, persona: str = NO_PERSONA,
               variant: str = ORIGINAL) -> RenderedPrompt:
        """The exact system and user messages for one item under one condition, in one question format."""
        if language not in self.languages:
            raise NotFoundError(f"survey {self.id} has no language {language!r}; it has {sorted(self.languages)}")
        prompts = self.languages[language]
        templates = prompts if variant == ORIGINAL else self._variant(variant).languages[language]
        if persona == NO_PERSONA:
            persona_text = ""
        else:
            from whosevalues.countries import CountryError

            try:
                sentence = prompts.persona_sentence(persona, language)
            except CountryError as exc:
                raise NotFoundError(f"survey {self.id}: {exc}") from None
            if sentence is None:
                raise NotFoundError(f"survey {self.id} has no persona {persona!r} in language {language!r}; "
                               f"it has {self.personas(language)} (add it under [languages.{language}.personas], "
                               f"or give [languages.{language}] a persona_template with {{country}})")
            persona_text = sentence + prompts.persona_separator
        item = self.item(item_id)
        # str.replace, not str.format: item texts and templates may contain literal braces.
        return RenderedPrompt(
            system=templates.system.replace("{persona}", persona_text),
            user=templates.user.replace("{item}", item.text[language]),
        )

    def _variant(self, name: str) -> Variant:
        if name not in self.variants:
            raise KeyError(f"survey {self.id} has no variant {name!r}; it has {', '.join(self.variant_names)}")
        return self.variants[name]

    def answer_format(self, variant: str = ORIGINAL, language: str | None = None) -> AnswerFormat:
        """How answers to ``variant`` map back to the canonical scale. ``original`` is the scale's own numbers
        (exactly ``ChatRequest.format``'s default). Option words are every language's, so a reply in either
        language is read; ``language`` only checks the variant is asked in it."""
        if language is not None and language not in self.languages:
            raise KeyError(f"survey {self.id} has no language {language!r}; it has {sorted(self.languages)}")
        scale = self.scale
        if variant == ORIGINAL:
            return AnswerFormat(variant=ORIGINAL, scale_min=scale.min, scale_max=scale.max)
        declared = self._variant(variant)
        return AnswerFormat(
            variant=variant, scale_min=scale.min, scale_max=scale.max,
            identifiers=declared.identifiers_for(scale.max - scale.min + 1),
            reversed=declared.direction == "reversed", by_text=declared.answer_by == "text",
            forced=declared.forced, listed_descending=declared.order == "descending",
            option_words=option_words(declared, scale.labels, scale.min, scale.max))
