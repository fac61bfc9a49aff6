"""Read the real recorded provider exchanges in ../shared/data/provider_exchanges (see SOURCE.md there).

Each file has its source project's format; :func:`load_exchange` turns any of them into the one shape the
loopback ReplayServer serves: ``{"status": int, "headers": {name: value}, "body": str}`` with the body as
the provider sent it (raw string cassettes) or re-serialised from the recorded parse (pydantic-ai
``parsed_body``, llama-stack ``__data__``, vercel ``.json`` fixtures). Without ../shared, the subset in
tests/recordings/provider_exchanges is used and tests of the other files skip.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from shared_paths import SHARED_DATA

EXCHANGES = SHARED_DATA / "provider_exchanges"
#: the subset shipped with the tests (tests/recordings/provider_exchanges/SOURCE.md)
BUNDLED = Path(__file__).resolve().parent / "recordings" / "provider_exchanges"

# headers that describe the recorded transfer, not the body we serve again
_TRANSFER_HEADERS = {"content-length", "transfer-encoding", "content-encoding", "connection"}


def full_collection() -> Path:
    """The whole collection, or skip (for tests about the collection itself)."""
    if not EXCHANGES.is_dir():
        pytest.skip("../shared/data/provider_exchanges is not beside the repository")
    return EXCHANGES


def exchange_path(name: str) -> Path:
    """``name`` in ../shared's collection, else in the bundled subset, else skip."""
    for folder in (EXCHANGES, BUNDLED):
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"{name} is only in ../shared/data/provider_exchanges, which is not beside the repository")


def load_exchange(name: str, interaction: int = -1) -> dict[str, Any]:
    """One recorded response of ``name`` (the last interaction unless told) as a replayable exchange."""
    path = exchange_path(name)
    if name.endswith(".yaml"):
        return _from_cassette(path, interaction)
    if name.endswith(".chunks.txt"):
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        body = "".join(f"data: {line}\n\n" for line in lines) + "data: [DONE]\n\n"
        return {"status": 200, "headers": {"content-type": "text/event-stream"}, "body": body}
    data = json.loads(path.read_text(encoding="utf-8"))
    recorded = (data.get("response") or {}).get("body") if isinstance(data, dict) else None
    body = recorded["__data__"] if isinstance(recorded, dict) and "__data__" in recorded else data  # llama-stack
    return {"status": _status_from_name(name), "headers": {"content-type": "application/json"},
            "body": json.dumps(body, ensure_ascii=False)}


def llamacpp_body(name: str) -> dict[str, Any]:
    """A chat.completion body around a llama.cpp log (the log kept only the message, or the message and
    its logprobs, as the openai SDK's model_dump printed them; the envelope is ours, the parts are real)."""
    data = json.loads(exchange_path(name).read_text(encoding="utf-8"))
    if isinstance(data, list):  # [user message, assistant message]
        message, logprobs = data[-1], None
    else:
        message = {"role": "assistant", "content": data["message"]}
        logprobs = data.get("logprobs")
    return {"id": "chatcmpl-llamacpp-log", "object": "chat.completion", "created": 0,
            "choices": [{"index": 0, "message": message, "logprobs": logprobs, "finish_reason": "stop"}]}


def _from_cassette(path: Path, interaction: int) -> dict[str, Any]:
    import yaml  # a test dependency (pyyaml)

    cassette = yaml.safe_load(path.read_text(encoding="utf-8"))
    response = cassette["interactions"][interaction]["response"]
    headers = {}
    for key, value in (response.get("headers") or {}).items():
        if key.lower() in _TRANSFER_HEADERS:
            continue
        headers[key.lower()] = value[0] if isinstance(value, list) and value else value
    if "parsed_body" in response:
        body = json.dumps(response["parsed_body"], ensure_ascii=False)
    else:
        body = (response.get("body") or {}).get("string", "")
        if isinstance(body, bytes):
            body = body.decode("utf-8")
    headers.setdefault("content-type", "application/json")
    return {"status": int((response.get("status") or {}).get("code", 200)), "headers": headers, "body": body}


def _status_from_name(name: str) -> int:
    match = re.search(r"_(\d{3})_", name)
    return int(match.group(1)) if match else 200
