"""A fake OpenLineage transport that records events, for unit tests."""

from __future__ import annotations

from typing import Any

from openlineage.client.transport import Transport
from openlineage.client.transport.transport import Config

from tracline.events import to_dict

__all__ = ["RecordingTransport"]


class RecordingTransport(Transport):
    """Keeps every emitted event, as the dict a real transport would send."""

    kind = "tracline-recording"
    config_class = Config

    def __init__(self, config: Config | None = None) -> None:
        self.events: list[dict[str, Any]] = []

    def emit(self, event: Any) -> None:
        self.events.append(to_dict(event))

    def of_run(self, run_id: str) -> list[dict[str, Any]]:
        return [e for e in self.events if (e.get("run") or {}).get("runId") == run_id]

    def clear(self) -> None:
        self.events.clear()
