"""Surveys as data: the bundled files reproduce the paper's prompts byte for byte; malformed files fail clearly."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from whosevalues.instruments import InstrumentError, load_instrument, read_instrument_file


def _paper_system_prompts(shared_data: Path) -> dict[tuple[str, str, str], str]:
    """(survey, language, persona) -> system prompt, read from the paper's prompt document."""
    text = (shared_data / "item_texts" / "paper_prompts.md").read_text(encoding="utf-8")
    surveys = {"MFQ-2": "mfq2", "WVS-7": "wvs7"}
    personas = {"none": "none", "USA": "USA", "CHN": "CHN"}
    found: dict[tuple[str, str, str], str] = {}
    survey = language = None
    for line in text.splitlines():
        if line.startswith("## "):
            survey = next((code for name, code in surveys.items() if name in line), None)
        elif line.startswith("System, "):
            language = "en" if "English" in line else "zh"
        match = re.match(r"- persona (\w+):\s+`(.*)`$", line)
        if match and survey and language:
            found[(survey, language, personas[match.group(1)])] = match.group(2).replace("\\n", "\n")
    return found


def test_system_prompts_match_the_paper(shared_data):
    expected = _paper_system_prompts(shared_data)
    assert len(expected) == 12  # 2 surveys x 2 languages x 3 personas
    for (survey, language, persona), system in expected.items():
        instrument = load_instrument(survey)
        assert instrument.render(instrument.item_ids[0], language, persona).system == system


def test_mfq2_user_prompts_match_the_paper(shared_data):
    text = (shared_data / "item_texts" / "paper_prompts.md").read_text(encoding="utf-8")
    templates = {lang: m.replace("\\n", "\n") for lang, m in
                 zip(("en", "zh"), re.findall(r"User, (?:English|Chinese): `(.*?)` \+ item text", text))}
    instrument = load_instrument("mfq2")
    with open(shared_data / "item_texts" / "mfq2_items_en_zh.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["item"] for row in rows] == instrument.item_ids
    for row in rows:
        for language in ("en", "zh"):
            for persona in ("none", "CHN", "USA"):
                user = instrument.render(row["item"], language, persona).user
                assert user == templates[language] + row[f"text_{language}"]


def test_wvs7_user_prompts_match_the_paper(shared_data):
    instrument = load_instrument("wvs7")
    with open(shared_data / "item_texts" / "wvs7_q177_q195_items_en_zh.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["qid"] for row in rows] == instrument.item_ids
    for row in rows:
        assert instrument.render(row["qid"], "en").user == row["prompt_en_paper"]
        assert instrument.render(row["qid"], "zh", "CHN").user == row["prompt_zh_paper"]


def test_mfq2_structure():
    instrument = load_instrument("mfq2")
    assert len(instrument.items) == 36
    # official order: foundations cycle Care, Equality, Proportionality, Loyalty, Authority, Purity
    assert [item.dimension for item in instrument.items[:6]] == instrument.dimensions
    assert all(instrument.items[i].dimension == instrument.dimensions[i % 6] for i in range(36))
    assert instrument.scale.values == [1, 2, 3, 4, 5]
    assert set(instrument.scale.labels) == {"en", "zh"} and len(instrument.scale.labels["zh"]) == 5
    wvs = load_instrument("wvs7")
    assert wvs.item_ids == [f"Q{n}" for n in range(177, 196)] and wvs.scale.values == list(range(1, 11))


GOOD = '''
id = "tiny"
name = "Tiny"
dimensions = ["A"]
[scale]
min = 1
max = 3
[scale.labels.en]
1 = "no"
3 = "yes"
[languages.en]
system = "{persona}Answer 1-3."
user = "Item: {item}"
[languages.en.personas]
FRA = "You are from France."
[[items]]
id = "a1"
dimension = "A"
text.en = "I like bread."
'''


@pytest.mark.parametrize("mutation, field, fix", [
    (lambda s: s.replace('[[items]]\nid = "a1"\ndimension = "A"\ntext.en = "I like bread."', ""), "items", "add"),
    (lambda s: s.replace('dimension = "A"\ntext', 'dimension = "B"\ntext'), "dimension", "add it to dimensions"),
    (lambda s: s.replace('[scale.labels.en]\n1 = "no"\n3 = "yes"', "[scale.labels]"), "scale.labels", "labels"),
    (lambda s: s.replace("Item: {item}", "Item:"), "languages.en", "{item}"),
    (lambda s: s + '\n[[items]]\nid = "a1"\ndimension = "A"\ntext.en = "Again."\n', "items", "unique id"),
    (lambda s: s.replace('text.en = "I like bread."', 'text.fr = "J\'aime le pain."'), "text", "text.en"),
    (lambda s: s.replace("name = \"Tiny\"\n", ""), "name", "add"),
    (lambda s: s.replace("max = 3", "max = three"), "TOML", "fix"),
])
def test_malformed_survey_file_names_file_field_and_fix(tmp_path, mutation, field, fix):
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert read_instrument_file(path).render("a1", "en", "FRA").system == "You are from France.\nAnswer 1-3."
    path.write_text(mutation(GOOD), encoding="utf-8")
    with pytest.raises(InstrumentError) as info:
        read_instrument_file(path)
    message = str(info.value)
    assert str(path) in message and field in message and fix in message and "\n" not in message


def test_user_survey_by_path_and_unknown_survey(tmp_path):
    path = tmp_path / "tiny.toml"
    path.write_text(GOOD, encoding="utf-8")
    assert load_instrument(str(path)).id == "tiny"
    with pytest.raises(InstrumentError, match="unknown survey 'nope'.*mfq2"):
        load_instrument("nope")
