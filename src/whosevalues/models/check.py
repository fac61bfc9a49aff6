"""`whosevalues models --check`: contact each model's endpoint once and say what answered.

One cheap request per model, with a short timeout, never retried:
- OpenAI-compatible: a one-token chat completion asking for ``top_logprobs``. Its answer shows at once whether
  the endpoint is reachable, whether the key was accepted, and whether token probabilities come back (and
  whether they look post-sampling, one-hot, as DeepSeek's do).
- Anthropic and Gemini: the free model-listing endpoint (reachable, key accepted); their logprobs support is
  the catalog's documented value, marked as such.
- The embedded local model: no request; whether its file is there.

Plain HTTP (``urllib``) on purpose: the probe must not depend on which SDKs are installed, must not retry,
and must end within seconds on a dead port. The key is sent only in headers and never printed.
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from whosevalues.models.base import ConfigurationError
from whosevalues.models.errors import ProviderError, read_error
from whosevalues.models.registry import create_backend
from whosevalues.models.spec import ModelSpec

PROBE_PROMPT = "Reply with one digit from 1 to 5."
OPENAI_BASE_URL = "https://api.openai.com/v1"
ANTHROPIC_BASE_URL = "https://api.anthropic.com"
GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta"
# post-sampling logprobs: the chosen token at about 0 and every alternative far below (DeepSeek: -21, -40)
ONE_HOT_CHOSEN, ONE_HOT_OTHERS = -0.01, -15.0
# which backend's key variable applies when the model names none (mirrors the backends' defaults)
@dataclass
class CheckResult:
    """What one probe found. ``key`` is accepted | rejected | not set | not needed | ?; ``logprobs`` is
    yes | no | one-hot | ? (``documented`` says it came from the catalog, not from the endpoint)."""

    model: str
    reachable: bool | None
    key: str
    logprobs: str
    note: str = ""
    documented: bool = False

    @property
    def ok(self) -> bool:
        return self.reachable is not False and self.key in ("accepted", "not needed")


@dataclass
class HttpAnswer:
    status: int
    body: str


# ---------------------------------------------------------------- one request, no retries

def _request(url: str, headers: dict[str, str], payload: dict | None, timeout: float) -> HttpAnswer:
    """GET (payload None) or POST JSON; an HTTP error status is an answer, not an exception."""
    data = json.dumps(payload).encode() if payload is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return HttpAnswer(response.status, response.read(200_000).decode("utf-8", "replace"))
    except urllib.error.HTTPError as exc:
        return HttpAnswer(exc.code, exc.read(20_000).decode("utf-8", "replace") if exc.fp else "")


def _unreachable(spec: ModelSpec, exc: BaseException, url: str) -> CheckResult:
    reason = getattr(exc, "reason", exc)
    if isinstance(reason, (socket.timeout, TimeoutError)):
        why = "timed out"
    elif isinstance(reason, ConnectionRefusedError):
        why = "connection refused"
    elif isinstance(reason, socket.gaierror):
        why = "host not found"
    else:
        why = str(reason) or type(reason).__name__
    hint = " (is the server running?)" if why == "connection refused" and _is_loopback(url) else ""
    return CheckResult(spec.id, False, "?", "?", f"{why} at {url}{hint}")


def _is_loopback(url: str) -> bool:
    from urllib.parse import urlparse

    return (urlparse(url).hostname or "") in ("127.0.0.1", "localhost", "::1")


# ---------------------------------------------------------------- reading an answer

def _error(answer: HttpAnswer) -> ProviderError:
    """The provider's error, read by the one reader every backend uses (every known body shape)."""
    return read_error(answer.status, answer.body)


def _short(message: str, limit: int = 80) -> str:
    message = " ".join(message.split())
    return message if len(message) <= limit else message[: limit - 3] + "..."


def _logprobs_in(body: str) -> str:
    """yes | one-hot | no, from a chat completion body that asked for top_logprobs."""
    try:
        choice = (json.loads(body).get("choices") or [{}])[0]
        first = ((choice.get("logprobs") or {}).get("content") or [None])[0]
    except (ValueError, AttributeError, IndexError, TypeError):
        return "?"
    if not first or not first.get("top_logprobs"):
        return "no"
    chosen = first.get("logprob")
    others = [top.get("logprob") for top in first["top_logprobs"] if top.get("token") != first.get("token")]
    if (isinstance(chosen, (int, float)) and chosen > ONE_HOT_CHOSEN and others
            and all(isinstance(lp, (int, float)) and lp < ONE_HOT_OTHERS for lp in others)):
        return "one-hot"
    return "yes"


def _key_word(status: int, key_sent: bool) -> str:
    if status in (401, 403):
        return "rejected" if key_sent else "not set"
    return "accepted" if key_sent else "not needed"


def _json_object(body: str) -> dict | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def _is_json(body: str) -> bool:
    try:
        json.loads(body)
    except ValueError:
        return False
    return True


def _not_the_provider(spec: ModelSpec, answer: HttpAnswer, provider: str) -> CheckResult:
    """Something answered, but not the provider's API (an HTML page, a proxy's login, another service)."""
    looks = "an HTML page" if answer.body.lstrip()[:1] == "<" else "JSON of another shape" if _is_json(answer.body) \
        else "not JSON"
    return CheckResult(spec.id, True, "?", "?", f"HTTP {answer.status} with {looks}, not {provider}'s API format: "
                                                f"check base_url (an OpenAI-compatible server's usually ends in /v1)")


def _openai_result(spec: ModelSpec, answer: HttpAnswer, key_sent: bool) -> CheckResult:
    status = answer.status
    body = _json_object(answer.body)
    if status == 200 and not (body and isinstance(body.get("choices"), list)):
        return _not_the_provider(spec, answer, "an OpenAI-compatible")
    if status != 200 and not (body and "error" in body) and status not in (401, 403, 429):
        return _not_the_provider(spec, answer, "an OpenAI-compatible")
    key = _key_word(status, key_sent)
    if status == 200:
        return CheckResult(spec.id, True, key, _logprobs_in(answer.body))
    error = _error(answer)
    message = _short(error.message)
    if status in (401, 403):
        return CheckResult(spec.id, True, key, "?", f"HTTP {status}: {message}")
    if error.param in ("logprobs", "top_logprobs"):
        return CheckResult(spec.id, True, key, "no", f"rejects {error.param}")
    if error.param:  # e.g. max_tokens on a reasoning model: the run adapts; logprobs stay unknown here
        return CheckResult(spec.id, True, key, "?", f"rejects {error.param} (the run adapts)")
    if status == 404:
        return CheckResult(spec.id, True, "?", "?", f"HTTP 404 (model or path unknown): {message}")
    if error.reason == "no_credit":  # e.g. OpenAI's 429 insufficient_quota, DeepSeek's 402: waiting will not cure it
        return CheckResult(spec.id, True, key, "?", f"HTTP {status}: no credit: {message} (top up the account)")
    if status == 429:
        return CheckResult(spec.id, True, key, "?", "HTTP 429: rate limited, try again later")
    return CheckResult(spec.id, True, key if status < 500 else "?", "?", f"HTTP {status}: {message}")


# ---------------------------------------------------------------- the probes (each backend class names its own)

def probe_openai(spec: ModelSpec, key: str | None, timeout: float) -> CheckResult:
    base = (spec.base_url or OPENAI_BASE_URL).rstrip("/")
    payload = {"model": spec.api_model or spec.id, "max_tokens": 1, "logprobs": True, "top_logprobs": 5,
               "messages": [{"role": "user", "content": PROBE_PROMPT}], **spec.extra_body}
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    url = f"{base}/chat/completions"
    try:
        answer = _request(url, headers, payload, timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _unreachable(spec, exc, base)
    return _openai_result(spec, answer, key_sent=key is not None)


def _documented_logprobs(spec: ModelSpec) -> str:
    return {True: "yes", False: "no"}.get(spec.supports_logprobs, "?")  # type: ignore[arg-type]


def _probe_listing(spec: ModelSpec, url: str, headers: dict[str, str], key: str | None,
                   timeout: float) -> CheckResult:
    """Anthropic and Gemini: a model-listing GET; logprobs as documented."""
    try:
        answer = _request(url, headers, None, timeout)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return _unreachable(spec, exc, url.split("/v1")[0])
    if not _is_json(answer.body) and answer.status not in (401, 403, 429):  # Gemini's errors are JSON lists
        return _not_the_provider(spec, answer, spec.provider.capitalize())
    message = _short(_error(answer).message) if answer.status != 200 else ""
    key_rejected = answer.status in (401, 403) or (answer.status == 400 and "api key" in message.lower())
    key_word = ("rejected" if key else "not set") if key_rejected else ("accepted" if key else "?")
    note = "" if answer.status == 200 else f"HTTP {answer.status}: {message}"
    return CheckResult(spec.id, True, key_word, _documented_logprobs(spec), note, documented=True)


def probe_anthropic(spec: ModelSpec, key: str | None, timeout: float) -> CheckResult:
    base = (spec.base_url or ANTHROPIC_BASE_URL).rstrip("/")
    headers = {"anthropic-version": "2023-06-01", **({"x-api-key": key} if key else {})}
    return _probe_listing(spec, f"{base}/v1/models", headers, key, timeout)


def probe_gemini(spec: ModelSpec, key: str | None, timeout: float) -> CheckResult:
    base = (spec.base_url or GEMINI_BASE_URL).rstrip("/")
    headers = {"x-goog-api-key": key} if key else {}
    return _probe_listing(spec, f"{base}/models/{spec.api_model or spec.id}", headers, key, timeout)


def probe_local(spec: ModelSpec, timeout: float) -> CheckResult:
    from whosevalues.models.registry import create_backend

    try:
        create_backend(spec).check_ready()
    except ConfigurationError as exc:
        return CheckResult(spec.id, None, "not needed", "?", str(exc))
    return CheckResult(spec.id, None, "not needed", "yes", "local model, nothing contacted")


def key_env_for(spec: ModelSpec) -> str | None:
    """The variable the backend reads the key from; None when the endpoint needs no key (asked of the
    backend itself, so the check and a run never disagree; e.g. a self-hosted OpenAI-compatible server)."""
    try:
        return create_backend(spec).key_env()
    except ConfigurationError:  # an unknown provider: no key to name (the check says why)
        return None


def key_for(spec: ModelSpec) -> str | None:
    """The key the backend would send, or None when none is set or none is needed."""
    env = key_env_for(spec)
    from whosevalues.models.keys import read_key

    return read_key(env) if env else None


def check_model(spec: ModelSpec, timeout: float = 5.0) -> CheckResult:
    """One probe, as the model's backend class declares it (``Backend.check``); never raises (an unexpected
    failure is reported as the model's note)."""
    from whosevalues.preflight import base_url_problem

    try:
        try:
            backend = create_backend(spec)
        except ConfigurationError:
            return CheckResult(spec.id, None, "?", "?", f"no check for provider {spec.provider!r}")
        problem = base_url_problem(spec.base_url) if spec.base_url else None
        if problem:
            return CheckResult(spec.id, False, "?", "?", problem)
        return _name_missing_key(backend.check(key_for(spec), timeout), key_env_for(spec))
    except ConfigurationError as exc:  # e.g. a malformed key: the message names the variable
        return CheckResult(spec.id, None, "?", "?", str(exc))
    except Exception as exc:  # the check is a diagnostic: one line per model, never a traceback
        return CheckResult(spec.id, None, "?", "?", f"check failed: {type(exc).__name__}: {exc}")


def _name_missing_key(result: CheckResult, env: str | None) -> CheckResult:
    """A key that was needed but not set: the note names the variable to set."""
    if result.key == "not set" and env:
        result.note = f"{env} is not set (export {env}=...)" + (f"; {result.note}" if result.note else "")
    return result


def check_models(specs: list[ModelSpec], timeout: float = 5.0, workers: int = 8) -> list[CheckResult]:
    """Probe every model at once (threads: each probe is one blocking request), results in input order."""
    if not specs:
        return []
    with ThreadPoolExecutor(max_workers=min(workers, len(specs))) as pool:
        return list(pool.map(lambda spec: check_model(spec, timeout), specs))
