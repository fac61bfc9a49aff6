"""Sample mode of the embedded model: the samples of a batch generated side by side.

Pure temperature sampling (no top-k, top-p, min-p or repeat penalty), like the providers' APIs at their
defaults: each token is drawn from softmax(logits / T) with the request's own random stream (numpy, seeded
from the request seed), so a request draws the same numbers whatever else is in its batch. Its text is the
same again on the same build and machine, up to llama.cpp's float sums, which can differ in the last bits
with a batch's size and so, rarely, move a draw that falls right on a boundary between two tokens.

A batch's prompts share their common prefix with sequence 0 (see ``local_kv``), samples of one prompt share
its evaluation, and then every unfinished sample advances one token per decode.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from whosevalues.models.local_kv import Entry, SequenceCache, common_prefix


@dataclass
class Draw:
    """One sample to generate: its prompt, temperature, token budget and random stream; then its tokens."""

    prompt: list[int]
    temperature: float
    max_tokens: int
    seed: int
    generated: list[int] = field(default_factory=list)
    finish: str | None = None  # "stop" (an end-of-generation token) or "length"

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)


def draw_token(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """One token from softmax(logits / temperature); the most likely one at temperature 0."""
    if temperature <= 0:
        return int(np.argmax(logits))
    scaled = logits.astype(np.float64) / temperature
    cumulative = np.cumsum(np.exp(scaled - scaled.max()))
    index = int(np.searchsorted(cumulative, rng.random() * cumulative[-1], side="right"))
    return min(index, len(cumulative) - 1)


def cells_needed(draws: Sequence[Draw]) -> int:
    """An upper bound on the KV cells a batch takes: each distinct prompt once, plus every sample's budget."""
    prompts = {tuple(d.prompt) for d in draws}
    return max(len(p) for p in prompts) + sum(len(p) for p in prompts) + sum(d.max_tokens for d in draws)


def generate(cache: SequenceCache, draws: Sequence[Draw], is_end: Callable[[int], bool]) -> None:
    """Fill each draw's ``generated`` and ``finish`` (at most ``len(draws)`` < MAX_SEQUENCES samples)."""
    seqs = list(range(1, len(draws) + 1))
    shared = min(common_prefix(draws[0].prompt, d.prompt) for d in draws)
    shared = min(shared, min(len(d.prompt) for d in draws) - 1)  # every sample evaluates its last prompt token
    keep = cache.keep_prefix(draws[0].prompt, shared)
    cache.branch(seqs, keep)
    try:
        logits = _evaluate_prompts(cache, draws, seqs, keep, shared)
        while True:
            step = _advance(draws, seqs, logits, is_end)
            if not step:
                break
            logits = dict(zip((seq for seq, _ in step), cache.decode([entry for _, entry in step])))
    finally:
        cache.drop(seqs)


def _evaluate_prompts(cache: SequenceCache, draws: Sequence[Draw], seqs: list[int], keep: int, shared: int
                      ) -> dict[int, np.ndarray]:
    """One decode: the shared part (into sequence 0 too, for the next call) and each distinct prompt's rest,
    tagged with the sequences of every sample of that prompt. Returns each sample's next-token logits."""
    head = draws[0].prompt
    entries = [Entry(token, pos, (0, *seqs)) for pos, token in enumerate(head[keep:shared], start=keep)]
    groups: dict[tuple[int, ...], list[int]] = {}
    for seq, draw in zip(seqs, draws):
        groups.setdefault(tuple(draw.prompt), []).append(seq)
    for prompt, members in groups.items():
        last = len(prompt) - 1
        entries += [Entry(prompt[pos], pos, tuple(members), logits=pos == last) for pos in range(shared, len(prompt))]
    rows = cache.decode(entries)
    cache.cached += head[keep:shared]
    return {seq: row for members, row in zip(groups.values(), rows) for seq in members}


def _advance(draws: Sequence[Draw], seqs: list[int], logits: dict[int, np.ndarray], is_end: Callable[[int], bool]
             ) -> list[tuple[int, Entry]]:
    """Draw the next token of every unfinished sample; the entries that continue them."""
    step = []
    for seq, draw in zip(seqs, draws):
        if draw.finish is not None or seq not in logits:
            continue
        token = draw_token(logits[seq], draw.temperature, draw.rng)
        if is_end(token):
            draw.finish = "stop"
            continue
        draw.generated.append(token)
        if len(draw.generated) >= draw.max_tokens:
            draw.finish = "length"
            continue
        step.append((seq, Entry(token, len(draw.prompt) + len(draw.generated) - 1, (seq,), logits=True)))
    return step
