"""The approval gate of a Prefect flow: no approved training request, no expensive task.

    approval = ApprovalGate("approve-training", request={...})   # checked when the module loads

    @flow(persist_result=True)
    def train_pipeline(model: str = "churn"):
        features = featurize()
        claim = approval.wait(datasets=[features])     # files, suspends while pending, claims
        model_path = approval.capped(train, claim)(features)   # timeout from the approval

``wait`` files the request (or attaches to one by id, or finds the one this flow run filed
before), then, while nobody has decided, *suspends the flow run*: its process exits and its
worker slot is freed. tracline's watcher (``tracline-prefect watch``) resumes it once the
request is decided; the flow starts again from the top, completed tasks come from their
persisted results, and ``wait`` asks tracline again — a resume that tracline did not make
(Prefect's own resume button) finds the request still pending and suspends once more.
Rejected or expired, the flow fails with the reviewer's reason. Approved, the request is
claimed for the flow run exactly once (a retry of the flow run gets its own claim back).

Every step goes through core's gated-run lifecycle (:mod:`tracline.gating`); what is here is
Prefect's side of it: templates over flow parameters, suspension, labels for the watcher, and
artifacts on the flow run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, TypeVar

import attrs

from tracline.approvals import RequestSpec, TrainingRequest, open_requests
from tracline.config import Config, get_config
from tracline.errors import ConfigError, TraclineError, ValidationError
from tracline.gating import (
    Claim,
    Decision,
    Gate,
    GateClosed,
    InvalidGateRequest,
    RunActor,
    Verdict,
)
from tracline_prefect import _artifacts, compat
from tracline_prefect._spec import check_gate_request, render_request

__all__ = ["LABEL_GATE", "LABEL_REQUEST", "ApprovalGate"]

log = logging.getLogger(__name__)
T = TypeVar("T", bound="compat.Task[Any, Any]")

#: The flow-run labels by which the watcher finds a suspended gated flow run.
LABEL_REQUEST = "tracline.request"
LABEL_GATE = "tracline.gate"
#: Prefect's own suspension timeout is set this long after the request expires, so that
#: tracline (saying "expired") decides first; without a watcher, Prefect still fails the run.
_EXPIRY_MARGIN = 600


def _plain(value: Any) -> Any:
    """Values a flow computes, as request fields: futures resolved, paths as text."""
    if hasattr(value, "result") and callable(value.result) and hasattr(value, "task_run_id"):
        value = value.result()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


class ApprovalGate:
    """Hold a flow's expensive work until a human approves its training request.

    :param name: the gate's name, in messages and artifacts.
    :param request: the request's fields (those of :class:`tracline.approvals.RequestSpec`);
        strings may hold ``{parameter}`` templates over the flow run's parameters, and a field
        may be ``AT_RUN_TIME`` when the flow passes it to :meth:`wait`. Checked now.
    :param request_id: attach to a request filed beforehand instead (may be a template,
        e.g. ``"{request_id}"``; when it renders empty, ``request`` is filed).
    :param poll_interval: seconds between looks at the store when the flow run cannot be
        suspended (it has no deployment) and waits in its process.
    :param config: tracline's configuration (default: the flow process's).
    """

    def __init__(self, name: str = "approval", *,
                 request: Mapping[str, Any] | RequestSpec | None = None,
                 request_id: str | None = None, poll_interval: float = 1.0,
                 config: Config | None = None) -> None:
        self.name = name
        self.where = f"tracline approval gate {name!r}"
        if isinstance(request, RequestSpec):
            request = attrs.asdict(request, recurse=False)
        if request is None and not request_id:
            raise InvalidGateRequest(self.where, ValidationError(
                "request", "no training request to file and no request_id to attach to",
                hint="give request={...} (its fields) or request_id='req-...'"))
        if request is not None and not isinstance(request, Mapping):
            raise InvalidGateRequest(self.where, ValidationError(
                "request", f"expected a mapping of request fields, got {type(request).__name__}",
                hint="e.g. request={'title': ..., 'requester': 'agent:trainer', ...}"))
        self.request = dict(request) if request is not None else None
        self.request_id = request_id
        self.poll_interval = poll_interval
        self._config = config
        if self.request is not None:
            check_gate_request(self.request, self.where)

    def __repr__(self) -> str:
        return f"ApprovalGate({self.name!r})"

    # -- waiting -------------------------------------------------------------------------------

    def wait(self, request_id: str | None = None, **fields: Any) -> Claim:
        """File or attach, wait for a decision without holding the worker, claim; in a flow.

        ``fields`` are request fields the flow computed (e.g. ``datasets=[features_path]``);
        ``request_id`` attaches to that request. Returns the :class:`tracline.gating.Claim`
        (pass it to :meth:`capped`). Raises :class:`tracline.gating.GateClosed` with the
        reviewer's reason when the request is rejected, expired or used by another run.
        """
        where = compat.current_flow_run()
        if where is None or compat.in_task_run():
            raise TraclineError(f"{self.where}: wait() runs in a flow's own code",
                                hint="call it in the @flow function, not in a task or outside "
                                     "a flow run: only a flow run can be suspended")
        flow, flow_run = where
        key = str(flow_run.id)
        config = self._config or get_config()
        actor = RunActor("prefect", key, f"{flow.name} flow run {flow_run.name}: {self.name}")
        requests = open_requests(config)
        try:
            gate = Gate(requests, key=key, actor=actor, config=config)
            request_id = request_id or self._waited_on(flow_run)
            request = self._file_or_attach(gate, compat.flow_parameters(flow, flow_run), request_id,
                                           {k: _plain(v) for k, v in fields.items()})
            decision = gate.decide(request)
            if decision.verdict == Verdict.WAIT:
                decision = self._hold(gate, flow_run, decision, config)
            if decision.verdict == Verdict.REFUSED:
                _artifacts.publish_request(request, decision, gate=self.name, config=config)
                raise GateClosed(decision, hint="file a new request, or ask a reviewer")
            claim = gate.claim(decision.request)
            claimed = gate.decide(claim.request_id)
            _artifacts.publish_request(claimed.request, claimed, gate=self.name, config=config,
                                       claim=claim)
            compat.run_logger(log).info(
                "tracline: %s claimed %s (approved by %s; time limit %s)", self.where,
                claim.request_id, ", ".join(claim.approved_by), claim.time_limit)
            return claim
        finally:
            requests.close()

    def _waited_on(self, flow_run: compat.FlowRun) -> str | None:
        """The request this gate suspended the flow run on before (it was resumed since):
        the run comes back to that request and its decision, whatever it is."""
        labels = flow_run.labels or {}
        if labels.get(LABEL_GATE) == self.name and labels.get(LABEL_REQUEST):
            return str(labels[LABEL_REQUEST])
        return None

    def _file_or_attach(self, gate: Gate, parameters: dict[str, Any], request_id: str | None,
                        fields: dict[str, Any]) -> TrainingRequest:
        try:
            rid = request_id or (render_request({"id": self.request_id}, parameters, {})["id"]
                                 if self.request_id else None)
            if rid and str(rid).strip():
                return gate.file_or_attach(request_id=str(rid))
            if self.request is None:
                raise ValidationError("request_id", "rendered empty and there is no request "
                                      "to file", hint="pass a request id, or give request={...}")
            return gate.file_or_attach(render_request(self.request, parameters, fields))
        except (ValidationError, ConfigError) as e:
            raise InvalidGateRequest(self.where, e) from e

    def _hold(self, gate: Gate, flow_run: compat.FlowRun, decision: Decision,
              config: Config) -> Decision:
        """Suspend the flow run while the request is pending (it exits here), or, when it
        cannot be suspended, wait in its process."""
        request = decision.request
        if flow_run.deployment_id is None:
            note = ("this flow run has no deployment, so it cannot be suspended: it waits in "
                    "its process")
            _artifacts.publish_request(request, decision, gate=self.name, config=config,
                                       note=note)
            compat.run_logger(log).warning("tracline: %s: %s for %s", self.where, note, request.id)
            waited = gate.wait(request.id, poll_interval=self.poll_interval)
            assert waited is not None  # no timeout: returns only once decided
            return waited
        # suspended on this request before, resumed, and still no decision: not tracline's
        resumed = (flow_run.labels or {}).get(LABEL_REQUEST) == request.id
        note = ("the flow run was resumed, but not by an approval: it is suspended again"
                if resumed else
                "the flow run is suspended (no process, no worker slot) until a reviewer "
                "decides; tracline's watcher resumes it then")
        _artifacts.publish_request(request, decision, gate=self.name, config=config, note=note)
        compat.set_labels(flow_run.id, {LABEL_REQUEST: request.id, LABEL_GATE: self.name})
        lapse = (request.expires_at - gate.requests.now()).total_seconds()
        compat.run_logger(log).info(
            "tracline: %s: %s waits for a reviewer; suspending flow run %s", self.where,
            request.id, flow_run.id)
        compat.suspend(key=f"tracline-{uuid.uuid4().hex}",
                       timeout=max(60, int(lapse) + _EXPIRY_MARGIN))
        raise AssertionError("unreachable: suspending raises Prefect's Pause")  # pragma: no cover

    # -- the approved work -----------------------------------------------------------------------

    def capped(self, task: T, claim: Claim) -> T:
        """``task`` to run under ``claim``: timed out at the approved time limit (its whole
        process tree stopped), captured with the approval on its events, and the request
        completed or failed with its cost when it ends. Call the result as the task."""
        from tracline_prefect._hooks import gated_task

        return gated_task(task, claim, self._config)

