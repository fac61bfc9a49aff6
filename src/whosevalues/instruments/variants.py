"""Question formats ("variants"): how one format asks an item, and how its answers map back to the scale.

A survey file declares its variants as data (``[variants.<name>]``, see ``instruments/schema.py``); no variant
is a code path. Every variant is reduced to an :class:`AnswerFormat`, which travels on each ``ChatRequest``:
the readers of answers (``elicit/parse.py``, ``elicit/distribution.py``, the local engine) read the answer in
the variant's own identifiers ("B", "对我的描述相当贴切", "2" on a reversed scale) and map it back with
:meth:`AnswerFormat.canonical`, so every stored value is on the survey's canonical scale.

Terms:
- an *answer position* ``j`` (0-based) is the j-th identifier of the variant; its *answer value* is
  ``scale_min + j``;
- the *canonical value* is the answer value, or ``scale_min + scale_max - answer value`` for a reversed
  variant (``recoded``: 1 = the other end of the scale).
"""

from __future__ import annotations

from dataclasses import dataclass

#: the paper's exact prompt: its requests keep the keys they had before variants existed
ORIGINAL = "original"
#: ``--variants core``
CORE_VARIANTS = ("original", "recoded", "letters", "paraphrase1")
#: what ``whosevalues run`` asks when no variants are given: every report carries a format check
DEFAULT_RUN_VARIANTS = ("original", "recoded")


@dataclass(frozen=True)
class AnswerFormat:
    """How answers to one variant in one language are read and mapped to the canonical scale.

    - ``identifiers[j]``: what the model is asked to answer for answer position ``j`` (empty: the scale's own
      numbers, ``str(scale_min + j)``);
    - ``reversed``: canonical = scale_min + scale_max - answer value;
    - ``by_text``: the model answers with the option's words; ``option_words[language][j]`` are the words
      of position ``j`` in each language the survey has (matched in every language; a reply matching no
      option, or two, is ``ambiguous``, never a guess);
    - ``forced``: False when the prompt does not demand an identifier only (``unforced``): numbers and option
      words are both read;
    - ``listed_descending``: the options appear in the prompt from the last answer position to the first
      (for the first-option / last-option null respondents).
    """

    variant: str = ORIGINAL
    scale_min: int = 1
    scale_max: int = 5
    identifiers: tuple[str, ...] = ()
    reversed: bool = False
    by_text: bool = False
    forced: bool = True
    listed_descending: bool = False
    option_words: tuple[tuple[str, tuple[str, ...]], ...] = ()  # ((language, words per position), ...)

    @property
    def answer_identifiers(self) -> tuple[str, ...]:
        """The identifier of every answer position (the scale's numbers unless the variant names its own)."""
        return self.identifiers or tuple(str(v) for v in range(self.scale_min, self.scale_max + 1))

    def canonical(self, answer_value: int) -> int:
        """The canonical scale value of an answer value (``recoded`` 2 on 1-5 is 4)."""
        if not self.scale_min <= answer_value <= self.scale_max:
            raise ValueError(f"answer value {answer_value} is outside {self.scale_min}..{self.scale_max}")
        return self.scale_min + self.scale_max - answer_value if self.reversed else answer_value

    def canonical_of_position(self, position: int) -> int:
        return self.canonical(self.scale_min + position)

    def first_listed_canonical(self) -> int:
        """The canonical value of the option listed first in the prompt."""
        return self.canonical(self.scale_max if self.listed_descending else self.scale_min)

    def last_listed_canonical(self) -> int:
        """The canonical value of the option listed last in the prompt."""
        return self.canonical(self.scale_min if self.listed_descending else self.scale_max)

    def words(self) -> dict[str, tuple[str, ...]]:
        return dict(self.option_words)
