"""What probing a model and remembering its endpoint need from the store: the capability cache and the
endpoint settings. ``Store`` has these; so does ``pipeline._DeferredWrites``, which holds the writes back
until the study's modes are settled."""

from __future__ import annotations

from typing import Protocol


class SettingsStore(Protocol):
    def capability(self, model: str, capability: str) -> str | None: ...

    def set_capability(self, model: str, api_model: str | None, capability: str, value: str) -> None: ...

    def endpoint_settings(self, endpoint: str) -> dict[str, tuple[str, str | None]]: ...

    def set_endpoint_setting(self, endpoint: str, setting: str, value: str, note: str | None = None) -> None: ...
