"""The ``[variants.<name>]`` blocks of a survey file: question formats declared as data.

A variant asks the same items in another format. It gives its own prompts per language (``system`` with
{persona}, ``user`` with {item}, like the survey's top-level prompts) and says how its answers map back to the
survey's canonical scale::

    [variants.letters]
    description = "letters instead of numbers"
    identifiers = "letters"          # "numbers" (default), "letters", or a list, one per scale point
    direction = "same"               # or "reversed": canonical = min + max - answer
    order = "ascending"              # the order the prompt lists the options: ascending | descending
    answer_by = "identifier"         # or "text": the model answers with the option's words
    forced = true                    # false: the prompt does not demand an identifier only

    [variants.letters.languages.en]
    system = "{persona}Respond only with a letter from A to E."
    user = "...Options:\\nA: Does not describe me at all\\n...\\nStatement: {item}"
    # words = [...]                  # answer_by = "text": the words of each answer position, in order

``original`` is never declared: it is the survey's top-level prompt, unchanged.
"""

from __future__ import annotations

import re
import string
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from whosevalues.instruments.variants import ORIGINAL

#: names ``--variants`` gives a meaning of its own: a survey may not declare a variant called so
RESERVED_NAMES = (ORIGINAL, "core", "all")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class VariantPrompts(BaseModel):
    """One language of a variant: its messages, and its option words when the variant answers by text."""

    model_config = ConfigDict(extra="forbid")

    system: str = Field(description="system message; {persona} marks where the persona sentence goes")
    user: str = Field(description="user message; {item} marks where the item text goes")
    words: list[str] | None = Field(default=None, description="the words of each answer position (the first "
                                                              "identifier's first), read when it answers by text")

    @model_validator(mode="after")
    def _check(self) -> "VariantPrompts":
        if "{item}" not in self.user:
            raise ValueError("the user template has no {item} placeholder: add {item} where the item text goes")
        if "{persona}" not in self.system:
            raise ValueError("the system template has no {persona} placeholder: add {persona} where the persona "
                             "sentence goes (it is empty for persona 'none')")
        if self.words is not None and any(not word.strip() for word in self.words):
            raise ValueError("words has an empty entry: give the words of every answer position")
        return self


class Variant(BaseModel):
    """One question format of a survey (see the module docstring)."""

    model_config = ConfigDict(extra="forbid")

    description: str = Field(min_length=1)
    identifiers: Literal["numbers", "letters"] | list[str] = "numbers"
    direction: Literal["same", "reversed"] = "same"
    order: Literal["ascending", "descending"] = "ascending"
    answer_by: Literal["identifier", "text"] = "identifier"
    forced: bool = True
    languages: dict[str, VariantPrompts]

    @field_validator("identifiers")
    @classmethod
    def _distinct(cls, identifiers):
        if isinstance(identifiers, list):
            if any(not str(identifier).strip() for identifier in identifiers):
                raise ValueError("an identifier is empty: give one non-empty identifier per scale point")
            if len(set(identifiers)) != len(identifiers):
                raise ValueError("identifiers repeat: give each scale point its own identifier")
        return identifiers

    def identifiers_for(self, n_points: int) -> tuple[str, ...]:
        """Each answer position's identifier; () for the scale's own numbers (``AnswerFormat``'s convention)."""
        if self.identifiers == "numbers":
            return ()
        if self.identifiers == "letters":
            return tuple(string.ascii_uppercase[:n_points])
        return tuple(self.identifiers)


def check_variants(variants: dict[str, Variant], scale_labels: dict[str, dict[int, str]], scale_min: int,
                   scale_max: int, languages: list[str]) -> None:
    """Every variant fits its survey: a free name, identifiers for every scale point, every language, and
    option words in every language where it answers by text. Raises ValueError naming the field and the fix."""
    n_points = scale_max - scale_min + 1
    for name, variant in variants.items():
        where = f"variants.{name}"
        if name in RESERVED_NAMES:
            what = "the top-level prompt" if name == ORIGINAL else "--variants " + name
            raise ValueError(f"{where}: the name {name!r} is reserved ({what}); "
                             f"give the variant another name")
        if not _NAME.match(name):
            raise ValueError(f"{where}: a variant name is lower-case letters, digits and _, starting with a "
                             f"letter (like paraphrase1)")
        if variant.identifiers == "letters" and n_points > 26:
            raise ValueError(f"{where}.identifiers: {n_points} scale points are more than 26 letters; give a list")
        if isinstance(variant.identifiers, list) and len(variant.identifiers) != n_points:
            raise ValueError(f"{where}.identifiers: {len(variant.identifiers)} identifiers for {n_points} scale "
                             f"points ({scale_min}..{scale_max}); give exactly one per point")
        missing = [language for language in languages if language not in variant.languages]
        if missing:
            raise ValueError(f"{where}: no prompts for language {missing[0]!r}; add [{where}.languages.{missing[0]}] "
                             f"with system and user")
        extra = [language for language in variant.languages if language not in languages]
        if extra:
            raise ValueError(f"{where}.languages.{extra[0]}: the survey has no language {extra[0]!r} "
                             f"(it has {', '.join(languages)}); remove it or add [languages.{extra[0]}]")
        for language, prompts in variant.languages.items():
            if prompts.words is not None and len(prompts.words) != n_points:
                raise ValueError(f"{where}.languages.{language}.words: {len(prompts.words)} words for {n_points} "
                                 f"scale points; give the words of every point, {scale_min} first")
            if variant.answer_by == "text" and prompts.words is None \
                    and len(scale_labels.get(language, {})) != n_points:
                raise ValueError(f"{where}.languages.{language}.words: answer_by = \"text\" needs the words of "
                                 f"every scale point and the scale labels only some; add words = [...]")


def option_words(variant: Variant, scale_labels: dict[str, dict[int, str]], scale_min: int,
                 scale_max: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Per language, the words of each answer position: the variant's own ``words``, else the scale labels
    where they name every point; languages with neither are left out (their replies are read by identifier).

    Scale labels name canonical values, so on a reversed variant position 0 (answer 1) has the label of the
    scale's top: the words always mean what the prompt says that position means."""
    values = list(range(scale_min, scale_max + 1))
    canonical = values[::-1] if variant.direction == "reversed" else values
    result = []
    for language, prompts in variant.languages.items():
        if prompts.words is not None:
            result.append((language, tuple(prompts.words)))
            continue
        labels = scale_labels.get(language, {})
        if len(labels) == len(values):
            result.append((language, tuple(labels[value] for value in canonical)))
    return tuple(result)
