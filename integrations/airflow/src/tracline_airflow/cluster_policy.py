"""Gate enforcement: a cluster policy (entry point ``airflow.policy``) that refuses any DAG in
which an expensive task has no approval gate upstream, naming the task and the fix.

What is expensive comes from configuration (:mod:`tracline_airflow.settings`): a pool in
``gated_pools``; GPUs asked for in ``executor_config`` or ``resources`` (``gpu_resources``);
an operator class in ``gated_operators``; or, in a DAG tagged with one of ``gated_tags``,
every task that is not a gate and runs after the DAG's gates (tasks upstream of a gate
prepare its inputs and are free). The policy also wires the approval check into tasks
placed directly after a gate by hand (``approve >> train``), as :func:`gate` does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

# Airflow loads this module while it initialises itself: only the hook marker is imported
# here, everything else when a DAG is checked.
from airflow.policies import hookimpl

if TYPE_CHECKING:
    from tracline_airflow.settings import AirflowSettings

__all__ = ["dag_policy", "expensive", "gpu_request"]

_GPU_KEY = re.compile(r"(^|[./_-])(gpu|gpus)$", re.IGNORECASE)
_MAX_DEPTH = 12


def _walk(value: Any, depth: int = 0) -> Iterator[tuple[str, Any]]:
    """(key, value) pairs anywhere inside ``value`` (dicts, lists, Kubernetes models)."""
    if depth > _MAX_DEPTH:
        return
    if hasattr(value, "to_dict") and callable(value.to_dict):
        try:
            value = value.to_dict()
        except Exception:  # noqa: BLE001 - an odd object is simply not a GPU request
            return
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
            yield from _walk(item, depth + 1)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _walk(item, depth + 1)


def _count(value: Any) -> float:
    try:
        return float(str(value).strip())
    except ValueError:
        return 0.0


def gpu_request(task: Any) -> str | None:
    """Where ``task`` asks for GPUs (``resources.gpus`` or a GPU key in executor_config)."""
    resources = getattr(task, "resources", None)
    gpus = getattr(getattr(resources, "gpus", None), "qty", 0) if resources is not None else 0
    if _count(gpus) > 0:
        return f"resources ask for {gpus} GPU(s)"
    for key, value in _walk(getattr(task, "executor_config", None) or {}):
        if _GPU_KEY.search(key) and not isinstance(value, dict | list) and _count(value) > 0:
            return f"executor_config asks for {value} GPU(s) ({key})"
    return None


def _operator_names(task: Any) -> set[str]:
    names = {task.task_type}
    for cls in type(task).__mro__:
        names |= {cls.__name__, f"{cls.__module__}.{cls.__qualname__}"}
    return names


def expensive(task: Any, settings: AirflowSettings, tags: set[str]) -> str | None:
    """Why ``task`` needs an approval gate, or None when it does not."""
    from tracline_airflow.approval_gate import TraclineApprovalGate

    if isinstance(task, TraclineApprovalGate):
        return None
    if task.pool in settings.gated_pools:
        return f"it runs in gated pool {task.pool!r}"
    if settings.gpu_resources and (why := gpu_request(task)):
        return f"its {why}"
    if matched := _operator_names(task) & settings.gated_operators:
        return f"its operator {sorted(matched)[0]} is gated"
    if tags and not any(isinstance(d, TraclineApprovalGate)
                        for d in task.get_flat_relatives(upstream=False)):
        return f"its DAG is tagged {', '.join(sorted(tags))}"
    return None


def _has_gate_upstream(task: Any) -> bool:
    from tracline_airflow.approval_gate import TraclineApprovalGate

    return any(isinstance(u, TraclineApprovalGate) for u in task.get_flat_relatives(upstream=True))


@hookimpl
def dag_policy(dag: Any) -> None:
    """Refuse ``dag`` if an expensive task has no approval gate upstream."""
    from tracline.errors import ConfigError
    from tracline_airflow import compat
    from tracline_airflow.approval_gate import cap_gated
    from tracline_airflow.settings import load_settings

    for task in dag.tasks:
        cap_gated(task)
    try:
        settings = load_settings()
    except ConfigError as e:
        raise compat.AirflowClusterPolicyViolation(
            f"DAG {dag.dag_id!r} cannot be checked for approval gates: {e}") from e
    if not settings.enforce:
        return
    tags = set(dag.tags or ()) & settings.gated_tags
    ungated = [(task.task_id, why) for task in dag.tasks
               if (why := expensive(task, settings, tags)) and not _has_gate_upstream(task)]
    if not ungated:
        return
    lines = "; ".join(f"task {task_id!r}: {why}" for task_id, why in ungated)
    first = ungated[0][0]
    raise compat.AirflowClusterPolicyViolation(
        f"DAG {dag.dag_id!r} runs expensive work without an approval gate — {lines}. "
        f"Put a tracline approval gate in front of each: `gate({first}, request={{...}})` "
        "(from tracline_airflow import gate), or decorate the task with "
        "@tracline_gated(request={...}). Gated by configuration: "
        f"{settings.describe()} (set in the tracline section of airflow.cfg, "
        "AIRFLOW__TRACLINE__*, or the airflow table of tracline.toml)."
    )
