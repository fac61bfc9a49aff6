"""Analysis: LLM item means + human populations -> z-scores, cosines, the paper's RQ1/RQ2/RQ3 regressions.

``analyze(item_means, populations, out_dir=...)`` (pipeline.py) runs everything; ``load_llm_responses``
(llm_responses.py) reads item means from the project's item_means.csv or the paper's published CSVs. The
paper's script quirks live only in paper_compat.py (``paper_compatible=True``).

Inference beyond the paper's (docs/statistics.md): model_inference.py (wild cluster bootstrap by model,
permutation of origin labels, CR2), families.py (RQ3's Holm/BH and joint Wald tests), baselines.py (human
yardsticks), variance.py (variance shares), reliability.py (the LLMs' own reliability, minimum valid samples,
temperature), exclusions.py (complete exclusion records), conclusions.py (which of the paper's claims hold);
inference_outputs.py is the pipeline's hook into them; summary_lines.py words the run output's warnings from
summary.json.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from whosevalues.analysis.llm_responses import LLMResponsesError, load_llm_responses
    from whosevalues.analysis.pipeline import AnalysisError, analyze

__all__ = ["analyze", "load_llm_responses", "AnalysisError", "LLMResponsesError"]

# Imported on first use (PEP 562): reading item means, or a rerun that analyses nothing, needs none of the
# pipeline's modules (scipy among them); importing any submodule runs this file first.
_HOME = {"analyze": "pipeline", "AnalysisError": "pipeline",
         "load_llm_responses": "llm_responses", "LLMResponsesError": "llm_responses"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
