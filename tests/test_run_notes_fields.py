"""Run notes decide from fields, never from phrases: weak distributions kept (the store's ``answers.reason``,
migration 008 fills it for answers stored before), and the report's sample-check warning (the run notes'
``disagreement_noted``)."""

from __future__ import annotations

import json
import sqlite3

from whosevalues.elicit.endpoint import EndpointMemory
from whosevalues.elicit.outcome import KEPT_WEAK, WEAK_KEPT, Outcome, decide
from whosevalues.elicit.plan import plan_model
from whosevalues.elicit.run_notes import build_run_notes
from whosevalues.elicit.store import MIGRATIONS, Store
from whosevalues.models.base import Backend, ChatRequest, ProviderReply
from whosevalues.report import run_notes as report_notes
from whosevalues.report.outdir import OutputDir
from whosevalues.study import Study


class _Quiet(Backend):
    async def complete(self, request: ChatRequest) -> ProviderReply:  # never asked here
        raise NotImplementedError


def _study() -> Study:
    return Study(samples=1, surveys=["mfq2"], languages=["en"], personas=["none"], mode="distribution")


def _stored(store: Store, study: Study, outcomes: list[Outcome]) -> set[str]:
    planned = plan_model(study, study.model_specs()[0], "distribution", study.instruments())[:len(outcomes)]
    run = store.start_run("test", "{}", "0")
    store.add_requests(planned, run)
    for request, outcome in zip(planned, outcomes):
        store.save_answer(request, ProviderReply(answer_text="3", finish_reason="stop"), outcome, run, attempts=1,
                          latency_s=0)
    return {p.key for p in planned}


def _notes(store: Store, study: Study, keys: set[str], checks: dict | None = None) -> dict:
    spec = study.model_specs()[0]
    backend = _Quiet(spec)
    return build_run_notes(study, {spec.id: backend}, store, {spec.id: "distribution"}, {spec.id: "asked"},
                           {spec.id: EndpointMemory(backend, store)}, keys, [], checks or {})


def test_weak_distributions_kept_are_counted_from_the_answers_reason_not_their_detail(tmp_path):
    study = _study()
    exact = ProviderReply(answer_text="3", finish_reason="stop", distribution={3: 1.0}, valid_mass=0.1)
    kept = decide(exact, mode="distribution", scale_min=1, scale_max=5, min_valid_mass=0.5)
    assert kept.reason == KEPT_WEAK
    # the phrase in a detail without the field (a provider's words, say) is not a weak distribution kept
    echoed = Outcome(3.0, "valid", f"the model said: {WEAK_KEPT} 0.5", distribution={3: 1.0}, valid_mass=0.9)
    store = Store(tmp_path / "s.db")
    try:
        keys = _stored(store, study, [kept, kept, echoed])
        assert store.answer_meta(keys)["reason"].tolist().count(KEPT_WEAK) == 2
        notes = _notes(store, study, keys)["notes"]
    finally:
        store.close()
    [weak] = [note for note in notes if "less than 0.5 of their probability" in note]
    assert ": 2 distributions had less than" in weak


def test_a_store_from_before_the_reason_field_gets_it_from_the_details_of_then(tmp_path):
    path = tmp_path / "old.sqlite"
    old = [(name, apply) for name, apply in MIGRATIONS if name < "008"]
    with sqlite3.connect(path) as db:  # a store written by the version before answers.reason
        db.execute("CREATE TABLE schema_migrations (name TEXT PRIMARY KEY, applied_at TEXT)")
        for name, apply in old:
            apply(db)
            db.execute("INSERT INTO schema_migrations VALUES (?, 'then')", (name,))
        rows = [("k1", "valid", "valid_mass=0.1000; kept below the minimum valid mass 0.5 (exact distribution of "
                                "an in-process model)"),
                ("k2", "sampled_instead", "valid_mass=0.2000 below the minimum 0.5; sampled instead (the weak "
                                          "distribution is kept for reference)"),
                ("k3", "sampled_instead", "no token probabilities in the reply; sampled instead"),
                ("k4", "sampled_instead", "'1' (mass 0.2000) may start '10' and this reply does not tell which "
                                          "(the mean could be off by 1.800, more than 0.01); sampled instead"),
                ("k5", "sampled_instead", "the letter 'B' began the word 'Bring'; sampled instead"),
                ("k6", "sampled_instead", "answers by the option's words (a text variant) cannot be read from one "
                                          "token's probabilities; sampled instead"),
                ("k7", "valid", "valid_mass=0.9000"), ("k8", "valid", "matched option 2's words (the whole answer)")]
        db.executemany("INSERT INTO answers (key, status, detail, answered_at) VALUES (?, ?, ?, 'then')", rows)
    store = Store(path)
    try:
        reasons = dict(store.db.execute("SELECT key, reason FROM answers").fetchall())
    finally:
        store.close()
    assert reasons == {"k1": "kept_weak", "k2": "below_min_mass", "k3": "no_token_probabilities",
                       "k4": "unsplit_prefix", "k5": "letter_began_word", "k6": "text_variant", "k7": None,
                       "k8": None}


DISAGREES = {"items": 4, "samples_per_item": 10, "mean_abs_difference": 0.9, "rms_difference": 0.3,
             "tolerance": 0.1, "disagree": True}


def test_the_run_notes_say_which_disagreement_they_noted(tmp_path):
    study = _study()
    store = Store(tmp_path / "s.db")
    try:
        model = study.model_specs()[0].id
        keys = _stored(store, study, [])
        noted = _notes(store, study, keys, {model: DISAGREES})
        agreed = _notes(store, study, keys, {model: {**DISAGREES, "disagree": False}})
    finally:
        store.close()
    assert noted["models"][model]["disagreement_noted"] is True
    assert sum("sampled means differ" in note for note in noted["notes"]) == 1
    assert agreed["models"][model]["disagreement_noted"] is False


def _out(tmp_path, notes: list[str], model_note: dict) -> OutputDir:
    (tmp_path / "item_means.csv").write_text("model,origin,survey,language,persona,item,mean\nm,USA,mfq2,en,none,1,3\n")
    (tmp_path / "run_notes.json").write_text(json.dumps({"notes": notes, "models": {"m": model_note}}))
    return OutputDir(tmp_path)


def test_the_report_warns_of_a_disagreement_from_the_field_not_from_a_note_that_says_differ(tmp_path):
    unrelated = ["m: answers differ in length across languages"]  # 'm' and 'differ', about something else
    warnings = report_notes.run_notes_warnings(_out(tmp_path, unrelated, {"sample_check": DISAGREES}))
    assert any("sample check disagrees" in w for w in warnings)
    own = ["m: sampled means differ from distribution means by 0.30 of the scale's range (RMS) over 4 check items"]
    noted = report_notes.run_notes_warnings(_out(tmp_path, own, {"sample_check": DISAGREES,
                                                                 "disagreement_noted": True}))
    assert noted == own  # the run's own note says it: not twice
