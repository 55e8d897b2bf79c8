"""tracline for Prefect: an approval gate that holds no worker while it waits, and run capture
for flows and tasks (files read and written with content hashes, recipe, GPU cost, approval)
as OpenLineage events.

    from tracline_prefect import AT_RUN_TIME, ApprovalGate, flow, task

See ``docs/prefect.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prefect import flow, task

    from tracline_prefect._decorators import traced
    from tracline_prefect._gate import ApprovalGate
    from tracline_prefect._spec import AT_RUN_TIME
    from tracline_prefect._watcher import watch, watch_once

__all__ = [
    "AT_RUN_TIME",
    "ApprovalGate",
    "__version__",
    "flow",
    "task",
    "traced",
    "watch",
    "watch_once",
]

__version__ = "0.1.0"

_LAZY = {
    "AT_RUN_TIME": "tracline_prefect._spec",
    "ApprovalGate": "tracline_prefect._gate",
    "flow": "tracline_prefect._decorators",
    "task": "tracline_prefect._decorators",
    "traced": "tracline_prefect._decorators",
    "watch": "tracline_prefect._watcher",
    "watch_once": "tracline_prefect._watcher",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'tracline_prefect' has no attribute {name!r}")
