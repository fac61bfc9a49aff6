"""Output files written whole (atomic_write) and strict JSON (json_safe), the helpers every writer uses."""

from __future__ import annotations

import json

import numpy as np
import pytest

from whosevalues.left_out import persona_reason
from whosevalues.outfiles import atomic_write, json_safe, none_if_nan, write_json


def _strict(text: str):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_write_json_is_strict_and_leaves_no_temporary_file(tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("old", encoding="utf-8")
    write_json(path, {"a": float("nan"), "b": np.float64("nan"), "c": np.int64(3), "d": [np.float32(0.5), (1, None)],
                      "e": tmp_path})
    assert _strict(path.read_text(encoding="utf-8")) == {"a": None, "b": None, "c": 3, "d": [0.5, [1, None]],
                                                         "e": str(tmp_path)}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    path = tmp_path / "report.html"
    path.write_text("complete", encoding="utf-8")
    with pytest.raises(TypeError):
        atomic_write(path, None)  # the text could not be written: the target is untouched
    assert path.read_text(encoding="utf-8") == "complete"


def test_none_if_nan_and_json_safe():
    assert none_if_nan(float("nan")) is None and none_if_nan(np.float64("nan")) is None and none_if_nan(None) is None
    assert none_if_nan(0.0) == 0.0 and none_if_nan("x") == "x"
    assert json_safe({"k": (np.int32(2), float("inf"))}) == {"k": [2, float("inf")]}


def test_persona_reason_is_one_rule_for_analysis_and_report():
    assert persona_reason("rq1", {"CHN", "USA"}).startswith("no answers under persona none")
    assert persona_reason("headline", {"USA"}).startswith("no answers under persona none")
    assert persona_reason("rq2_CHN-DEU", {"none"}) == "no answers under a national persona"
    assert persona_reason("rq2", {"none", "USA"}) is None and persona_reason("rq3", {"none"}) is None
