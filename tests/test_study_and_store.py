"""Study files, the request plan, and the SQLite store (keys, migrations, refusing a newer schema)."""

from __future__ import annotations

import sqlite3

import pytest

from whosevalues.elicit.answering import decide_safely
from whosevalues.elicit.outcome import Outcome
from whosevalues.elicit.plan import plan_model
from whosevalues.elicit.store import MIGRATIONS, Store, StoreError
from whosevalues.models.base import ProviderReply
from whosevalues.study import Study, StudyError

STUDY_TOML = '''
surveys = ["mfq2"]
languages = ["en"]
personas = ["none", "CHN"]
samples = 3

[[models]]
id = "gpt-4o"

[[models]]
id = "my-qwen"
provider = "openai-compatible"
base_url = "http://127.0.0.1:8000/v1"
api_model = "Qwen/Qwen2.5-7B-Instruct"
origin = "CHN"
temperature = 0.7
max_concurrency = 32
requests_per_minute = 600
'''


def test_study_file_with_catalog_and_custom_models(tmp_path):
    path = tmp_path / "study.toml"
    path.write_text(STUDY_TOML)
    study = Study.from_toml(path)
    specs = study.model_specs()
    assert [spec.id for spec in specs] == ["gpt-4o", "my-qwen"]
    assert specs[0].origin == "USA" and specs[1].origin == "CHN" and specs[1].max_concurrency == 32
    study.validate_design()
    overridden = study.with_overrides(samples=5)
    assert overridden.samples == 5 and overridden.custom_models["my-qwen"].api_model == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize("change, message", [
    ({"models": ["nope"]}, "unknown model 'nope'"),
    ({"surveys": ["nope"]}, "unknown survey 'nope'"),
    ({"languages": ["fr"]}, "no language 'fr'"),
    ({"personas": ["XYZ"]}, "persona 'XYZ' is not an ISO 3166-1 alpha-3 code"),
])
def test_unknown_design_elements_fail_before_running(change, message):
    with pytest.raises((StudyError, ValueError), match=message):
        Study().with_overrides(**change).validate_design()


def test_bad_study_values():
    with pytest.raises(StudyError, match="samples"):
        Study().with_overrides(samples=0)
    with pytest.raises(StudyError, match="origin"):
        Study.from_dict({"models": [{"id": "x", "provider": "openai-compatible", "origin": "China"}]})


def test_plan_keys_are_stable_distinct_per_sample_and_ordered_for_prefix_reuse():
    study = Study(surveys=["mfq2", "wvs7"], samples=4, variants=["original"])  # the paper's design
    spec = study.model_specs()[0]
    plan = plan_model(study, spec, "sample", study.instruments())
    assert len(plan) == (36 + 19) * 2 * 3 * 4
    keys = [p.key for p in plan]
    assert len(set(keys)) == len(keys)  # 20 samples are 20 requests
    assert keys == [p.key for p in plan_model(study, spec, "sample", study.instruments())]
    # consecutive requests share system prompt until the condition changes
    changes = sum(1 for a, b in zip(plan, plan[1:]) if a.request.system != b.request.system)
    assert changes == 2 * 2 * 3 - 1
    distribution = plan_model(study, spec, "distribution", study.instruments())
    assert len(distribution) == 330 and not set(keys) & {p.key for p in distribution}
    hotter = plan_model(study.with_overrides(temperature=0.1), spec, "sample", study.instruments())
    assert not set(keys) & {p.key for p in hotter}
    # the default asks a second format: its own requests beside the same original ones (tests/test_variants.py)
    default = plan_model(study.with_overrides(variants=["original", "recoded"]), spec, "sample", study.instruments())
    assert len(default) == 2 * len(plan) and set(keys) < {p.key for p in default}


def test_store_keeps_raw_text_when_parsing_fails_and_rerun_skips_answered(tmp_path, monkeypatch):
    study = Study(surveys=["mfq2"], languages=["en"], personas=["none"], samples=2)
    plan = plan_model(study, study.model_specs()[0], "sample", study.instruments())
    store = Store(tmp_path / "s.sqlite")
    run = store.start_run("test", "{}", "0")
    store.add_requests(plan, run)

    broken = ProviderReply(answer_text="4: Describes me", finish_reason="stop")
    with monkeypatch.context() as patch:
        patch.setattr("whosevalues.elicit.answering.decide", lambda *a, **k: 1 / 0)
        outcome = decide_safely(broken, plan[0].request)
    status = store.save_answer(plan[0], broken, outcome, run, attempts=1, latency_s=0.1)
    assert status == "unparsed" and "ZeroDivisionError" in outcome.detail
    store.save_answer(plan[1], ProviderReply(answer_text="3"), Outcome(3.0, "valid"), run, attempts=1, latency_s=0.1)
    store.save_failure(plan[2], run, "HTTP 500", '{"error": "boom"}', 6)
    frame = store.answers_frame()
    assert frame.set_index("key").loc[plan[0].key, "raw_text"] == "4: Describes me"
    assert store.answered_keys() == {plan[0].key, plan[1].key}  # errors are asked again
    assert plan[2].key in store.answered_keys(include_errors=True)
    assert store.db.execute("SELECT raw_body FROM failures").fetchone()[0] == '{"error": "boom"}'
    store.close()


def test_store_refuses_newer_schema_and_unwritable_paths(tmp_path):
    path = tmp_path / "s.sqlite"
    Store(path).close()
    with sqlite3.connect(path) as db:
        assert {row[0] for row in db.execute("SELECT name FROM schema_migrations")} == {n for n, _ in MIGRATIONS}
        db.execute("INSERT INTO schema_migrations VALUES ('999_future', 'now')")
    with pytest.raises(StoreError, match="newer whosevalues.*999_future"):
        Store(path)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="--db"):
        Store(blocker / "s.sqlite")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database" * 100)
    with pytest.raises(StoreError, match="not a whosevalues store"):
        Store(garbage)


def test_readme_study_file_example_is_valid(tmp_path):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    example = re.search(r"## Study files.*?```toml\n(.*?)```", readme, re.S).group(1)
    path = tmp_path / "study.toml"
    path.write_text(example)
    study = Study.from_toml(path)
    study.validate_design()
    assert [spec.id for spec in study.model_specs()] == ["gpt-4o", "my-qwen"]
    assert study.custom_models["my-qwen"].requests_per_minute == 600
