"""Extract the answer-like tokens of real tokenizer vocabularies into a small test fixture.

Reads llama.cpp's vocabulary-only GGUF test files (``models/ggml-vocab-*.gguf`` in ggml-org/llama.cpp, MIT;
vendored by llama-cpp-python) with llama.cpp's own ``gguf`` reader, and keeps every token that is a number
up to two digits or a letter A-J (either case), with any leading whitespace or word-start mark, plus the bare
marks themselves. The selection is a plain regular expression, independent of the project's reader.

    PYTHONPATH=<llama.cpp>/gguf-py python scripts/extract_vocab_answer_tokens.py <llama.cpp>/models OUT.json COMMIT
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

VOCABULARIES = {  # file stem -> the models that use this tokenizer
    "ggml-vocab-gpt-2": "GPT-2 (byte-level BPE, 'Ġ' marks a space)",
    "ggml-vocab-llama-bpe": "Llama 3 (byte-level BPE, numbers up to three digits in one token)",
    "ggml-vocab-qwen2": "Qwen2/Qwen3 (byte-level BPE, one digit per token)",
    "ggml-vocab-llama-spm": "Llama 2 (SentencePiece BPE, '▁' marks a word start, digits split)",
    "ggml-vocab-gemma-4": "Gemma 4 (SentencePiece-style, fullwidth digit tokens)",
    "ggml-vocab-nomic-bert-moe": "XLM-RoBERTa vocabulary (SentencePiece unigram, '▁4' and '▁10' tokens)",
}
ANSWER_LIKE = re.compile(r"^[\s▁ĠĊ]*(?:[0-9０-９]{1,2}|[A-Ja-jＡ-Ｊ])$|^[▁ĠĊ]$")


def main(models: Path, out: Path, commit: str) -> None:
    from gguf import GGUFReader  # llama.cpp's gguf-py

    fixture = {"source": f"ggml-org/llama.cpp models/ggml-vocab-*.gguf @ {commit} (MIT licence)",
               "selection": ANSWER_LIKE.pattern, "vocabularies": {}}
    for stem, description in VOCABULARIES.items():
        reader = GGUFReader(str(models / f"{stem}.gguf"))
        field = reader.fields["tokenizer.ggml.tokens"]
        texts = [bytes(field.parts[i]).decode("utf-8", "replace") for i in field.data]
        kind = reader.fields["tokenizer.ggml.model"]
        fixture["vocabularies"][stem] = {
            "describes": description, "tokenizer_model": bytes(kind.parts[kind.data[0]]).decode(),
            "vocabulary_size": len(texts),
            "tokens": {str(i): text for i, text in enumerate(texts) if ANSWER_LIKE.match(text)}}
    out.write_text(json.dumps(fixture, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3])
