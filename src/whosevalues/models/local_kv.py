"""The embedded model's KV cache as numbered sequences, and one llama.cpp decode for many of them.

Sequence 0 holds the last prompt evaluated: the next prompt keeps the longest common token prefix and
evaluates only the rest (prefix reuse). Other sequences live for one call: the 1-10 probes of a distribution
prompt, or the samples of the sample check. They share sequence 0's cells for their common prefix, and a
prompt asked for several samples is evaluated once for all of them: llama.cpp's unified KV cache tags one
cell with several sequences, so a shared token is stored and computed once.

Why many sequences in one decode: a one-token decode of the 135M model costs about as much as evaluating
two or three prompt tokens together (measured 40 ms CPU against 25 ms per prompt token on a 2-core VM), so
the check's samples are generated side by side, one decode per generated position for all of them, and a
"10"'s probes ride along with the prompt they follow instead of costing two decodes of their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from whosevalues.models.base import BackendError

#: the most sequences a call may use (llama.cpp allows up to 256); the backend's batches stay below it
MAX_SEQUENCES = 64


@dataclass(frozen=True)
class Entry:
    """One token to evaluate: its position, the sequences it belongs to, and whether its logits are read."""

    token: int
    pos: int
    seqs: tuple[int, ...]
    logits: bool = False


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


class SequenceCache:
    """Sequence 0's tokens, and decodes over any set of sequences (``llama`` a ``llama_cpp.Llama`` made with
    ``kv_unified`` and ``n_seq_max`` >= :data:`MAX_SEQUENCES`)."""

    def __init__(self, llama: Any, n_batch: int):
        from llama_cpp._internals import LlamaBatch

        self.llama = llama
        self.n_batch = n_batch
        self.n_vocab = llama.n_vocab()
        self.batch = LlamaBatch(n_tokens=n_batch, embd=0, n_seq_max=MAX_SEQUENCES, verbose=False)
        self.cached: list[int] = []  # the tokens sequence 0 holds

    @property
    def n_ctx(self) -> int:
        return int(self.llama.n_ctx())

    def keep_prefix(self, tokens: Sequence[int], at_most: int) -> int:
        """Trim every sequence to what sequence 0 shares with ``tokens[:at_most]``; returns that length."""
        keep = common_prefix(self.cached, tokens[:at_most])
        self.llama._ctx.kv_cache_seq_rm(-1, keep, -1)
        del self.cached[keep:]
        return keep

    def branch(self, seqs: Sequence[int], length: int) -> None:
        """Let each of ``seqs`` start with sequence 0's first ``length`` tokens (no copy: the cells are shared)."""
        for seq in seqs:
            if length:
                self.llama._ctx.kv_cache_seq_cp(0, seq, 0, length)

    def drop(self, seqs: Sequence[int]) -> None:
        for seq in seqs:
            self.llama._ctx.kv_cache_seq_rm(seq, -1, -1)

    def decode(self, entries: Sequence[Entry]) -> list[np.ndarray]:
        """Evaluate ``entries`` in order (in pieces of ``n_batch``); the logits of each entry marked ``logits``."""
        out: list[np.ndarray] = []
        for start in range(0, len(entries), self.n_batch):
            piece = entries[start:start + self.n_batch]
            self._fill(piece)
            code = self._decode_batch()
            if code != 0:
                raise BackendError(f"llama.cpp could not evaluate {len(piece)} tokens (llama_decode returned {code}: "
                                   f"the KV cache of {self.n_ctx} tokens is full)", retryable=False)
            out += [self._logits(i) for i, entry in enumerate(piece) if entry.logits]
        return out

    def _fill(self, piece: Sequence[Entry]) -> None:
        batch = self.batch.batch
        batch.n_tokens = len(piece)
        for i, entry in enumerate(piece):
            batch.token[i] = entry.token
            batch.pos[i] = entry.pos
            batch.n_seq_id[i] = len(entry.seqs)
            for j, seq in enumerate(entry.seqs):
                batch.seq_id[i][j] = seq
            batch.logits[i] = entry.logits

    def _decode_batch(self) -> int:
        import llama_cpp

        return int(llama_cpp.llama_decode(self.llama._ctx.ctx, self.batch.batch))

    def _logits(self, index: int) -> np.ndarray:
        pointer = self.llama._ctx.get_logits_ith(index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).copy()

    def close(self) -> None:
        self.batch.close()
