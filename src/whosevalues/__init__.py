"""whosevalues: measure whose values a large language model expresses.

Python API (the same steps as the CLI)::

    from whosevalues import Study, analyze, run_study
    result = run_study(Study(models=["smollm2-135m"], surveys=["mfq2"], samples=5), out_dir="out")
    result.item_means      # pandas DataFrame, one row per model x survey x language x persona x item
    result.answers         # every stored answer with its raw text, value and status
    summary = analyze(result.item_means, out_dir="out")   # what `whosevalues analyze` does: files and report
"""

from whosevalues.study import Condition, Study, StudyError
from whosevalues.version import __version__

__all__ = ["Study", "Condition", "StudyError", "StudyResult", "run_study", "analyze", "__version__"]


def __getattr__(name: str):
    # Imported on first use so that `whosevalues --help` stays fast.
    if name in ("run_study", "StudyResult"):
        from whosevalues import pipeline

        return getattr(pipeline, name)
    if name == "analyze":
        from whosevalues.analysis.study_analysis import analyze

        return analyze
    raise AttributeError(name)
