"""Everything tracline takes from Prefect, in one place (Prefect 3.9).

The rest of the package reaches Prefect's run contexts, suspension, artifacts and client only
through these names, so that a change of Prefect's API is a change here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from uuid import UUID

import prefect
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, State, StateType, TaskRun
from prefect.context import FlowRunContext, TaskRunContext
from prefect.flow_runs import suspend_flow_run
from prefect.flows import Flow
from prefect.tasks import Task

__all__ = [
    "PREFECT_VERSION",
    "Flow",
    "FlowRun",
    "State",
    "Task",
    "TaskRun",
    "client",
    "current_flow_run",
    "flow_name",
    "flow_parameters",
    "in_task_run",
    "paused_flow_runs",
    "prefect_paths",
    "publish_markdown",
    "read_flow_run",
    "resume",
    "run_logger",
    "set_labels",
    "suspend",
    "task_run_flow_id",
]

PREFECT_VERSION = prefect.__version__
#: A hook as Prefect calls it: (task or flow, its run, the state entered).
Hook = Callable[[Any, Any, State], None]


def current_flow_run() -> tuple[Flow[Any, Any], FlowRun] | None:
    """The flow and flow run this code runs in (None outside a flow run)."""
    context = FlowRunContext.get()
    if context is None or context.flow is None or context.flow_run is None:
        return None
    return context.flow, context.flow_run


def flow_parameters(flow: Flow[Any, Any], flow_run: FlowRun) -> dict[str, Any]:
    """The flow run's parameters, the flow's defaults included."""
    from prefect.utilities.callables import get_parameter_defaults

    context = FlowRunContext.get()
    given = (context.parameters if context is not None and context.parameters is not None
             else flow_run.parameters) or {}
    return {**get_parameter_defaults(flow.fn), **given}


def run_logger(fallback: logging.Logger) -> logging.Logger | logging.LoggerAdapter[Any]:
    """The current flow or task run's logger (its lines appear in Prefect's UI), else
    ``fallback``."""
    from prefect.exceptions import MissingContextError
    from prefect.logging import get_run_logger

    try:
        return get_run_logger()
    except MissingContextError:
        return fallback


def in_task_run() -> bool:
    """True inside a task run (where a flow cannot be suspended)."""
    return TaskRunContext.get() is not None


def suspend(key: str, timeout: int | None) -> None:
    """Suspend the current flow run: its process exits, its worker slot is freed; the run
    starts again from the top once resumed (raises Prefect's Pause signal)."""
    suspend_flow_run(key=key, timeout=timeout)


def set_labels(flow_run_id: UUID, labels: dict[str, str]) -> None:
    """Add labels to a flow run (the watcher finds gated runs by them)."""
    with get_client(sync_client=True) as client:
        client.update_flow_run_labels(flow_run_id, labels)  # type: ignore[arg-type]


def read_flow_run(flow_run_id: UUID | str) -> FlowRun:
    """A flow run as the API has it now."""
    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(str(flow_run_id)))


def task_run_flow_id(task_run_id: UUID) -> UUID | None:
    """The flow run a task run belongs to (a subflow's parent), or None."""
    with get_client(sync_client=True) as client:
        return client.read_task_run(task_run_id).flow_run_id


def client() -> Any:
    """A synchronous client of Prefect's API (a context manager), for a long-lived caller."""
    return get_client(sync_client=True)


def paused_flow_runs(api: Any, limit: int = 200) -> list[FlowRun]:
    """Flow runs that are paused or suspended now."""
    states = FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.PAUSED]))
    runs: list[FlowRun] = api.read_flow_runs(flow_run_filter=FlowRunFilter(state=states),
                                             limit=limit)
    return runs


def resume(api: Any, flow_run_id: UUID) -> str:
    """Resume a suspended flow run; returns the API's answer (``ACCEPT`` when resumed)."""
    result = api.resume_flow_run(flow_run_id)
    return str(getattr(result.status, "value", result.status))


def publish_markdown(markdown: str, key: str, description: str) -> None:
    """A markdown artifact on the current flow run (and task run, inside one)."""
    create_markdown_artifact(markdown=markdown, key=key, description=description)


def prefect_paths() -> list[str]:
    """Where Prefect keeps its own files (home, persisted results): never a task's data."""
    from prefect.settings import get_current_settings

    settings = get_current_settings()
    return sorted({str(settings.home), str(settings.results.local_storage_path)})


def flow_name(flow_run: FlowRun) -> str:
    """The name of a flow run's flow."""
    with get_client(sync_client=True) as client:
        return str(client.read_flow(flow_run.flow_id).name)
