"""What tracline learned about the task tries running in this process, keyed by the run id
Airflow's OpenLineage provider gives each try.

The listener fills an entry (approval when the try starts; files, execution and GPU cost when
it ends) *before* the provider's own listener builds its event, and the transport reads it when
that event passes through, in this process or in the provider's fork of it.
"""

from __future__ import annotations

import threading
from typing import Any

import attrs

__all__ = ["TaskRun", "current", "drop", "get", "register"]


@attrs.define
class TaskRun:
    """One task try as tracline sees it."""

    run_id: str
    dag_id: str
    task_id: str
    #: The gate's XCom (request id, approved GPU-hours, time limit), for a gated task.
    approval: dict[str, Any] | None = None
    #: tracline run facets (openlineage-python objects) to put on the provider's events.
    run_facets: dict[str, Any] = attrs.field(factory=dict)
    #: Files the try read and wrote (``tracline.capture.FileRecord``), once it ended.
    inputs: list[Any] = attrs.field(factory=list)
    outputs: list[Any] = attrs.field(factory=list)
    #: What the capture measured: the GPU cost facet and the wall time (None: no capture).
    gpu_cost: Any = None
    wall_seconds: float | None = None
    #: Replaces the provider's error message (the approved time limit ran out).
    error_message: str | None = None
    #: A gated try's :class:`tracline.gating.TimeCap` (what to stop past the approved time).
    cap: Any = None
    #: The open in-process capture (a context manager) and what it yields.
    capture_cm: Any = None
    capture: Any = None
    ended: bool = False


_lock = threading.Lock()
_runs: dict[str, TaskRun] = {}
_current: str | None = None


def register(run: TaskRun) -> None:
    """Make ``run`` the try running in this process."""
    global _current  # noqa: PLW0603
    with _lock:
        _runs[run.run_id] = run
        _current = run.run_id


def get(run_id: str) -> TaskRun | None:
    """The try with this OpenLineage run id, if it ran in this process."""
    with _lock:
        return _runs.get(run_id)


def current() -> TaskRun | None:
    """The try running in this process (the last one registered and not dropped)."""
    with _lock:
        return _runs.get(_current) if _current else None


def drop(run_id: str) -> None:
    """Forget a try once its last event has been emitted."""
    global _current  # noqa: PLW0603
    with _lock:
        _runs.pop(run_id, None)
        if _current == run_id:
            _current = None
