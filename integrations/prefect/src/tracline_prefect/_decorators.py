"""Turning tracline on for flows and tasks: Prefect's own decorators, with tracline's hooks.

    from tracline_prefect import flow, task      # instead of: from prefect import flow, task

    @task
    def featurize(...): ...                      # captured: files, recipe, cost, events

    @flow
    def train_pipeline(...): ...                 # the flow run: the parent of its task runs

``flow`` and ``task`` take exactly Prefect's arguments (hooks you give are kept, tracline's
are added); ``traced(obj)`` adds tracline's hooks to a flow or task defined elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import prefect

from tracline.errors import ValidationError
from tracline_prefect import compat
from tracline_prefect._hooks import FLOW_HOOKS, TASK_HOOKS, is_traced, traced_flow, traced_task

__all__ = ["flow", "task", "traced"]

_TASK_HOOKS = ("on_completion", "on_failure")
_FLOW_HOOKS = ("on_completion", "on_failure", "on_crashed", "on_cancellation")


def _with_hooks(options: dict[str, Any], ours: Any, ends: tuple[str, ...]) -> dict[str, Any]:
    options = dict(options)
    options["on_running"] = [ours, *(options.get("on_running") or [])]
    for name in ends:
        options[name] = [*(options.get(name) or []), ours]
    return options


def task(__fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Prefect's ``@task``, with tracline's capture on every run of the task."""
    options = _with_hooks(options, TASK_HOOKS, _TASK_HOOKS)
    if __fn is None:
        return prefect.task(**options)
    return prefect.task(__fn, **options)


def flow(__fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Prefect's ``@flow``, with the flow run reported as the parent of its task runs."""
    options = _with_hooks(options, FLOW_HOOKS, _FLOW_HOOKS)
    if __fn is None:
        return prefect.flow(**options)
    return prefect.flow(__fn, **options)


def traced(obj: Any) -> Any:
    """A copy of a Prefect flow or task with tracline's hooks (itself if it has them)."""
    if is_traced(obj):
        return obj
    if isinstance(obj, compat.Flow):
        return traced_flow(obj)
    if isinstance(obj, compat.Task):
        return traced_task(obj)
    raise ValidationError("traced", f"expected a Prefect flow or task, got {type(obj).__name__}",
                          hint="decorate with @flow or @task first, or use tracline_prefect's "
                               "flow and task decorators")
