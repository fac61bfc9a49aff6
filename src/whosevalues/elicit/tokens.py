"""How a tokenizer spells an answer identifier, whatever the tokenizer (issue 15 item 4).

One answer ("4", "B") reaches us under many token spellings, and every one of them is the same answer:

- with a leading space, as most tokenizers write a word after a space: ``" 4"``;
- with the word-start mark of SentencePiece vocabularies (Llama 2, Gemma, Phi-3): ``"▁4"``;
- with the space (``"Ġ"``) or newline (``"Ċ"``) mark of byte-level BPE vocabularies (GPT-2, Llama 3, Qwen,
  SmolLM2), as raw vocabulary texts and some servers (LMDeploy) show them: ``"Ġ4"``;
- as a fullwidth or other compatibility form, normalised by NFKC: ``"４"``, ``"Ｂ"``.

:func:`token_identifier` reduces a token to the identifier it would spell at the start of an answer; the
caller sums the probabilities of every token that reduces to the same identifier. A token that continues a
number already begun (the "0" after "1" in "10") must not start with a space or a mark: "1" then " 0" is
"1 0", not ten. :func:`continuation_text` gives that text, or None when the token starts a new word.

An engine that reads its whole vocabulary (the local model) indexes it once per answer format with
:func:`index_vocabulary`, built on the same two functions, so that a server and the in-process model count the
same spellings.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

#: SentencePiece's word-start mark, and byte-level BPE's marks for a space, a newline and a tab
WORD_START_MARKS = "▁ĠĊĉ"
_LEADING = WORD_START_MARKS + " \t\n\r\f\v"


def token_identifier(token: str) -> str:
    """The identifier a token spells where an answer starts: NFKC, without leading marks or surrounding space.

    ``"▁4"``, ``"Ġ4"``, ``" 4"``, ``"4"`` and ``"４"`` all give ``"4"``; ``"ĠB"`` gives ``"B"``. Case is kept.
    """
    return unicodedata.normalize("NFKC", token).lstrip(_LEADING).rstrip()


def continuation_text(token: str) -> str | None:
    """The text a token adds to a number already begun, or None when it starts a new word (a leading space
    or word-start mark: "1" then " 0" is not ten)."""
    text = unicodedata.normalize("NFKC", token)
    if not text or text[0] in _LEADING:
        return None
    return text


@dataclass
class VocabularyIndex:
    """Where a vocabulary spells a format's identifiers (for an engine that reads its whole vocabulary).

    ``starts[text]``: the ids of every token that spells ``text`` where an answer starts ("4", " 4", "Ġ4",
    "４"), for every identifier and every beginning of one ("1" of "10"); ``continues[text]``: the ids of the
    tokens that continue an answer already begun with exactly ``text`` ("0" after "1"; never " 0").
    """

    starts: dict[str, list[int]] = field(default_factory=dict)
    continues: dict[str, list[int]] = field(default_factory=dict)


def index_vocabulary(token_texts: Sequence[str], identifiers: Sequence[str]) -> VocabularyIndex:
    """Index a vocabulary (token id -> its text, raw or decoded) for the identifiers of one answer format."""
    beginnings = {ident[:k] for ident in identifiers for k in range(1, len(ident) + 1)}
    rests = {ident[i:j] for ident in identifiers for i in range(1, len(ident)) for j in range(i + 1, len(ident) + 1)}
    index = VocabularyIndex()
    for token_id, text in enumerate(token_texts):
        start = token_identifier(text)
        if start in beginnings:
            index.starts.setdefault(start, []).append(token_id)
        rest = continuation_text(text)
        if rest in rests:
            index.continues.setdefault(rest, []).append(token_id)
    return index


__all__ = ["WORD_START_MARKS", "VocabularyIndex", "continuation_text", "index_vocabulary", "token_identifier"]
