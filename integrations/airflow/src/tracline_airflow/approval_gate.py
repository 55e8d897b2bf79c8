"""The approval gate: no approved training request, no expensive run.

A :class:`TraclineApprovalGate` files a training request from its (templated) fields, or
attaches to an existing one, then defers to :class:`TraclineRequestTrigger` — the triggerer
polls the request store, no worker slot is held — until a reviewer approves or rejects it or
it expires. An approved request is claimed for this DAG run exactly once and the approval is
pushed as the gate's XCom. The gated task then runs under an execution timeout derived from
the approved GPU-hours; running past it fails the task for good, recorded against the
request. Rejection or expiry fails the gate with the reviewer's reason. The gate fails closed:
any doubt (store unreachable, approval voided, claimed elsewhere) keeps the task from running.

    approve = gate(train, request={...})          # one line in front of an existing task

    @tracline_gated(request={...})                # or a TaskFlow decorator
    @task
    def train(path: str) -> str: ...
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from tracline.approvals import RequestSpec, TrainingRequest
from tracline.errors import NotFound, TraclineError, ValidationError
from tracline.gating import Claim, Gate, GateClosed, RunActor, Verdict
from tracline_airflow import compat
from tracline_airflow._spec import check_at_parse
from tracline_airflow.settings import load_settings
from tracline_airflow.triggers import TraclineRequestTrigger, open_store

__all__ = ["TraclineApprovalGate", "gate", "gated_by", "run_actor", "tracline_gated"]

log = logging.getLogger(__name__)

#: Marks an operator whose pre-execute hook already applies its gate's approval.
_CAPPED = "_tracline_budget_cap"


def run_actor(task_instance: Any) -> RunActor:
    """The task try as the actor of what it does to a request (``run:airflow/<run id>``)."""
    ti = task_instance
    step = f"{ti.dag_id}.{ti.task_id} {ti.run_id} try {ti.try_number}"
    if getattr(ti, "map_index", -1) not in (-1, None):
        step += f" map {ti.map_index}"
    return RunActor("airflow", compat.ol_task_run_id(ti), step)


class TraclineApprovalGate(compat.BaseOperator):
    """Wait, without a worker slot, until a human approves the training request.

    :param request: the training request to file, as a mapping of
        :class:`tracline.approvals.RequestSpec` fields (templated), or a ``RequestSpec``.
    :param request_id: attach to this already-filed request instead (templated; when it
        renders empty the gate files ``request``).
    :param poll_interval: seconds between the trigger's looks at the store (default
        ``[tracline] poll_interval``, 1 s).
    :param store_url: the request store (default: tracline's configuration).
    """

    template_fields = ("request", "request_id")
    template_fields_renderers = {"request": "json"}
    ui_color = "#f6d58e"

    def __init__(self, *, request: Mapping[str, Any] | RequestSpec | None = None,
                 request_id: str | None = None, poll_interval: float | None = None,
                 store_url: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(request, RequestSpec):
            request = attrs.asdict(request, recurse=False)
        if request is None and not request_id:
            raise ValueError(f"tracline gate {self.task_id!r}: give request={{...}} to file a "
                             "training request, or request_id= to attach to one")
        self.request = dict(request) if request is not None else None
        self.request_id = request_id
        self.poll_interval = poll_interval
        self.store_url = store_url
        if self.request is not None:
            where = f"tracline gate {self.task_id!r}"
            if self.has_dag():  # type: ignore[no-untyped-call]  # untyped in Airflow
                where += f" of DAG {self.dag_id!r}"
            check_at_parse(self.request, where)

    # -- running -------------------------------------------------------------------------------

    def _gate(self, context: Any) -> Gate:
        """This DAG run's gate (claim key: the DAG run's OpenLineage run id), acting as the
        gate's task try."""
        ti = context["ti"]
        try:
            service = open_store(self.store_url)
        except TraclineError as e:
            raise compat.AirflowFailException(f"cannot open the request store: {e}") from e
        return Gate(service, key=compat.ol_dag_run_id(ti), actor=run_actor(ti))

    def _request(self, gate: Gate) -> TrainingRequest:
        request_id = str(self.request_id or "").strip()
        if not request_id and not self.request:
            raise compat.AirflowFailException("tracline gate: request_id rendered empty and no "
                                              "request to file was given")
        try:
            if request_id:
                return gate.file_or_attach(request_id=request_id)
            return gate.file_or_attach(self.request)
        except NotFound as e:
            raise compat.AirflowFailException(f"tracline gate: {e}") from e
        except TraclineError as e:
            raise compat.AirflowFailException(f"tracline gate: the training request was "
                                              f"refused: {e}") from e

    def execute(self, context: Any) -> dict[str, Any]:
        """File or attach to the request, then decide or defer."""
        gate = self._gate(context)
        try:
            request = self._request(gate)
            context["ti"].xcom_push(key="request_id", value=request.id)
            self.log.info("training request %s (%s) is %s; estimate %s, budget %s",
                          request.id, request.title, request.state, request.estimate.money,
                          request.budget)
            return self._decide(gate, request)
        finally:
            gate.requests.close()

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        """Resume after the trigger fired: read the request again and decide."""
        request_id = (event or {}).get("request_id") or context["ti"].xcom_pull(
            task_ids=self.task_id, key="request_id")
        if (event or {}).get("state") == "missing":
            raise compat.AirflowFailException(f"training request {request_id} disappeared "
                                              "from the store")
        gate = self._gate(context)
        try:
            return self._decide(gate, str(request_id))
        except NotFound as e:
            raise compat.AirflowFailException(f"tracline gate: {e}") from e
        finally:
            gate.requests.close()

    def _decide(self, gate: Gate, request: TrainingRequest | str) -> dict[str, Any]:
        decision = gate.decide(request)
        if decision.verdict == Verdict.WAIT:
            interval = self.poll_interval or load_settings().poll_interval
            self.log.info("%s --as user:NAME", decision.reason)
            self.defer(trigger=TraclineRequestTrigger(decision.request.id, interval,
                                                      self.store_url),
                       method_name="execute_complete")
        try:
            claim = gate.claim(decision.request)
        except GateClosed as e:
            raise compat.AirflowFailException(str(e)) from e
        except TraclineError as e:
            raise compat.AirflowFailException(f"tracline gate: {e}") from e
        self.log.info("claimed %s for run %s: approved by %s, %s GPU-hours, time limit %ss",
                      claim.request_id, claim.run_id, ", ".join(claim.approved_by),
                      claim.approved_gpu_hours, claim.time_limit_seconds)
        return claim.to_payload()

    @classmethod
    def before(cls, task: Any, **kwargs: Any) -> TraclineApprovalGate:
        """Put a gate in front of ``task`` (an operator or TaskFlow call); see :func:`gate`."""
        return gate(task, **kwargs)


# -- the gated task ------------------------------------------------------------------------------


def gated_by(task: Any) -> list[str]:
    """Task ids of the approval gates directly upstream of ``task``."""
    return sorted(t.task_id for t in task.upstream_list if isinstance(t, TraclineApprovalGate))


@attrs.frozen
class BudgetCap:
    """Pre-execute hook of a gated task: no approval, no run; approved time limit applies."""

    gate_task_id: str

    def __call__(self, context: Any) -> None:
        ti, task = context["ti"], context["task"]
        try:
            claim = Claim.from_payload(ti.xcom_pull(task_ids=self.gate_task_id))
        except ValidationError:
            raise compat.AirflowFailException(
                f"{task.task_id} has no approval from gate {self.gate_task_id}; it runs only "
                "after its training request is approved and claimed") from None
        current = task.execution_timeout
        if current is None or current > claim.time_limit:
            task.execution_timeout = claim.time_limit
        reason = claim.overrun_reason(task.task_id)
        compat.fail_on(task, compat.AirflowTaskTimeout, lambda: reason)
        log.info("tracline: %s runs under %s's approval, time limit %s", task.task_id,
                 claim.request_id, task.execution_timeout)


def cap_gated(task: Any) -> None:
    """Install the approval check on ``task`` for each gate directly upstream (idempotent)."""
    done: set[str] = set(getattr(task, _CAPPED, ()))
    for gate_id in gated_by(task):
        if gate_id not in done:
            compat.add_pre_execute_hook(task, BudgetCap(gate_id))
            done.add(gate_id)
    setattr(task, _CAPPED, tuple(sorted(done)))


def gate(task: Any, *, request: Mapping[str, Any] | RequestSpec | None = None,
         request_id: str | None = None, task_id: str | None = None,
         **gate_kwargs: Any) -> TraclineApprovalGate:
    """Put an approval gate in front of ``task`` and return it.

    The gate runs after the task's current upstream tasks (so it can hash what they wrote)
    and before the task, which then runs under the approved time limit.
    """
    operator = getattr(task, "operator", task)
    if not isinstance(operator, compat.BaseOperator):
        raise TypeError(f"gate() needs an operator or a TaskFlow call, not {type(task).__name__}")
    kwargs: dict[str, Any] = {"dag": operator.dag}
    if operator.task_group is not None and not operator.task_group.is_root:
        kwargs["task_group"] = operator.task_group
    approval = TraclineApprovalGate(
        task_id=task_id or f"approve_{operator.task_id.rsplit('.', 1)[-1]}", request=request,
        request_id=request_id, **kwargs, **gate_kwargs)
    for upstream in list(operator.upstream_list):
        upstream >> approval
    approval >> operator
    cap_gated(operator)
    return approval


def tracline_gated(request: Mapping[str, Any] | RequestSpec | None = None, *,
                   request_id: str | None = None,
                   **gate_kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """TaskFlow decorator: every call of the decorated task gets an approval gate in front.

    Stack it on ``@task`` (or use it alone on a plain function, which it makes a task).
    """

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        factory = function if hasattr(function, "override") else compat.task(function)

        @functools.wraps(function)
        def call(*args: Any, **kwargs: Any) -> Any:
            output = factory(*args, **kwargs)
            gate(output, request=request, request_id=request_id, **gate_kwargs)
            return output

        return call

    return decorate
