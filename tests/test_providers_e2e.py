"""End to end: `whosevalues run` against models that behave as today's providers really do (issue 8).

Each model is declared with only provider, base_url, api_model and origin, in a study at temperature 0.7,
against ``ProviderStubServer`` on loopback (reasoning before the answer, 400s naming parameters, inline
``<think>``, one-hot logprobs, markdown before the number, content filters, plain logprobs). Every item must
end with the value the server means, filtered items as refusals, the one-hot endpoint sampled, and the server
must see a bounded number of requests. Most tests run the study with mode ``per-model`` (each endpoint read
as it allows); the last runs it as a new user would, with the default mode (auto: one mode for all).
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from whosevalues.elicit.followup import CHECK_ITEMS, CHECK_SAMPLES
from whosevalues.elicit.sample_check import ROUNDS
from whosevalues.instruments import load_instrument
from whosevalues.testing.stub_providers import MODELS, REASONING_TOKENS, ProviderStubServer, intended_value, is_filtered

pytestmark = pytest.mark.slow  # a stub provider server and the CLI in a subprocess

SAMPLES = 3
DISTRIBUTION_MODELS = {"markdown", "filtered", "plain", "weak"}


def study_file(tmp_path: Path, base_url: str, mode: str = "per-model") -> Path:
    blocks = "".join(f'''
[[models]]
id = "{model}"
provider = "openai-compatible"
base_url = "{base_url}"
api_model = "{model}"
origin = "USA"
''' for model in MODELS)
    path = tmp_path / "study.toml"
    # the paper's format only: these tests are about providers; tests/test_variants*.py cover the formats
    path.write_text(f'surveys = ["mfq2"]\nlanguages = ["en"]\npersonas = ["none"]\nsamples = {SAMPLES}\n'
                    f'variants = ["original"]\ntemperature = 0.7\nmode = "{mode}"\n{blocks}')
    return path


def run_cli(tmp_path: Path, config: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", "run", "--config", str(config), "--no-analysis",
                           *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("providers")
    with ProviderStubServer() as server:
        config = study_file(tmp_path, server.base_url)
        first = run_cli(tmp_path, config)
        counts = dict(server.requests_by_model)
        second = run_cli(tmp_path, config)  # a rerun asks nothing again, not even the probes
        rerun_counts = {m: server.requests_by_model[m] - counts.get(m, 0) for m in MODELS}
    return tmp_path, first, second, counts, rerun_counts


def test_the_run_succeeds_and_a_rerun_asks_nothing(finished_run):
    tmp_path, first, second, _, rerun_counts = finished_run
    assert first.returncode == 0, first.stderr[-4000:]
    assert second.returncode == 0, second.stderr[-4000:]
    assert "Traceback" not in first.stderr
    assert all(count == 0 for count in rerun_counts.values()), rerun_counts


def test_every_item_ends_with_the_value_the_server_means(finished_run):
    assert_intended_values(finished_run[0])


def assert_intended_values(tmp_path: Path) -> None:
    means = pd.read_csv(tmp_path / "whosevalues-out" / "item_means.csv", dtype={"item": str})
    mfq = load_instrument("mfq2")
    prompts = {item: mfq.render(item, "en", "none").user for item in mfq.item_ids}
    assert set(means["model"]) == set(MODELS)
    for row in means.itertuples():
        prompt = prompts[row.item]
        if row.model == "filtered" and is_filtered(prompt):
            assert row.refusal_rate == 1 and math.isnan(row.mean), row
            continue
        assert row.mean == pytest.approx(intended_value(prompt), abs=1e-6), row
        assert row.refusal_rate == 0
    assert len(means) == len(MODELS) * len(mfq.item_ids)


def test_modes_follow_what_each_endpoint_can_give(finished_run):
    tmp_path = finished_run[0]
    notes = json.loads((tmp_path / "whosevalues-out" / "run_notes.json").read_text())
    models = notes["models"]
    for model in MODELS:
        assert models[model]["mode"] == ("distribution" if model in DISTRIBUTION_MODELS else "sample"), model
    assert any("weak: 36 items sampled instead" in note for note in notes["notes"])
    assert "one-hot" in models["one-hot"]["mode_reason"]
    assert "reasons" in models["think-inline"]["mode_reason"]
    assert "logprobs" in models["reasoner"]["mode_reason"] and "logprobs" in models["o-series"]["mode_reason"]


def test_reasoning_is_reported_and_stored_apart(finished_run):
    tmp_path = finished_run[0]
    models = json.loads((tmp_path / "whosevalues-out" / "run_notes.json").read_text())["models"]
    for model in REASONING_TOKENS:
        assert models[model]["reasoned"], model
    assert models["reasoner"]["mean_reasoning_tokens"] == pytest.approx(REASONING_TOKENS["reasoner"])
    assert models["o-series"]["model_versions"] == ["o3-mini-2025-01-31"]
    assert models["plain"]["reasoned"] is False and models["plain"]["system_fingerprints"] == ["fp_plain"]
    with sqlite3.connect(tmp_path / "whosevalues-out" / "whosevalues.sqlite") as db:
        rows = db.execute("SELECT a.raw_text, a.reasoning_text, a.status FROM answers a JOIN requests r "
                          "ON r.key = a.key WHERE r.model = 'reasoner'").fetchall()
        budgets = dict(db.execute("SELECT endpoint, value FROM endpoint_settings WHERE setting = 'budget:sample'"))
    assert rows and all(status == "valid" and "weighing" in reasoning and text.strip().isdigit()
                        for text, reasoning, status in rows)
    # the budget that worked is remembered per endpoint: 10 doubled until the ~300 reasoning tokens fit
    assert int(next(v for k, v in budgets.items() if "|reasoner" in k)) == 320


def test_adaptations_are_made_once_and_said(finished_run):
    tmp_path, first, _, counts, _ = finished_run
    notes = json.loads((tmp_path / "whosevalues-out" / "run_notes.json").read_text())
    adaptations = notes["models"]["o-series"]["adaptations"]
    assert any("max_completion_tokens" in a for a in adaptations)
    assert any("0.7 was not applied" in a for a in adaptations)
    assert any("logprobs" in a for a in adaptations)
    assert notes["models"]["o-series"]["temperature"] is None
    assert any("system prompt" in a for a in notes["models"]["o1-mini"]["adaptations"])
    assert any("0.7 was not applied" in n for n in notes["notes"])
    assert "0.7 was not applied" in first.stderr  # printed by run, too


def test_no_runaway_retries(finished_run):
    counts = finished_run[3]
    items = len(load_instrument("mfq2").item_ids)
    sampled = items * SAMPLES
    check = CHECK_ITEMS * CHECK_SAMPLES  # the auto-mode sample check of each distribution-mode model, at most
    # probe (<= 3 prompts, plus one per adaptation) + pilot escalations (<= log2(cap/10)) + one per answer
    for model in MODELS:
        answers = items + check if model in DISTRIBUTION_MODELS else sampled
        if model == "weak":
            answers += sampled  # every item sampled instead
        assert counts[model] <= answers + 3 + 4 + 11, (model, counts[model])
    assert counts["plain"] <= items + check + 3


def test_distribution_answers_are_read_after_the_markdown(finished_run):
    tmp_path = finished_run[0]
    with sqlite3.connect(tmp_path / "whosevalues-out" / "whosevalues.sqlite") as db:
        rows = db.execute("SELECT a.valid_mass, a.detail FROM answers a JOIN requests r ON r.key = a.key "
                          "WHERE r.model = 'markdown' AND r.mode = 'distribution'").fetchall()
    assert rows and all(mass == pytest.approx(0.96) and "position 1" in detail for mass, detail in rows)
    check = json.loads((tmp_path / "whosevalues-out" / "run_notes.json").read_text())["models"]["markdown"]
    assert check["sample_check"]["items"] == CHECK_ITEMS and check["sample_check"]["disagree"] is False


def test_weak_distributions_are_sampled_instead_and_kept_for_reference(finished_run):
    tmp_path = finished_run[0]
    means = pd.read_csv(tmp_path / "whosevalues-out" / "item_means.csv", dtype={"item": str})
    weak = means[means["model"] == "weak"]
    assert len(weak) == len(load_instrument("mfq2").item_ids) and (weak["mode"] == "sample").all()
    assert (weak["n_total"] == SAMPLES).all()
    with sqlite3.connect(tmp_path / "whosevalues-out" / "whosevalues.sqlite") as db:
        kept = db.execute("SELECT a.status, a.valid_mass, a.distribution FROM answers a JOIN requests r "
                          "ON r.key = a.key WHERE r.model = 'weak' AND r.mode = 'distribution'").fetchall()
    assert kept and all(status == "sampled_instead" and mass == pytest.approx(0.3) and json.loads(dist)
                        for status, mass, dist in kept)


def test_sample_check_flags_distributions_that_disagree_with_samples(tmp_path):
    from whosevalues import Study, run_study
    from whosevalues.testing.stub_providers import MISCALIBRATED

    with ProviderStubServer() as server:
        study = Study.from_dict({"surveys": ["mfq2"], "languages": ["en"], "personas": ["none"], "samples": 1,
                                 "models": [{"id": "mis", "provider": "openai-compatible", "api_model": MISCALIBRATED,
                                             "base_url": server.base_url, "origin": "USA"}]})
        result = run_study(study, tmp_path / "out", show_progress=False)
    check = result.run_notes["models"]["mis"]["sample_check"]
    per_item = check["per_item"]
    assert check["items"] == CHECK_ITEMS and len(per_item) == CHECK_ITEMS
    # recomputed from the per-item means the run reports (share of MFQ-2's range 1-5): the flag follows from the data
    diffs = [(r["sampled_mean"] - r["distribution_mean"]) / 4 for r in per_item]
    assert check["mean_abs_difference"] == pytest.approx(sum(map(abs, diffs)) / len(diffs), abs=1e-4)
    raw_rms = math.sqrt(sum(d * d for d in diffs) / len(diffs))
    assert check["rms_difference"] <= raw_rms + 1e-4  # the rule only removes the sampling noise's bias
    assert check["disagree"] is True
    if check["clear"]:  # the rule stopped on a lower bound above the tolerance
        assert check["rms_interval"][0] > check["tolerance"] and check["samples_per_item"] in ROUNDS
    else:  # two cells only (one language): undecided to the last round, where the point estimate decides
        assert check["samples_per_item"] == ROUNDS[-1] and check["rms_difference"] > check["tolerance"]
    assert all(r["sampled_mean"] == intended_value(load_instrument("mfq2").render(r["item"], "en", "none").user)
               for r in per_item)
    assert any("differ from distribution means" in note for note in result.notes)


def test_default_mode_as_a_new_user_runs_it(tmp_path):
    """No mode in the study (auto): every model sampled, since some give no trustworthy distribution."""
    with ProviderStubServer() as server:
        config = study_file(tmp_path, server.base_url).read_text().replace('mode = "per-model"\n', "")
        (tmp_path / "study.toml").write_text(config)
        result = run_cli(tmp_path, tmp_path / "study.toml")
        counts = dict(server.requests_by_model)
    assert result.returncode == 0, result.stderr[-4000:]
    assert_intended_values(tmp_path)
    models = json.loads((tmp_path / "whosevalues-out" / "run_notes.json").read_text())["models"]
    assert all(info["mode"] == "sample" for info in models.values())
    assert "one-hot" in models["one-hot"]["mode_reason"]
    sampled = len(load_instrument("mfq2").item_ids) * SAMPLES
    for model in MODELS:  # probe + adaptations + pilot escalations, then one request per answer
        assert counts[model] <= sampled + 3 + 4 + 11, (model, counts[model])
