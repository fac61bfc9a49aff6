"""Question formats as data: the survey files' [variants], how each maps back to the canonical scale, the study
field and --variants, and what the plan asks (original keys unchanged)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest

from whosevalues.elicit.plan import plan_model, prompt_hash, request_key
from whosevalues.instruments import InstrumentError, load_instrument, read_instrument_file
from whosevalues.instruments.variants import CORE_VARIANTS, ORIGINAL, AnswerFormat
from whosevalues.models.base import ChatRequest
from whosevalues.study import Study, StudyError

BATTERY = ["original", "descending", "recoded", "letters", "text", "paraphrase1", "paraphrase2", "paraphrase3",
           "unforced"]

TINY = '''
id = "tiny"
name = "Tiny"
[scale]
min = 1
max = 3
[scale.labels.en]
1 = "no"
2 = "maybe"
3 = "yes"
[languages.en]
system = "{persona}Answer 1-3."
user = "Item: {item}"
[[items]]
id = "a1"
text.en = "I like bread."

[variants.letters]
description = "letters"
identifiers = "letters"
[variants.letters.languages.en]
system = "{persona}Answer A-C."
user = "A: no, B: maybe, C: yes. Item: {item}"
'''


# -- the schema ----------------------------------------------------------------------------------
@pytest.mark.parametrize("mutation, field, fix", [
    (lambda s: s.replace('identifiers = "letters"', 'identifiers = ["A", "B"]'), "variants.letters.identifiers",
     "one per point"),
    (lambda s: s.replace('identifiers = "letters"', 'answer_by = "text"').replace('2 = "maybe"\n', ""),
     "variants.letters.languages.en.words", "add words"),
    (lambda s: s.replace("C: yes. Item: {item}", "C: yes."), "variants.letters.languages.en", "{item}"),
    (lambda s: s.replace("{persona}Answer A-C.", "Answer A-C."), "variants.letters.languages.en", "{persona}"),
    (lambda s: s.replace("[variants.letters", "[variants.original"), "variants.original", "another name"),
    (lambda s: s.replace("[variants.letters", "[variants.core"), "variants.core", "another name"),
    (lambda s: s.replace("[variants.letters.languages.en]", "[variants.letters.languages.fr]"),
     "variants.letters", "language 'en'"),
    (lambda s: s.replace('identifiers = "letters"', 'direction = "upside-down"'), "direction", "same"),
    (lambda s: s + 'words = ["no"]\n', "variants.letters.languages.en.words", "every point"),
])
def test_malformed_variant_names_file_field_and_fix(tmp_path, mutation, field, fix):
    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    assert read_instrument_file(path).render("a1", "en", variant="letters").system == "Answer A-C."
    path.write_text(mutation(TINY), encoding="utf-8")
    with pytest.raises(InstrumentError) as info:
        read_instrument_file(path)
    message = str(info.value)
    assert str(path) in message and field in message and fix in message and "\n" not in message, message


def test_original_is_implicit_and_unchanged():
    for survey in ("mfq2", "wvs7"):
        instrument = load_instrument(survey)
        assert instrument.variant_names == BATTERY
        for language in ("en", "zh"):
            for item in instrument.item_ids:
                assert instrument.render(item, language, "CHN", ORIGINAL) == instrument.render(item, language, "CHN")
            # the original format is exactly what a request without one reads (ChatRequest.format's default)
            request = ChatRequest("k", "s", "u", "sample", instrument.scale.min, instrument.scale.max, None, 10, 0)
            assert instrument.answer_format(ORIGINAL, language) == request.format


def test_every_variant_renders_in_both_languages_with_the_validated_item_text():
    for survey in ("mfq2", "wvs7"):
        instrument = load_instrument(survey)
        for variant in BATTERY:
            for language in ("en", "zh"):
                for persona in ("none", "CHN", "USA"):
                    prompt = instrument.render(instrument.item_ids[0], language, persona, variant)
                    assert instrument.items[0].text[language] in prompt.user
                    assert prompt.system.strip()  # never an empty system message (some providers refuse one)
                    if persona != "none":
                        assert prompt.system.count(instrument.languages[language].personas[persona]) == 1
        # every format has its own messages; unforced keeps original's user message and drops the demand
        rendered = {instrument.render(instrument.item_ids[0], "en", "none", v) for v in BATTERY}
        assert len({prompt.user for prompt in rendered}) == len(BATTERY) - 1 and len(rendered) == len(BATTERY)


def test_exact_prompts_of_a_few_variants():
    mfq = load_instrument("mfq2")
    letters = mfq.render("1", "en", "none", "letters")
    assert letters.system == "Respond only with a letter from A to E."
    assert letters.user == ("Please indicate how well the statement below describes you or your opinions.\nOptions:\n"
                            "A: Does not describe me at all\nB: Slightly describes me\nC: Moderately describes me\n"
                            "D: Describes me fairly well\nE: Describes me extremely well\n"
                            "Statement: Caring for people who have suffered is an important virtue.")
    recoded = mfq.render("1", "zh", "CHN", "recoded")
    assert recoded.system == "您来自中国。\n请仅回复1到5之间的数字。"
    assert recoded.user.splitlines()[2:4] == ["1:对我的描述极其贴切", "2:对我的描述相当贴切"]
    unforced = mfq.render("1", "en", "USA", "unforced")
    assert unforced.system == "You are from the USA.\nPlease answer the following."
    wvs = load_instrument("wvs7")
    recoded = wvs.render("Q177", "zh", "none", "recoded")
    assert recoded.user == ("在1（完全可以接受）到10（完全不能接受）的评分范围内，"
                            "您多大程度上能接受下列行为：向政府要求自己无权享受的福利。")
    text = wvs.render("Q178", "en", "none", "text")
    assert text.system.endswith("Respond only with a number from one to ten, written as a word.")
    assert text.user.startswith("On a scale of one (never justifiable) to ten (always justifiable)")
    unforced = wvs.render("Q177", "en", "none", "unforced")
    assert "Respond only" not in unforced.system and unforced.user == wvs.render("Q177", "en").user


# -- what the prompts say agrees with how answers are mapped back ------------------------------------
def _listed_options(user: str, language: str) -> list[tuple[str | None, str]]:
    """MFQ-2: the option lines between "Options:" and "Statement:", as (identifier or None, words)."""
    start, end = ("Options:\n", "\nStatement:") if language == "en" else ("选项：\n", "\n陈述：")
    block = user.split(start, 1)[1].split(end, 1)[0]
    options = []
    for line in block.splitlines():
        match = re.match(r"^([0-9A-Z]+):\s?(.*)$", line)
        options.append((match.group(1), match.group(2)) if match else (None, line))
    return options


@pytest.mark.parametrize("variant", BATTERY)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_mfq2_options_in_each_prompt_mean_what_the_answer_format_maps_them_to(variant, language):
    instrument = load_instrument("mfq2")
    fmt = instrument.answer_format(variant, language)
    labels = instrument.scale.labels[language]
    options = _listed_options(instrument.render("1", language, "none", variant).user, language)
    assert len(options) == 5
    positions = []
    for identifier, words in options:
        if fmt.by_text:
            assert identifier is None
            position = dict(fmt.option_words)[language].index(words)
        else:
            position = fmt.answer_identifiers.index(identifier)
        assert labels[fmt.canonical_of_position(position)] == words  # the option means what it is mapped to
        positions.append(position)
    assert positions == sorted(positions, reverse=fmt.listed_descending)
    assert labels[fmt.first_listed_canonical()] == options[0][1]
    assert labels[fmt.last_listed_canonical()] == options[-1][1]


@pytest.mark.parametrize("variant", BATTERY)
@pytest.mark.parametrize("language", ["en", "zh"])
def test_wvs7_scale_ends_in_each_prompt_mean_what_the_answer_format_maps_them_to(variant, language):
    instrument = load_instrument("wvs7")
    fmt = instrument.answer_format(variant, language)
    user = instrument.render("Q177", language, "none", variant).user
    pattern = (r"(\w+) \((never|always) justifiable\)" if language == "en"
               else r"([0-9A-Z一二三四五六七八九十]+)（(完全不能接受|完全可以接受)）")
    ends = re.findall(pattern, user)
    assert len(ends) == 2, user
    identifiers = dict(fmt.option_words)[language] if fmt.by_text else fmt.answer_identifiers
    canonical = [fmt.canonical_of_position(identifiers.index(identifier)) for identifier, _ in ends]
    meaning = [1 if end in ("never", "完全不能接受") else 10 for _, end in ends]
    assert canonical == meaning
    assert canonical[0] == fmt.first_listed_canonical() and canonical[1] == fmt.last_listed_canonical()


def test_answer_format_mapping_facts():
    mfq, wvs = load_instrument("mfq2"), load_instrument("wvs7")
    assert mfq.answer_format("recoded", "en").canonical(2) == 4
    assert wvs.answer_format("recoded", "zh").canonical(3) == 8
    letters = mfq.answer_format("letters", "en")
    assert letters.canonical_of_position(letters.answer_identifiers.index("B")) == 2
    assert wvs.answer_format("letters", "en").answer_identifiers == tuple("ABCDEFGHIJ")
    text = mfq.answer_format("text", "en")
    assert text.by_text and set(text.words()) == {"en", "zh"}  # a reply in either language is read
    assert text.canonical_of_position(text.words()["zh"].index("对我的描述相当贴切")) == 4
    assert text.canonical_of_position(text.words()["en"].index("Describes me fairly well")) == 4
    wvs_text = wvs.answer_format("text", "zh")
    assert wvs_text.canonical_of_position(wvs_text.words()["en"].index("seven")) == 7
    assert wvs_text.canonical_of_position(wvs_text.words()["zh"].index("七")) == 7
    descending = mfq.answer_format("descending", "en")
    assert descending.canonical(2) == 2 and descending.first_listed_canonical() == 5
    assert mfq.answer_format("recoded", "en").words()["en"][0] == "Describes me extremely well"
    unforced = mfq.answer_format("unforced", "zh")
    assert not unforced.forced and unforced.words()["zh"][3] == "对我的描述相当贴切"
    assert wvs.answer_format("unforced", "en").option_words == ()  # WVS names only its ends: numbers are read


# -- the study field and its resolution ------------------------------------------------------------
def test_study_variants_default_core_all_and_names():
    mfq = load_instrument("mfq2")
    assert Study().variants == ["original", "recoded"]
    assert Study(variants=["core"]).variants_for(mfq) == list(CORE_VARIANTS)
    assert Study(variants=["all"]).variants_for(mfq) == BATTERY
    assert Study(variants=["letters", "original"]).variants_for(mfq) == ["original", "letters"]  # survey order
    assert Study(variants=["core", "text"]).variants_for(mfq) == ["original", "recoded", "letters", "text",
                                                                  "paraphrase1"]


def test_study_id_of_the_papers_design_is_unchanged_by_the_variants_field():
    study = Study(variants=["original"], surveys=["mfq2"])
    old_design = study.model_dump(mode="json", exclude={"name", "variants"})  # the design before formats existed
    old_id = "study-" + hashlib.sha256(json.dumps(old_design, sort_keys=True).encode()).hexdigest()[:8]
    assert study.study_id == old_id
    assert Study(surveys=["mfq2"]).study_id != old_id  # original,recoded is another design


@pytest.mark.parametrize("variants, message", [
    (["bogus"], "unknown variant 'bogus'; the surveys have original, descending, recoded"),
    (["letters"], "include original"),
    (["original", "original"], "listed twice"),
])
def test_bad_variants_fail_before_running(variants, message):
    with pytest.raises(StudyError, match=re.escape(message)):
        Study().with_overrides(variants=variants).validate_design()


def test_a_survey_lacking_a_format_is_named_and_all_asks_what_each_has(tmp_path):
    from whosevalues.elicit.formats import format_notes

    path = tmp_path / "tiny.toml"
    path.write_text(TINY, encoding="utf-8")
    study = Study(surveys=["mfq2", str(path)], languages=["en"], personas=["none"], variants=["original", "descending"])
    with pytest.raises(StudyError, match=r"survey tiny has no variant 'descending'; it has original, letters"):
        study.validate_design()
    with pytest.raises(StudyError, match=r"survey tiny has no variant 'recoded' \(part of --variants core\)"):
        study.with_overrides(variants=["core"]).validate_design()
    # the default asks recoded where a survey has it: a survey file of one's own needs no formats
    default = study.with_overrides(variants=["original", "recoded"])
    default.validate_design()
    assert default.variants_for(load_instrument("tiny")) == ["original"]
    assert default.variants_for(load_instrument("mfq2")) == ["original", "recoded"]
    assert format_notes(default, {"m": "sample"}) == [
        "survey tiny has no recoded (asked by default): asked original only; add [variants.recoded] to its file for "
        "a format check"]
    every = study.with_overrides(variants=["all"])
    every.validate_design()
    assert every.variants_for(load_instrument("tiny")) == ["original", "letters"]
    notes = format_notes(every, {"m": "sample"})
    assert len(notes) == 1 and notes[0].startswith("--variants all: survey tiny has no descending, recoded, text")


# -- the plan -----------------------------------------------------------------------------------------
def _old_recipe_key(spec, survey, item, language, persona, sample, mode, temperature, max_tokens, system, user):
    """The key recipe before question formats existed (KEY_VERSION 1), written out independently."""
    identity = {"v": 1, "model": spec.id, "api_model": spec.api_model, "survey": survey, "item": item,
                "language": language, "persona": persona, "sample": sample, "mode": mode,
                "temperature": temperature, "max_tokens": max_tokens,
                "prompt": hashlib.sha256(f"{system}\x00{user}".encode()).hexdigest()[:16]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:32]


def test_original_requests_keep_their_old_keys_and_other_formats_get_their_own():
    study = Study(surveys=["mfq2"], languages=["en"], personas=["none", "CHN"], samples=2,
                  variants=["original", "recoded", "letters"])
    spec = study.model_specs()[0]
    plan = plan_model(study, spec, "sample", study.instruments())
    first = plan[0]
    assert first.variant == "original" and first.item == "1" and first.sample == 0
    system = "Respond only with a number from 1 to 5."
    user = ("Please indicate how well the statement below describes you or your opinions.\nOptions:\n"
            "1: Does not describe me at all\n2: Slightly describes me\n3: Moderately describes me\n"
            "4: Describes me fairly well\n5: Describes me extremely well\n"
            "Statement: Caring for people who have suffered is an important virtue.")
    assert first.key == _old_recipe_key(spec, "mfq2", "1", "en", "none", 0, "sample", first.request.temperature, 10,
                                        system, user)
    originals = [p for p in plan if p.variant == "original"]
    assert all(p.key == _old_recipe_key(spec, "mfq2", p.item, "en", p.persona, p.sample, "sample",
                                        p.request.temperature, 10, p.request.system, p.request.user)
               for p in originals)
    recoded = next(p for p in plan if p.variant == "recoded")
    assert recoded.key == request_key(spec, "mfq2", recoded.item, "en", recoded.persona, recoded.sample, "sample",
                                      recoded.request.temperature, 10,
                                      prompt_hash(recoded.request.system, recoded.request.user), "recoded")
    keys = plan.keys()
    assert len(keys) == len(set(keys)) == 36 * 2 * 3 * 2
    for planned in plan:
        assert planned.request.format == load_instrument("mfq2").answer_format(planned.variant, "en")
    assert recoded.request.format.reversed and not first.request.format.reversed


def test_plan_keeps_prompts_sharing_a_prefix_adjacent():
    study = Study(surveys=["mfq2", "wvs7"], samples=2, variants=["core"])
    plan = plan_model(study, study.model_specs()[0], "sample", study.instruments())
    groups = [(p.survey, p.language, p.persona, p.variant) for p in plan]
    runs = [g for i, g in enumerate(groups) if i == 0 or groups[i - 1] != g]
    assert len(runs) == len(set(runs)) == 2 * 2 * 3 * 4  # every group is one contiguous run
    assert len(plan) == (36 + 19) * 2 * 3 * 4 * 2


def test_text_is_sampled_in_distribution_mode_and_the_rest_keep_it():
    from whosevalues.elicit.formats import cost_by_variant, format_notes

    study = Study(surveys=["mfq2"], languages=["en"], personas=["none"], samples=3,
                  variants=["original", "text", "unforced"])
    spec = study.model_specs()[0]
    plan = plan_model(study, spec, "distribution", study.instruments())
    modes = {}
    for planned in plan:
        modes.setdefault(planned.variant, set()).add(planned.request.mode)
    assert modes == {"original": {"distribution"}, "text": {"sample"}, "unforced": {"distribution"}}
    assert len(plan) == 36 + 36 * 3 + 36
    table = cost_by_variant({spec.id: plan}, {spec.id: spec})
    assert table[["variant", "mode", "requests"]].values.tolist() == [
        ["original", "distribution", 36], ["text", "sample", 108], ["unforced", "distribution", 36]]
    assert format_notes(study, {spec.id: "distribution"}) == [
        f"text: sampled, its answers are words (3 samples per prompt for {spec.id}, whose other formats are read "
        "as distributions)"]
    assert format_notes(study, {spec.id: "sample"}) == []


def test_sample_check_asks_the_original_format_only():
    from whosevalues.elicit.followup import CHECK_ITEMS, CHECK_SAMPLES, sample_check_plan

    study = Study(surveys=["mfq2"], languages=["en"], variants=["all"])
    spec = study.model_specs()[0]
    checks = sample_check_plan(study, {spec.id: "distribution"})[spec.id]
    assert {p.variant for p in checks} == {"original"} and len(checks) == CHECK_ITEMS * CHECK_SAMPLES


def test_answer_format_equality_survives_rebuilding_from_the_store(tmp_path):
    """A batch outlives its plan: requests rebuilt from the store carry their format again."""
    from whosevalues.elicit.batch.lines import planned_from_store
    from whosevalues.elicit.store import Store

    study = Study(surveys=["wvs7"], languages=["zh"], personas=["none"], samples=1, variants=["original", "recoded"])
    plan = plan_model(study, study.model_specs()[0], "sample", study.instruments())
    store = Store(tmp_path / "s.sqlite")
    store.add_requests(plan, store.start_run("test", "{}", "0"))
    rebuilt = planned_from_store(store, set(plan.keys()))
    store.close()
    for planned in plan:
        again = rebuilt[planned.key]
        assert again.variant == planned.variant and again.request.format == planned.request.format
        assert again.request.format == AnswerFormat(variant=planned.variant, scale_min=1, scale_max=10,
                                                    reversed=planned.variant == "recoded")


# -- the command line ------------------------------------------------------------------------------------
def run_cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """``whosevalues ARGS`` in this process, as ``main`` runs it (exit code, stdout, stderr)."""
    import sys

    from whosevalues import cli

    monkeypatch.setattr(sys, "argv", ["whosevalues", *args])
    monkeypatch.setattr(cli.out, "width", 250)  # tables on one line each, whatever the terminal
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return exit_info.value.code, captured.out, captured.err


@pytest.mark.parametrize("value, fragment", [
    ("bogus", "unknown variant 'bogus'; the surveys have original, descending"),
    ("letters", "include original"),
    (",", "--variants is empty"),
])
def test_bad_variants_option_is_one_line_and_nothing_is_written(tmp_path, monkeypatch, capsys, value, fragment):
    code, out, err = run_cli(monkeypatch, capsys, "run", "--variants", value, "--out", str(tmp_path / "out"))
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and fragment in lines[0], err
    assert not (tmp_path / "out").exists()


def test_dry_run_shows_each_formats_requests(tmp_path, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "run", "--dry-run", "--variants", "original,letters,text",
                             "--surveys", "mfq2", "--languages", "en", "--personas", "none", "--samples", "4",
                             "--out", str(tmp_path / "out"))
    assert code == 0, err
    rows = {line.split("│")[2].strip(): line for line in out.splitlines() if line.count("│") > 5}
    # the embedded model reads distributions: one request per prompt, but text is sampled (4 per prompt)
    assert rows["original"].split("│")[3].strip() == "distribution" and rows["original"].split("│")[4].strip() == "36"
    assert rows["letters"].split("│")[4].strip() == "36"
    assert rows["text"].split("│")[3].strip() == "sample" and rows["text"].split("│")[4].strip() == "144"
    assert "text: sampled, its answers are words" in out
    assert not (tmp_path / "out").exists()  # a dry run writes nothing
