"""A tiny deterministic OpenAI-compatible server: ``/v1/models`` and ``/v1/chat/completions``.

It answers instantly (plus an optional fixed latency) with a digit from 1 to 5 chosen from the request's
seed, and with ``top_logprobs`` when asked, so throughput benchmarks and fault tests measure the client,
not a model. Run it standalone for benchmarks (a separate process keeps it off the client's GIL):

    python -m whosevalues.testing.stub_openai --latency 0.1      # prints "PORT <n>" then serves
"""

from __future__ import annotations

import argparse
import json
import math
import threading
import time
from typing import Any

from whosevalues.testing._server import LoopbackServer, QuietHandler

#: probability of each answer token when logprobs are requested (the rest goes to "I")
STUB_PROBS = {"1": 0.05, "2": 0.15, "3": 0.4, "4": 0.25, "5": 0.1, "I": 0.05}
MODEL_NAME = "stub-model"


def chat_completion(body: dict[str, Any], counter: int, logprobs: bool = True) -> dict[str, Any]:
    seed = body.get("seed")
    answer = str(1 + (seed if isinstance(seed, int) else counter) % 5)
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": answer},
                              "finish_reason": "stop"}
    if body.get("logprobs") and logprobs:
        top_n = int(body.get("top_logprobs") or 0)
        ranked = sorted(STUB_PROBS.items(), key=lambda kv: -kv[1])[:max(top_n, 1)]
        tops = [{"token": t, "logprob": math.log(p), "bytes": list(t.encode())} for t, p in ranked]
        choice["logprobs"] = {"content": [{"token": answer, "logprob": math.log(STUB_PROBS[answer]),
                                           "bytes": list(answer.encode()), "top_logprobs": tops}]}
    return {"id": f"chatcmpl-stub-{counter}", "object": "chat.completion", "created": int(time.time()),
            "model": body.get("model", MODEL_NAME), "choices": [choice],
            "usage": {"prompt_tokens": max(prompt_chars // 4, 1), "completion_tokens": 1,
                      "total_tokens": max(prompt_chars // 4, 1) + 1}}


class _StubHandler(QuietHandler):
    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self.send_json(200, {"object": "list", "data": [{"id": MODEL_NAME, "object": "model"}]})
        else:
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})

    def do_POST(self) -> None:
        raw = self.read_body()
        if not self.path.rstrip("/").endswith("/chat/completions"):
            self.send_json(404, {"error": {"message": f"no route {self.path}"}})
            return
        try:
            body = json.loads(raw)
        except ValueError:
            self.send_json(400, {"error": {"message": "request body is not JSON", "type": "invalid_request"}})
            return
        owner: StubOpenAIServer = self.owner
        count = owner.count()
        if owner.latency:
            time.sleep(owner.latency)
        self.send_json(200, chat_completion(body, count, owner.logprobs))


class StubOpenAIServer(LoopbackServer):
    """``with StubOpenAIServer(latency=0.1) as stub: stub.base_url`` -> ``http://127.0.0.1:N/v1``."""

    handler = _StubHandler

    def __init__(self, port: int = 0, latency: float = 0.0, logprobs: bool = True):
        super().__init__(port)
        self.latency = latency
        self.logprobs = logprobs  # False: ignore a logprobs request, as many providers do
        self.requests = 0
        self._lock = threading.Lock()

    def count(self) -> int:
        with self._lock:
            self.requests += 1
            return self.requests

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")
    args = parser.parse_args(argv)
    StubOpenAIServer(args.port, args.latency).serve_until_interrupted()


if __name__ == "__main__":
    main()
