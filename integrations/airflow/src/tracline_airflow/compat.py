"""Every Airflow- and provider-version difference tracline-airflow depends on, in one place.

The rest of the package imports Airflow only through this module, so supporting another
Airflow release means changing this file alone (anchor: the OpenLineage provider's
``version_compat.py``). Supported: Airflow 3.3 with apache-airflow-providers-openlineage 2.x.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import airflow
from airflow.exceptions import AirflowClusterPolicyViolation
from airflow.listeners import hookimpl
from airflow.sdk import BaseOperator, XComArg, task
from airflow.sdk.configuration import conf
from airflow.sdk.definitions.retry_policy import RetryDecision, RetryPolicy
from airflow.sdk.exceptions import AirflowFailException, AirflowTaskTimeout
from airflow.sdk.plugins_manager import AirflowPlugin
from airflow.triggers.base import BaseTrigger, TriggerEvent

__all__ = [
    "AIRFLOW_VERSION",
    "AirflowClusterPolicyViolation",
    "AirflowFailException",
    "AirflowPlugin",
    "AirflowTaskTimeout",
    "BaseOperator",
    "BaseTrigger",
    "TriggerEvent",
    "XComArg",
    "add_pre_execute_hook",
    "airflow_config",
    "airflow_home",
    "conf",
    "engine",
    "fail_on",
    "failed_for_good",
    "hookimpl",
    "is_runtime_task_instance",
    "ol_dag_run_id",
    "ol_task_run_id",
    "openlineage_active",
    "task",
]

AIRFLOW_VERSION = tuple(int(part) for part in re.findall(r"\d+", airflow.__version__)[:2])
if AIRFLOW_VERSION < (3, 3):  # pragma: no cover - the environment pins 3.3
    raise ImportError(f"tracline-airflow needs Airflow 3.3 or later, found {airflow.__version__}")


def engine() -> tuple[str, str]:
    """(name, version) of the orchestrator, as the ``processing_engine`` facet names it."""
    return "Airflow", airflow.__version__


def airflow_home() -> str:
    """AIRFLOW_HOME of this process (its database and logs are never a task's data)."""
    from airflow.configuration import AIRFLOW_HOME

    return str(AIRFLOW_HOME)


def is_runtime_task_instance(task_instance: Any) -> bool:
    """True for the task instance of a task running in this process (not an API-side model)."""
    from airflow.sdk.execution_time.task_runner import RuntimeTaskInstance

    return isinstance(task_instance, RuntimeTaskInstance)


def failed_for_good(task_instance: Any) -> bool:
    """True when a failed try is final (``failed``), False when it will be retried.

    The task SDK's state enum does not print as its value, so compare the value itself.
    """
    state = getattr(task_instance, "state", None)
    return str(getattr(state, "value", state)) == "failed"


def airflow_config(section: str, key: str) -> str | None:
    """One option of airflow.cfg / ``AIRFLOW__SECTION__KEY``, or None when unset."""
    value = conf.get(section, key, fallback=None)
    return None if value is None or str(value).strip() == "" else str(value)


# -- the OpenLineage provider ------------------------------------------------------------------


def openlineage_active() -> bool:
    """True when Airflow's OpenLineage provider is installed and not disabled."""
    try:
        from airflow.providers.openlineage import conf as ol_conf
    except ImportError:
        return False
    return not ol_conf.is_disabled()


def ol_task_run_id(task_instance: Any) -> str:
    """The run id the OpenLineage provider gives this task try (deterministic, a UUIDv7).

    The provider's ``lineage_run_id`` macro computes it from dag id, task id, try number,
    logical date (or run_after) and map index: the same value its listener puts on the
    START/COMPLETE/FAIL events of the try.
    """
    from airflow.providers.openlineage.plugins.macros import lineage_run_id

    return str(lineage_run_id(task_instance))


def ol_dag_run_id(task_instance: Any) -> str:
    """The run id the OpenLineage provider gives the DAG run of ``task_instance``."""
    from airflow.providers.openlineage.plugins.macros import lineage_root_run_id

    return str(lineage_root_run_id(task_instance))


# -- operators ---------------------------------------------------------------------------------


def add_pre_execute_hook(operator: Any, hook: Callable[[Any], None]) -> None:
    """Run ``hook(context)`` before ``operator`` executes, after any hook it already has."""
    previous = getattr(operator, "_pre_execute_hook", None)
    if previous is None:
        operator._pre_execute_hook = hook
        return

    def chained(context: Any) -> None:
        previous(context)
        hook(context)

    operator._pre_execute_hook = chained


class _FailOn(RetryPolicy):
    """Fail for good on one exception type; leave other failures to the previous policy."""

    def __init__(self, kind: type[BaseException], reason: Callable[[], str],
                 previous: RetryPolicy | None) -> None:
        self.kind = kind
        self.reason = reason
        self.previous = previous

    def evaluate(self, exception: BaseException, try_number: int, max_tries: int,
                 context: Any = None) -> RetryDecision:
        if isinstance(exception, self.kind):
            return RetryDecision.fail(self.reason())
        if self.previous is not None:
            return self.previous.evaluate(exception, try_number, max_tries, context)
        return RetryDecision.default()


def fail_on(operator: Any, exception: type[BaseException], reason: Callable[[], str]) -> None:
    """Fail ``operator`` for good (no retry) when it raises ``exception`` in this process.

    Uses Airflow 3.3's ``retry_policy``; an existing policy still decides other failures.
    Set at run time in the task process only, so DAG serialization never sees it.
    """
    operator.retry_policy = _FailOn(exception, reason, getattr(operator, "retry_policy", None))
