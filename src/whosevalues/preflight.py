"""Checks a run makes before planning, so a dead endpoint or a broken model file ends it in seconds.

Without them a refused connection is retried like a transient fault (minutes of backoff for every request),
and a corrupt GGUF file fails on the first request of every worker.
"""

from __future__ import annotations

import socket
import urllib.request
from typing import Protocol, TypeGuard
from urllib.parse import urlparse

from whosevalues.models.base import Backend, ConfigurationError
from whosevalues.models.spec import ModelSpec

CONNECT_TIMEOUT_S = 5.0


def _goes_through_proxy(scheme: str, host: str) -> bool:
    """A proxy in the environment connects for us: a direct TCP check would test the wrong thing."""
    return scheme in urllib.request.getproxies() and not urllib.request.proxy_bypass(host)


def base_url_problem(base_url: str) -> str | None:
    """What is wrong with a ``base_url`` and the fix, or None: a missing scheme, another scheme, a bad port."""
    if "://" not in base_url:
        return f"base_url {base_url!r} has no scheme; write http://{base_url} (or https:// for a remote server)"
    url = urlparse(base_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        return f"base_url {base_url!r} is not an http(s) URL; write it like http://127.0.0.1:8000/v1"
    try:
        _ = url.port  # urlparse checks the port only when it is read
    except ValueError:
        port = url.netloc.rsplit(":", 1)[-1]
        return f"base_url {base_url!r}: {port} is not a port (ports are 1-65535); fix the port in base_url"
    return None


def check_endpoint_reachable(spec: ModelSpec, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """A TCP connection to the model's ``base_url`` opens, or ConfigurationError naming model, URL and fix."""
    if not spec.base_url:
        return
    problem = base_url_problem(spec.base_url)
    if problem:
        raise ConfigurationError(f"model {spec.id}: {problem} (in the study file or catalog)")
    url = urlparse(spec.base_url)
    assert url.hostname is not None  # base_url_problem checked it
    if _goes_through_proxy(url.scheme, url.hostname):
        return
    port = url.port or (443 if url.scheme == "https" else 80)
    where = f"model {spec.id}: cannot connect to {spec.base_url}"
    try:
        socket.create_connection((url.hostname, port), timeout=timeout).close()
    except socket.gaierror:
        raise ConfigurationError(f"{where} (host {url.hostname!r} not found); check the host name in base_url "
                                 "or your network") from None
    except ConnectionRefusedError:
        raise ConfigurationError(f"{where} (connection refused: nothing listens on port {port}); start the "
                                 "server, or fix base_url in the study file or catalog") from None
    except OSError as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise ConfigurationError(f"{where} ({reason}); check that the server is up and reachable, or fix "
                                 "base_url") from None


def check_endpoints_reachable(specs: list[ModelSpec]) -> None:
    for spec in specs:
        check_endpoint_reachable(spec)


class _InProcess(Protocol):
    engine: object  # a property: reading it loads the model once, and the backend keeps it for the run


def _loads_in_process(backend: Backend) -> TypeGuard[_InProcess]:
    # the class is asked, not the instance: asking the instance would load the model
    return bool(getattr(backend, "in_process", False)) and hasattr(type(backend), "engine")


def load_local_models(backends: dict[str, Backend]) -> None:
    """Load in-process models now: a file that does not load ends the run before planning, in one line."""
    for model, backend in backends.items():
        if not _loads_in_process(backend):
            continue
        try:
            _ = backend.engine  # loads the model now
        except ConfigurationError:
            raise
        except Exception as exc:  # llama.cpp reports a bad file as ValueError/RuntimeError with its own text
            first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigurationError(f"model {model}: its model file could not be loaded ({first_line}); the file "
                                     "is corrupt or not a GGUF model: download it again or point api_model at a "
                                     "valid .gguf file") from None
