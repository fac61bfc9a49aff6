"""The headline's check that its "closer to A than to B" keeps its order in every question format asked
(report/headline_checks.across_formats), computed from a small countries_<survey>.csv: no shared data needed."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from whosevalues.report.headline_checks import across_formats


def _countries_file(folder: Path, differences: dict[tuple[str, str], float]) -> SimpleNamespace:
    """countries_mfq2.csv with the similarity to USA and to CHN set so that USA - CHN is each given difference
    per (model, variant); read by a stand-in for OutputDir (across_formats reads only the path)."""
    rows = [{"model": model, "variant": variant, "level": "item", "persona": "none", "country": country,
             "similarity": (0.1 + difference) if country == "USA" else 0.1, "respondent_cosine": np.nan}
            for (model, variant), difference in differences.items() for country in ("USA", "CHN")]
    pd.DataFrame(rows).to_csv(folder / "countries_mfq2.csv", index=False)
    return SimpleNamespace(path=folder)


def test_the_across_formats_sentence_names_the_order_it_checks(tmp_path):
    one = _countries_file(tmp_path, {("m", "original"): 0.2, ("m", "recoded"): -0.1})
    verdict, sentence = across_formats(one, "mfq2", ["m"], "USA", "CHN")
    assert verdict == "no" and "The order USA before CHN does not hold" in sentence
    assert "under recoded the model is not closer to USA" in sentence  # one model: singular
    # two models: the order is judged on their mean difference per variant (.3 and -.1 under recoded: holds)
    two = _countries_file(tmp_path, {("a", "original"): 0.2, ("a", "recoded"): 0.3,
                                     ("b", "original"): 0.2, ("b", "recoded"): -0.1})
    verdict, sentence = across_formats(two, "mfq2", ["a", "b"], "USA", "CHN")
    assert verdict == "yes" and sentence == " The order USA before CHN holds in every question format asked (recoded)."
    verdict, sentence = across_formats(two, "mfq2", ["b"], "USA", "CHN")
    assert verdict == "no" and "the model is not closer" in sentence
    flipped = _countries_file(tmp_path, {("a", "original"): 0.2, ("a", "recoded"): -0.3,
                                         ("b", "original"): 0.2, ("b", "recoded"): 0.1})
    verdict, sentence = across_formats(flipped, "mfq2", ["a", "b"], "USA", "CHN")
    assert verdict == "no" and "the models are, on average, not closer to USA than to CHN" in sentence
