"""Run capture in the task process, on the run Airflow's OpenLineage provider reports.

Two listener objects bracket the provider's own listener (pluggy orders hook implementations
by ``tryfirst``/``trylast``), so tracline never emits a run of its own — one task try stays
one run:

* ``before`` (tryfirst) registers the try under the provider's run id for it, with the
  approval facet of a gated task, before the provider builds its START event; when the try
  ends it stops the capture and hashes what the task read and wrote, then settles the
  training request through :mod:`tracline.gating` (completed with the run's recorded cost,
  or failed), before the provider builds its COMPLETE/FAIL event;
* ``after`` (trylast) starts the in-process capture once the provider has forked off its START
  emission, and forgets the try once its last event is out (or the task deferred).

:class:`tracline_airflow.transport.TraclineTransport` merges the registered facets and files
into the provider's events. Everything here is fail-soft: a failure is logged once and the
task goes on. Settling a gated try's request is the gate's business, not lineage's: it
happens with capture turned off (``TRACLINE_DISABLED``) too, at an estimated cost.
"""

from __future__ import annotations

import logging
from typing import Any

from tracline.config import Config
from tracline.failsoft import FailSoft, ignoring
from tracline.gating import Claim, Gate, Outcome, TimeCap
from tracline_airflow import _runs, compat
from tracline_airflow._runs import TaskRun
from tracline_airflow.approval_gate import TraclineApprovalGate, gated_by, run_actor
from tracline_airflow.doctor import warn_if_lineage_is_off
from tracline_airflow.triggers import open_store

__all__ = ["after", "before"]

log = logging.getLogger(__name__)
_soft = FailSoft(log, "the task")
#: Never let lineage break the task: log a failure once per kind, and go on.
_safe = _soft
_config = _soft.config


def _capture_config(config: Config) -> Config:
    """tracline's config, with Airflow's home (its database, logs) never taken for data."""
    return ignoring(config, [compat.airflow_home()])


def _approval(task_instance: Any) -> dict[str, Any] | None:
    for gate_id in gated_by(task_instance.task):
        value = task_instance.xcom_pull(task_ids=gate_id)
        if isinstance(value, dict) and "request_id" in value:
            return value
    return None


def _approval_facet(request_id: str) -> Any:
    service = open_store(None)
    try:
        return service.approval_facet(request_id)
    finally:
        service.close()


# -- the try starts ----------------------------------------------------------------------------


@_safe
def register_try(task_instance: Any) -> None:
    """Register the try (and a gated task's approval) before the provider's START event."""
    if not compat.is_runtime_task_instance(task_instance):
        return
    lineage = _config() is not None
    approval = _approval(task_instance)
    if not lineage and approval is None:
        return
    if lineage:
        warn_if_lineage_is_off(task_instance)
    leftover = _runs.current()
    if leftover is not None:  # the previous try in this process deferred
        stop_capture(leftover, None)
        _runs.drop(leftover.run_id)
    run = TaskRun(run_id=compat.ol_task_run_id(task_instance), dag_id=task_instance.dag_id,
                  task_id=task_instance.task_id, approval=approval)
    if approval is not None and lineage:
        run.run_facets["tracline_approval"] = _approval_facet(approval["request_id"])
    _runs.register(run)


@_safe
def cap_try(task_instance: Any) -> None:
    """A gated try: note what runs before its work, to stop what the work starts if it
    outlives the approved time (Airflow's timeout stops only the task itself)."""
    run = _runs.current()
    if run is None or run.approval is None or isinstance(task_instance.task,
                                                         TraclineApprovalGate):
        return
    run.cap = TimeCap.begin(Claim.from_payload(run.approval))


@_safe
def start_capture(task_instance: Any) -> None:
    """Start observing the task's files (after the provider forked off its START event)."""
    from tracline.capture import capture_in_process

    config = _config()
    run = _runs.current()
    if config is None or run is None or isinstance(task_instance.task, TraclineApprovalGate):
        return
    approval = run.approval or {}
    # The task's own recipe: its callable (PythonOperator, @task) or its command (BashOperator).
    function = getattr(task_instance.task, "python_callable", None)
    command = getattr(task_instance.task, "bash_command", None) if function is None else None
    cm = capture_in_process(job=f"{run.dag_id}.{run.task_id}", run_id=run.run_id,
                            function=function if callable(function) else None,
                            command=command if isinstance(command, str) else None,
                            gpus=approval.get("gpu_count"), gpu_model=approval.get("gpu_model"),
                            config=_capture_config(config), emit=False)
    run.capture = cm.__enter__()
    run.capture_cm = cm


# -- the try ends --------------------------------------------------------------------------------


def stop_capture(run: TaskRun, error: BaseException | None) -> None:
    """End the capture: hash the files, fill in the execution and GPU-cost facets."""
    cm, run.capture_cm = run.capture_cm, None
    if cm is None:
        return
    if error is None:
        cm.__exit__(None, None, None)
    else:
        cm.__exit__(type(error), error, error.__traceback__)
    from tracline.events import gpu_cost_facet, record_facets

    record = run.capture.record
    run.inputs, run.outputs = list(record.inputs), list(record.outputs)
    run.run_facets.update(record_facets(record))
    run.gpu_cost = gpu_cost_facet(record.gpu) if record.gpu is not None else None
    run.wall_seconds = record.wall_seconds


def _settle(run: TaskRun, task_instance: Any, error: BaseException | None) -> None:
    """Settle the training request the try ran under (core's one settle path)."""
    claim = Claim.from_payload(run.approval)
    measured = {"gpu_cost": run.gpu_cost, "wall_seconds": run.wall_seconds}
    if error is None:
        outcome = Outcome(succeeded=True, **measured)
    elif isinstance(error, compat.AirflowTaskTimeout):
        run.error_message = claim.overrun_reason(run.task_id)
        outcome = Outcome(succeeded=False, error=run.error_message, over_time=True, **measured)
    else:
        reason = f"{run.task_id} failed: {type(error).__name__}: {error}"
        # A failure with retries left keeps the claim: the next try runs under it.
        final = compat.failed_for_good(task_instance)
        outcome = Outcome(succeeded=False, error=reason, final=final, **measured)
    gate = Gate(open_store(None), key=claim.run_id, actor=run_actor(task_instance))
    try:
        settled = gate.settle(claim, outcome)
    finally:
        gate.requests.close()
    if settled.note:
        log.warning("tracline: %s", settled.note)


@_safe
def end_try(task_instance: Any, error: BaseException | str | None) -> None:
    """Stop the capture and settle the request, before the provider's COMPLETE/FAIL event."""
    if not compat.is_runtime_task_instance(task_instance):
        return
    run = _runs.get(compat.ol_task_run_id(task_instance))
    if run is None or run.ended:
        return
    run.ended = True
    failure = RuntimeError(error) if isinstance(error, str) else error
    if isinstance(task_instance.task, TraclineApprovalGate) and failure is None:
        claimed = task_instance.xcom_pull(task_ids=task_instance.task_id)
        if isinstance(claimed, dict) and "request_id" in claimed:
            run.run_facets["tracline_approval"] = _approval_facet(claimed["request_id"])
    if isinstance(failure, compat.AirflowTaskTimeout) and run.cap is not None:
        stopped = run.cap.stop_children()
        if stopped:
            log.warning("tracline: %s ran past its approved time; stopped the %d process(es) "
                        "it started", run.task_id, len(stopped))
    try:
        stop_capture(run, failure)
    finally:
        if run.approval is not None:
            _settle(run, task_instance, failure)


@_safe
def forget_try(task_instance: Any) -> None:
    """Drop the try once the provider has emitted its last event."""
    if compat.is_runtime_task_instance(task_instance):
        _runs.drop(compat.ol_task_run_id(task_instance))


@_safe
def close_leftover() -> None:
    """The task runner stops (a deferred task leaves its try open): close the capture."""
    run = _runs.current()
    if run is not None:
        try:
            stop_capture(run, None)
        finally:
            _runs.drop(run.run_id)


class _Before:
    """tracline's hooks that must run before the OpenLineage provider's."""

    @compat.hookimpl(tryfirst=True)
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        register_try(task_instance)

    @compat.hookimpl(tryfirst=True)
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        end_try(task_instance, None)

    @compat.hookimpl(tryfirst=True)
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any,
                                error: BaseException | str | None) -> None:
        end_try(task_instance, error)

    @compat.hookimpl(tryfirst=True)
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        end_try(task_instance, None)


class _After:
    """tracline's hooks that must run after the OpenLineage provider's."""

    @compat.hookimpl(trylast=True)
    def on_task_instance_running(self, previous_state: Any, task_instance: Any) -> None:
        cap_try(task_instance)
        start_capture(task_instance)

    @compat.hookimpl(trylast=True)
    def on_task_instance_success(self, previous_state: Any, task_instance: Any) -> None:
        forget_try(task_instance)

    @compat.hookimpl(trylast=True)
    def on_task_instance_failed(self, previous_state: Any, task_instance: Any,
                                error: BaseException | str | None) -> None:
        forget_try(task_instance)

    @compat.hookimpl(trylast=True)
    def on_task_instance_skipped(self, previous_state: Any, task_instance: Any) -> None:
        forget_try(task_instance)

    @compat.hookimpl(trylast=True)
    def before_stopping(self, component: Any) -> None:
        close_leftover()


before = _Before()
after = _After()
