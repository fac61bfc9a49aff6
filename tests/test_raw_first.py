"""Raw first, truly (issue 15, item 6): a parser that raises stores the raw reply as ``unparsed`` with the
exception's message, the run goes on, and a rerun asks ``unparsed`` answers again only once the parser changed."""

from __future__ import annotations

import sqlite3

import pytest

from whosevalues.elicit import store as store_module
from whosevalues.models.spec import ModelSpec
from whosevalues.pipeline import run_study
from whosevalues.study import Study
from whosevalues.testing.stub_providers import ProviderStubServer, intended_value


def _study(base_url: str) -> Study:
    spec = ModelSpec(id="plain", provider="openai-compatible", base_url=base_url, api_model="plain", origin="USA",
                     timeout=5)
    return Study(models=["plain"], custom_models={"plain": spec}, surveys=["mfq2"], languages=["en"],
                 personas=["none"], samples=1, mode="sample", variants=["original"])


def _rows(db) -> list[tuple]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT a.status, a.raw_text, a.detail, a.value, r.user FROM answers a "
                                  "JOIN requests r USING (key)").fetchall()


@pytest.mark.slow
def test_a_parser_that_raises_keeps_every_raw_reply_and_the_run_goes_on(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("the parser broke on purpose")

    out = tmp_path / "out"
    with ProviderStubServer() as server:
        with monkeypatch.context() as patch:
            patch.setattr("whosevalues.elicit.outcome.read_answer", broken)  # the reader decide calls
            run_study(_study(server.base_url), out, show_progress=False)
            first = sum(server.requests_by_model.values())
            rows = _rows(out / "whosevalues.sqlite")
            assert rows and all(status == "unparsed" for status, *_ in rows)
            assert all("the parser broke on purpose" in detail for _, _, detail, _, _ in rows)
            assert all(raw == str(intended_value(user.split("\n\n")[-1])) for _, raw, _, _, user in rows)
            run_study(_study(server.base_url), out, show_progress=False)  # the same parser: nothing asked again
            assert sum(server.requests_by_model.values()) == first
        # the parser changed (fixed): the unparsed answers are asked again and read
        monkeypatch.setattr(store_module, "PARSER_VERSION", "a-fixed-parser")
        run_study(_study(server.base_url), out, show_progress=False)
        assert sum(server.requests_by_model.values()) == 2 * first
    rows = _rows(out / "whosevalues.sqlite")
    assert all(status == "valid" and value == float(raw) for status, raw, _, value, _ in rows)
