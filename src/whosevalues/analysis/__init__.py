"""Analysis: LLM item means + human populations -> z-scores, cosines, the paper's RQ1/RQ2/RQ3 regressions.

``analyze(item_means, populations, out_dir=...)`` (pipeline.py) runs everything; ``load_llm_responses``
(llm_responses.py) reads item means from the project's item_means.csv or the paper's published CSVs. The
paper's script quirks live only in paper_compat.py (``paper_compatible=True``).

Inference beyond the paper's (docs/statistics.md): model_inference.py (wild cluster bootstrap by model,
permutation of origin labels, CR2), families.py (RQ3's Holm/BH and joint Wald tests), baselines.py (human
yardsticks), variance.py (variance shares), reliability.py (the LLMs' own reliability, minimum valid samples,
temperature), exclusions.py (complete exclusion records), conclusions.py (which of the paper's claims hold);
inference_outputs.py is the pipeline's hook into them.
"""

from whosevalues.analysis.llm_responses import LLMResponsesError, load_llm_responses
from whosevalues.analysis.pipeline import AnalysisError, analyze

__all__ = ["analyze", "load_llm_responses", "AnalysisError", "LLMResponsesError"]
