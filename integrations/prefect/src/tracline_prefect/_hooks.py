"""tracline's state hooks on Prefect flows and tasks: capture and events, and the approved
task's time limit and settlement.

Prefect calls a task's ``on_running`` hooks in the task's own thread once the task run is
Running, just before the task's function, and its ``on_completion``/``on_failure`` hooks
right after the run's final state is set. Between the two, tracline's in-process capture
observes the files the process (and the processes it starts) read and write. A flow's hooks
report the flow run itself, the parent of its task runs.

In-process capture sees the whole process, so it observes one task at a time: a task that
starts while another task of the same flow process is being captured (tasks submitted to a
thread pool together) is reported without files, and its events say why. Tasks that run one
after another — the usual flow, or tasks submitted to a process pool — are each captured.

Everything here is fail-soft (a failure is logged once per kind and the flow goes on), except
what the approval requires: the time limit and the settlement of the request.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, TypeVar

import attrs

from tracline.config import Config, get_config
from tracline.failsoft import FailSoft, ignoring
from tracline.gating import Claim, Outcome
from tracline_prefect import _events, compat
from tracline_prefect._limit import TreeLimit

__all__ = ["FlowHooks", "TaskHooks", "capture_config", "gated_task", "is_traced"]

log = logging.getLogger(__name__)
T = TypeVar("T", bound="compat.Task[Any, Any]")
_CONCURRENT = ("ran while another task of this flow process was being captured: in-process "
               "capture observes one task at a time, so its files are not recorded (run such "
               "tasks one after another, or on a process-pool task runner)")


_soft = FailSoft(log, "the flow")
#: Never let lineage break the flow: log a failure once per kind, and go on.
_safe = _soft
_config = _soft.config


def capture_config(config: Config) -> Config:
    """tracline's config, with Prefect's home and result storage never taken for data."""
    return ignoring(config, compat.prefect_paths())


@attrs.define
class _Open:
    """A task run being observed."""

    run_id: str
    job: str
    config: Config
    started: float
    capture_cm: Any = None
    capture: Any = None
    limit: TreeLimit | None = None
    parent: Any = None


_lock = threading.Lock()
_open: dict[str, _Open] = {}
_capturing: list[str] = []


def _failed_message(state: compat.State) -> str:
    return state.message or f"the task run ended {state.name}"


class TaskHooks:
    """The hooks tracline adds to a task: one object for ``on_running``, ``on_completion``
    and ``on_failure``; with a claim, the approved run's limit and settlement too."""

    __name__ = "tracline"

    def __init__(self, claim: Claim | None = None, config: Config | None = None) -> None:
        self.claim = claim
        self.config = config

    def __call__(self, task: compat.Task[Any, Any], task_run: compat.TaskRun,
                 state: compat.State) -> None:
        if state.is_running():
            self.started(task, task_run)
        elif state.is_final():
            self.ended(task, task_run, state)

    def retry(self, task: compat.Task[Any, Any], task_run: compat.TaskRun,
              state: compat.State) -> bool:
        """An approved task that ran over its time is not retried: the approval is spent."""
        entry = _open.get(str(task_run.id))
        return not (state.name == "TimedOut" or (entry and entry.limit and entry.limit.fired))

    # -- start -------------------------------------------------------------------------------------

    def started(self, task: compat.Task[Any, Any], task_run: compat.TaskRun) -> None:
        run_id = str(task_run.id)
        if run_id in _open:
            return  # a retry of the same task run: one OpenLineage run spans its tries
        config = _config()
        if config is None and self.claim is None:
            return
        config = config or get_config()
        where = compat.current_flow_run()
        job = (_events.task_job(where[0].name, task.name) if where else task.name)
        entry = _Open(run_id, job, config, time.monotonic())
        with _lock:
            _open[run_id] = entry
        if self.claim is not None:
            entry.limit = TreeLimit(self.claim, job, compat.run_logger(log)).start()
        self._start_event(entry, where)
        self._start_capture(entry, task)

    @_safe
    def _start_event(self, entry: _Open,
                     where: tuple[compat.Flow[Any, Any], compat.FlowRun] | None) -> None:
        facets: dict[str, Any] = {}
        if self.claim is not None:
            facets["tracline_approval"] = _approval_facet(entry.config, self.claim)
        parent = (_events.flow_parent(entry.config, str(where[1].id), where[0].name)
                  if where else None)
        entry.parent = parent
        _events.emit_run("START", config=entry.config, run_id=entry.run_id, job=entry.job,
                         job_type=_events.TASK, parent=parent, run_facets=facets)

    @_safe
    def _start_capture(self, entry: _Open, task: compat.Task[Any, Any]) -> None:
        from tracline.capture import capture_in_process

        with _lock:
            if _capturing:
                log.warning("tracline: %s %s", entry.job, _CONCURRENT)
                return
            _capturing.append(entry.run_id)
        claim = self.claim
        # the task's own recipe: its function (module, qualified name, source digest)
        cm = capture_in_process(job=entry.job, run_id=entry.run_id, function=task.fn,
                                gpus=claim.gpu_count if claim else None,
                                gpu_model=claim.gpu_model if claim else None,
                                config=capture_config(entry.config), emit=False)
        try:
            entry.capture = cm.__enter__()
            entry.capture_cm = cm
        except BaseException:
            with _lock:
                _capturing.remove(entry.run_id)
            raise

    # -- end ---------------------------------------------------------------------------------------

    def ended(self, task: compat.Task[Any, Any], task_run: compat.TaskRun,
              state: compat.State) -> None:
        with _lock:
            entry = _open.pop(str(task_run.id), None)
        if entry is None:
            return
        over = entry.limit.finish(over_time=state.name == "TimedOut") if entry.limit else False
        error = None if state.is_completed() else _failed_message(state)
        if over and self.claim is not None:
            error = self.claim.overrun_reason(entry.job)
            compat.run_logger(log).error("tracline: %s", error)
        record = self._stop_capture(entry, error)
        outcome = None
        if self.claim is not None:
            outcome = self._settle(entry, state, record, error, over)
        self._end_event(entry, state, record, error)
        if self.claim is not None and outcome is not None:
            _publish_receipt(self.claim, entry, record, outcome)

    def _stop_capture(self, entry: _Open, error: str | None) -> Any:
        cm, entry.capture_cm = entry.capture_cm, None
        if cm is None:
            return None
        try:
            failure = None if error is None else RuntimeError(error)
            try:
                if failure is None:
                    cm.__exit__(None, None, None)
                else:
                    cm.__exit__(RuntimeError, failure, None)
            except Exception as e:  # noqa: BLE001 - lineage never breaks the flow
                log.warning("tracline: capture of %s failed to finish: %s", entry.job, e)
                return None
            return entry.capture.record
        finally:
            with _lock:
                if entry.run_id in _capturing:
                    _capturing.remove(entry.run_id)

    def _settle(self, entry: _Open, state: compat.State, record: Any, error: str | None,
                over: bool) -> tuple[str, Any]:
        """Complete or fail the request with the task's cost (never fail-soft: the request
        must not stay claimed because lineage had a problem)."""
        assert self.claim is not None
        from tracline_prefect._settle import settle

        succeeded = state.is_completed() and not over
        if record is not None:
            outcome = Outcome.of_record(record, over_time=over)
            if not succeeded:
                outcome = attrs.evolve(outcome, succeeded=False, error=error)
        else:
            outcome = Outcome(succeeded=succeeded, error=error, over_time=over,
                              wall_seconds=round(time.monotonic() - entry.started, 3))
        return settle(self.claim, outcome, entry.run_id, entry.job, self.config)

    @_safe
    def _end_event(self, entry: _Open, state: compat.State, record: Any,
                   error: str | None) -> None:
        final = "COMPLETE" if state.is_completed() and error is None else "FAIL"
        _events.emit_run(final, config=entry.config, run_id=entry.run_id, job=entry.job,
                         job_type=_events.TASK, parent=entry.parent, record=record,
                         error=error)


def _approval_facet(config: Config, claim: Claim) -> Any:
    from tracline.approvals import open_requests

    requests = open_requests(config)
    try:
        return requests.approval_facet(claim.request_id)
    finally:
        requests.close()


@_safe
def _publish_receipt(claim: Claim, entry: _Open, record: Any, outcome: tuple[str, Any]) -> None:
    from tracline_prefect import _artifacts

    words, settlement = outcome
    _artifacts.publish_receipt(settlement.request if settlement else None, claim,
                               task=entry.job, record=record, outcome=words,
                               note=settlement.note if settlement else None)


class FlowHooks:
    """The hooks tracline adds to a flow: its run's START (RUNNING when it resumes or
    retries) and its end."""

    __name__ = "tracline"

    def __call__(self, flow: compat.Flow[Any, Any], flow_run: compat.FlowRun,
                 state: compat.State) -> None:
        self.report(flow, flow_run, state)

    @_safe
    def report(self, flow: compat.Flow[Any, Any], flow_run: compat.FlowRun,
               state: compat.State) -> None:
        config = _config()
        if config is None:
            return
        if state.is_running():
            # the run as it was before this Running state: never started → its START
            first = flow_run.run_count == 0 and flow_run.start_time is None
            kind = "START" if first else "RUNNING"
            error = None
        elif state.is_completed():
            kind, error = "COMPLETE", None
        elif state.is_cancelling() or state.is_cancelled():
            kind, error = "ABORT", state.message or "the flow run was cancelled"
        else:
            kind, error = "FAIL", _failed_message(state)
        _events.emit_run(kind, config=config, run_id=str(flow_run.id), job=flow.name,
                         job_type=_events.FLOW, parent=_subflow_parent(config, flow_run),
                         error=error)


def _subflow_parent(config: Config, flow_run: compat.FlowRun) -> Any:
    if flow_run.parent_task_run_id is None:
        return None
    parent_id = compat.task_run_flow_id(flow_run.parent_task_run_id)
    if parent_id is None:
        return None
    parent = compat.read_flow_run(parent_id)
    return _events.flow_parent(config, str(parent_id), compat.flow_name(parent))


TASK_HOOKS = TaskHooks()
FLOW_HOOKS = FlowHooks()


def is_traced(obj: Any) -> bool:
    """True when tracline's hooks are already on this flow or task."""
    return any(isinstance(h, TaskHooks | FlowHooks) for h in getattr(obj, "on_running_hooks", ()))


def _without_ours(hooks: list[Any]) -> list[Any]:
    return [h for h in hooks if not isinstance(h, TaskHooks | FlowHooks)]


def traced_task(task: T, hooks: TaskHooks = TASK_HOOKS, **options: Any) -> T:
    """``task`` with tracline's hooks (replacing any it had), and ``options``."""
    return task.with_options(  # type: ignore[return-value]
        on_running=[hooks, *_without_ours(task.on_running_hooks)],
        on_completion=[*_without_ours(task.on_completion_hooks), hooks],
        on_failure=[*_without_ours(task.on_failure_hooks), hooks],
        **options)


def traced_flow(flow: compat.Flow[Any, Any]) -> compat.Flow[Any, Any]:
    """``flow`` with tracline's hooks."""
    ours = FLOW_HOOKS
    return flow.with_options(
        on_running=[ours, *_without_ours(flow.on_running_hooks)],
        on_completion=[*_without_ours(flow.on_completion_hooks), ours],
        on_failure=[*_without_ours(flow.on_failure_hooks), ours],
        on_crashed=[*_without_ours(flow.on_crashed_hooks), ours],
        on_cancellation=[*_without_ours(flow.on_cancellation_hooks), ours])


def gated_task(task: T, claim: Claim, config: Config | None = None) -> T:
    """``task`` under ``claim``: captured with the approval, timed out at the approved time
    limit (Prefect's timeout for its code, tracline's for its process tree), never retried
    past it, and settled against the request when it ends."""
    hooks = TaskHooks(claim, config)
    user_condition = task.retry_condition_fn

    def retry_condition(t: Any, run: Any, state: Any) -> bool:
        if not hooks.retry(t, run, state):
            return False
        return bool(user_condition(t, run, state)) if user_condition else True

    return traced_task(task, hooks, timeout_seconds=claim.time_limit_seconds,
                       retry_condition_fn=retry_condition)
