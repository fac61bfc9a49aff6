"""Question formats downstream of the plan: the store's variant column (and its migration), item means and
distributions per format, item-means files without the column, and the analyses reading original only."""

from __future__ import annotations

import sqlite3

import numpy as np
import pandas as pd
import pytest

from whosevalues.analysis.llm_responses import LLMResponsesError, from_contract_layout, original_only
from whosevalues.elicit.aggregate import condition_summary, item_distributions, item_means
from whosevalues.elicit.outcome import Outcome
from whosevalues.elicit.plan import plan_model
from whosevalues.elicit.store import MIGRATIONS, Store
from whosevalues.models.base import ProviderReply
from whosevalues.study import Study


def test_a_store_from_before_formats_reads_its_requests_as_original(tmp_path):
    path = tmp_path / "old.sqlite"
    old = [(name, apply) for name, apply in MIGRATIONS if name < "006"]
    assert [name[:3] for name, _ in old] == ["001", "002", "003", "004", "005"]
    with sqlite3.connect(path) as db:  # a store written by the version before formats existed
        db.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, apply in old:
            apply(db)
            db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
        db.execute("INSERT INTO requests VALUES ('k1', 'm', 'USA', 'mfq2', '1', 'en', 'none', 0, 'sample', 0.7, 10, "
                   "1, 'sys', 'user', NULL)")
        db.execute("INSERT INTO answers (key, raw_text, value, status, answered_at) "
                   "VALUES ('k1', '4', 4, 'valid', 'then')")
    read_only = Store(path, read_only=True)  # an upgraded private copy; the file stays as it was
    assert read_only.answers_frame()["variant"].tolist() == ["original"]
    read_only.close()
    with sqlite3.connect(path) as db:
        assert "variant" not in {row[1] for row in db.execute("PRAGMA table_info(requests)")}
    store = Store(path)
    assert store.answers_frame()[["key", "variant", "value"]].values.tolist() == [["k1", "original", 4.0]]
    study = Study(surveys=["mfq2"], languages=["en"], personas=["none"], samples=1, variants=["original", "letters"])
    plan = plan_model(study, study.model_specs()[0], "sample", study.instruments())
    store.add_requests(plan, store.start_run("test", "{}", "0"))
    letters = next(p for p in plan if p.variant == "letters")
    store.save_answer(letters, ProviderReply(answer_text="B"), Outcome(2.0, "valid", ""), 1, attempts=1,
                      latency_s=0.1)
    row = store.db.execute("SELECT variant FROM requests WHERE key = ?", (letters.key,)).fetchone()
    assert row == ("letters",)
    assert store.answers_frame({letters.key})["variant"].tolist() == ["letters"]
    store.close()


def _answers() -> pd.DataFrame:
    """Two formats of one item in one condition; the recoded answers are already canonical (the readers map)."""
    rows = []
    for variant, values in (("recoded", [4, 5, None]), ("original", [2, 3, 4])):
        for sample, value in enumerate(values):
            rows.append({"model": "m", "origin": "USA", "survey": "mfq2", "item": "1", "language": "en",
                         "persona": "none", "variant": variant, "sample": sample, "mode": "sample",
                         "value": value, "status": "valid" if value is not None else "refusal"})
    return pd.DataFrame(rows)


def test_item_means_and_distributions_keep_formats_apart_original_first():
    means = item_means(_answers())
    assert means["variant"].tolist() == ["original", "recoded"]  # original first whatever the input order
    assert list(means.columns[:11]) == ["model", "origin", "survey", "language", "persona", "item", "mean",
                                        "n_valid", "n_total", "refusal_rate", "variant"]  # the contract, then variant
    assert means["mean"].tolist() == [3.0, 4.5]
    assert means["n_valid"].tolist() == [3, 2] and means["n_total"].tolist() == [3, 3]
    distributions = item_distributions(_answers())
    recoded = distributions[distributions["variant"] == "recoded"].set_index("value")["probability"]
    assert recoded.to_dict() == {1: 0.0, 2: 0.0, 3: 0.0, 4: 0.5, 5: 0.5}
    summary = condition_summary(means)
    assert summary["variant"].tolist() == ["original", "recoded"]
    assert summary["Care"].tolist() == [3.0, 4.5]  # item 1 is a Care item: never averaged across formats


def test_answers_without_a_variant_column_are_original():
    answers = _answers()
    means = item_means(answers[answers["variant"] == "original"].drop(columns="variant"))
    assert means["variant"].tolist() == ["original"]
    assert condition_summary(means.drop(columns="variant"))["variant"].tolist() == ["original"]


def _contract_rows(variants: list[str] | None) -> pd.DataFrame:
    frame = pd.DataFrame({"model": "m", "origin": "USA", "survey": "mfq2", "language": "en", "persona": "none",
                          "item": ["1", "2"], "mean": [2.0, 3.0], "n_valid": 20, "n_total": 20, "refusal_rate": 0.0})
    if variants is not None:
        frame["variant"] = variants
    return frame


def test_item_means_files_with_and_without_a_variant_column():
    assert from_contract_layout(_contract_rows(None))["variant"].tolist() == ["original", "original"]
    both = from_contract_layout(_contract_rows(["original", "letters"]))
    kept, others = original_only(both)
    assert kept["item"].tolist() == ["1"] and others == ["letters"]
    assert original_only(from_contract_layout(_contract_rows(None)))[1] == []
    with pytest.raises(LLMResponsesError, match="only the format.*letters.*--variants original,letters"):
        original_only(from_contract_layout(_contract_rows(["letters", "letters"])))
    distributions = pd.DataFrame({"variant": ["letters"], "value": [1], "probability": [np.float64(1.0)]})
    assert original_only(distributions, require=False)[0].empty  # never raises for the side files


def test_loading_merges_formats_as_different_rows(tmp_path):
    from whosevalues.analysis.llm_responses import load_llm_responses

    path = tmp_path / "item_means.csv"
    frame = _contract_rows(["original", "original"])
    pd.concat([frame, frame.assign(variant="recoded", mean=[4.0, 1.0])]).to_csv(path, index=False)
    loaded = load_llm_responses(path)  # the same item in two formats is not a conflict
    assert sorted(zip(loaded["variant"], loaded["mean"])) == [("original", 2.0), ("original", 3.0),
                                                              ("recoded", 1.0), ("recoded", 4.0)]
