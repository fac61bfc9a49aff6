"""Analysis: LLM item means + human populations -> z-scores, cosines, the paper's RQ1/RQ2/RQ3 regressions.

``analyze(item_means, populations, out_dir=...)`` (pipeline.py) runs everything; ``load_llm_responses``
(llm_responses.py) reads item means from the project's item_means.csv or the paper's published CSVs. The
paper's script quirks live only in paper_compat.py (``paper_compatible=True``).
"""

from whosevalues.analysis.llm_responses import LLMResponsesError, load_llm_responses
from whosevalues.analysis.pipeline import AnalysisError, analyze

__all__ = ["analyze", "load_llm_responses", "AnalysisError", "LLMResponsesError"]
