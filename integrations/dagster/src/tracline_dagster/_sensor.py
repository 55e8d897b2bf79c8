"""``approval_sensor``: launch an expensive job only for an approved training request.

    approval_sensor(train_job, project="vision")

Each tick reads the project's training requests through tracline's gated-run lifecycle
(:mod:`tracline.gating`) and:

* for each approved, unclaimed request, claims it — exactly once, in the request store —
  and asks for one run keyed on the request id (``run_key``), tagged with the claim and a
  ``dagster/max_runtime`` of the approved time (Dagster's run monitoring stops the run
  there; ``@traced`` steps stop their child processes with it). Two evaluations that race
  both try to claim; the store lets one through, the other reports the request taken.
* reports a request rejected, cancelled, expired or spent elsewhere once (skip reason and
  log), and says which requests still wait for a reviewer. Nothing runs, and nothing holds
  compute, before the approval.
* settles the request of each run it launched once that run has ended: completed, or
  failed with the reason (over its time limit included), with the run's cost.
* asks again for the run of a request it claimed when Dagster has no run for that claim
  :data:`RELAUNCH_AFTER` seconds later (the daemon stopped between the claim and the launch):
  the same claim, the same ``run_key`` — Dagster launches one run per key, so a run that did
  start is never doubled — rather than an approval spent on nothing.

The gate fails closed: if the request store cannot be read, nothing is launched.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import attrs
import dagster as dg

from tracline.approvals import State, TrainingRequest
from tracline.errors import ConfigError, TraclineError
from tracline.events import new_run_id
from tracline.gating import Gate, GateClosed, Outcome, RunActor, Verdict, decide
from tracline_dagster import _runs, _tags, compat
from tracline_dagster._resource import TraclineResource

__all__ = ["approval_sensor"]

log = logging.getLogger("tracline_dagster")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
#: Requests in these states were dealt with (launched, reported or settled elsewhere).
_FINAL = {State.COMPLETED, State.FAILED}
#: How many handled request ids the cursor remembers.
_REMEMBER = 5000
#: Seconds after its claim by this sensor that a request with no Dagster run is launched again.
RELAUNCH_AFTER = 600.0
RunConfigFn = Callable[[TrainingRequest], Mapping[str, Any] | dg.RunConfig]


@attrs.define
class _Cursor:
    runs: dict[str, str] = attrs.field(factory=dict)
    handled: list[str] = attrs.field(factory=list)

    @classmethod
    def load(cls, text: str | None) -> _Cursor:
        data = json.loads(text) if text else {}
        return cls(runs=dict(data.get("runs", {})), handled=list(data.get("handled", [])))

    def dump(self) -> str:
        return json.dumps({"runs": self.runs, "handled": self.handled[-_REMEMBER:]},
                          sort_keys=True)


@attrs.frozen
class _Gated:
    """What the sensor gates: a target, the requests of one project, how to configure a run."""

    name: str
    project: str
    resource_key: str
    run_config: RunConfigFn | None


def _launched_by_sensor(instance: dg.DagsterInstance, key: str) -> bool:
    runs = instance.get_runs(filters=dg.RunsFilter(tags={_tags.LINEAGE_RUN_ID: key}), limit=1)
    return bool(runs)


class _Tick:
    """One evaluation of the sensor."""

    def __init__(self, context: dg.SensorEvaluationContext, gated: _Gated) -> None:
        self.context = context
        self.gated = gated
        self.resource: TraclineResource = getattr(context.resources, gated.resource_key)
        self.cursor = _Cursor.load(context.cursor)
        self.notes: list[str] = []
        self.requests: list[dg.RunRequest] = []

    def note(self, text: str, *, warn: bool = False) -> None:
        self.notes.append(text)
        (self.context.log.warning if warn else self.context.log.info)(text)

    def run(self) -> dg.SensorResult:
        service = self.resource.requests()
        try:
            self.settle(service)
            handled = set(self.cursor.handled)
            for request in reversed(service.list(project=self.gated.project)):
                if request.id not in handled:
                    self.consider(service, request)
        finally:
            service.close()
        skip = None if self.requests else "; ".join(self.notes) or (
            f"no training request of project {self.gated.project!r} to act on")
        return dg.SensorResult(run_requests=self.requests, skip_reason=skip,
                               cursor=self.cursor.dump())

    def handled(self, request_id: str) -> None:
        self.cursor.handled.append(request_id)

    def consider(self, service: Any, request: TrainingRequest) -> None:
        decision = decide(request, "", service.now())
        if decision.verdict == Verdict.WAIT:
            self.note(decision.reason)
            return
        if decision.verdict == Verdict.CLAIM:
            self.launch(service, request)
            return
        if request.state in _FINAL or (request.state == State.CLAIMED and request.run_id
                                       and _launched_by_sensor(self.context.instance,
                                                               request.run_id)):
            self.handled(request.id)
            return
        if self.claimed_here(service, request):
            age = self.unlaunched_since(service, request)
            if age >= RELAUNCH_AFTER:
                self.launch(service, request, key=request.run_id)
                return
            # Claimed a moment ago by this sensor (another evaluation): its launch may be on
            # its way. Not handled yet: a later tick launches it again if it never came.
            self.note(f"training request {request.id} was claimed by run {request.run_id} "
                      f"of this sensor {age:.0f} s ago; its Dagster run is not seen yet "
                      f"(asked for again after {RELAUNCH_AFTER:.0f} s without one)")
            return
        self.note(f"not launched: {decision.reason}", warn=True)
        self.handled(request.id)

    def claimed_here(self, service: Any, request: TrainingRequest) -> bool:
        """Whether this sensor claimed ``request`` (its run id, its principal, its step)."""
        key = request.run_id
        if request.state != State.CLAIMED or not key or \
                request.claimed_by != RunActor("dagster", key).principal:
            return False
        step = f"sensor {self.gated.name}"
        try:
            audit = service.audit(request.id)
        except TraclineError as e:  # not allowed to read it, say: the claim is left alone
            self.note(f"cannot tell who claimed {request.id}: {e}", warn=True)
            return False
        return any(e.action == "claim" and e.details.get("run_id") == key
                   and e.details.get("step") == step for e in audit)

    @staticmethod
    def unlaunched_since(service: Any, request: TrainingRequest) -> float:
        """Seconds since the claim of a request that has no Dagster run."""
        if request.claimed_at is None:
            return math.inf
        since: dt.timedelta = service.now() - request.claimed_at
        return since.total_seconds()

    def launch(self, service: Any, request: TrainingRequest, *, key: str | None = None) -> None:
        """Claim ``request`` and ask for its run; ``key``: the run id of this sensor's claim
        whose run was never launched (the claim is taken up again, not made twice)."""
        name = self.gated.name
        try:
            run_config = self.gated.run_config(request) if self.gated.run_config else None
        except Exception as e:  # noqa: BLE001 - the user's function; reported, nothing claimed
            self.note(f"not launched: run_config for {request.id} failed: "
                      f"{type(e).__name__}: {e}", warn=True)
            return
        again = key is not None
        key = key or new_run_id()
        gate = Gate(service, key=key, actor=RunActor("dagster", key, f"sensor {name}"),
                    config=self.resource.tracline_config())
        try:
            claim = gate.claim(request)
        except GateClosed as e:  # another evaluation claimed it first, or it changed
            self.note(f"not launched: {e.message}", warn=True)
            return
        tags = {
            _tags.REQUEST: claim.request_id, _tags.CLAIM: json.dumps(claim.to_payload()),
            _tags.LINEAGE_RUN_ID: key, _tags.SENSOR: name,
            compat.MAX_RUNTIME_TAG: str(max(1, math.ceil(claim.time_limit_seconds))),
        }
        self.requests.append(dg.RunRequest(run_key=request.id, run_config=run_config, tags=tags))
        self.handled(request.id)
        if again:
            self.note(f"launching again the run of {request.id}: this sensor claimed it "
                      f"{claim.claimed_at} (run {key}) but Dagster has no run for that claim "
                      "(the daemon stopped before the launch?)", warn=True)
            return
        self.note(f"launching a run for {request.id} (approved by "
                  f"{', '.join(claim.approved_by)}; time limit {claim.time_limit})")

    def settle(self, service: Any) -> None:
        changes, self.cursor.runs = _runs.run_changes(self.context.instance, _runs.ENDED,
                                                      self.cursor.runs)
        for change in changes:
            tags = dict(change.run.tags)
            claim = _tags.claim_of(tags) if tags.get(_tags.SENSOR) == self.gated.name else None
            if claim is None:
                continue
            started = change.started_at(self.context.instance)
            wall = change.timestamp - started if started is not None else None
            message = change.message or ""
            over = not change.succeeded and ("maximum runtime" in message or (
                wall is not None and wall >= claim.time_limit_seconds))
            step = f"{compat.job_name(change.run.job_name)} run {change.run.run_id}"
            gate = Gate(service, key=claim.run_id, actor=RunActor("dagster", claim.run_id, step),
                        config=self.resource.tracline_config())
            # Over time: the lifecycle words the reason (the approved limit and what paid).
            error = None if change.succeeded or over else (
                f"{step} failed: {message or 'see the run in Dagster'}")
            outcome = Outcome(succeeded=change.succeeded, wall_seconds=wall, over_time=over,
                              error=error)
            settled = gate.settle(claim, outcome)
            state = settled.request.state if settled.request is not None else "claimed"
            self.note(f"{claim.request_id} settled as {state} ({step})"
                      + (f"; {settled.note}" if settled.note else ""))


def _check(target: Any, project: str, name: str | None, minimum_interval_seconds: int,
           run_config: Any) -> str:
    where = f"approval_sensor({getattr(target, 'name', target)!r})"
    if target is None:
        raise ConfigError(f"{where}: no target", hint="pass the job (or assets) to launch")
    if not isinstance(project, str) or not project.strip():
        raise ConfigError(f"{where}: project must name the training requests' project, got "
                          f"{project!r}", hint="e.g. project='vision' — the --project of "
                          "`tracline request file`")
    name = name or f"{getattr(target, 'name', '')}_approvals"
    if not _NAME.match(name) or name == "_approvals":
        raise ConfigError(f"{where}: sensor name {name!r} is not valid",
                          hint="name it with letters, digits and _ (name='train_approvals')")
    if isinstance(minimum_interval_seconds, bool) or not isinstance(
            minimum_interval_seconds, int) or minimum_interval_seconds < 1:
        raise ConfigError(f"{where}: minimum_interval_seconds must be a whole number of "
                          f"seconds ≥ 1, got {minimum_interval_seconds!r}",
                          hint="e.g. minimum_interval_seconds=30")
    if run_config is not None and not callable(run_config):
        raise ConfigError(f"{where}: run_config must be a function of the training request",
                          hint="e.g. run_config=lambda request: {'ops': {...}}")
    return name


def approval_sensor(target: Any, *, project: str, name: str | None = None,
                    minimum_interval_seconds: int = 30, resource_key: str = "tracline",
                    run_config: RunConfigFn | None = None,
                    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
                    ) -> dg.SensorDefinition:
    """A sensor that launches ``target`` (a job, or assets to materialize) once per approved
    training request of ``project``; ``run_config(request)`` configures that run."""
    name = _check(target, project, name, minimum_interval_seconds, run_config)
    gated = _Gated(name, project.strip(), resource_key, run_config)

    @dg.sensor(name=name, target=target, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description=f"tracline: launches a run for each approved training request of "
               f"project {gated.project!r}, once; reports rejected and expired ones.")
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        try:
            return _Tick(context, gated).run()
        except TraclineError as e:  # fail closed: no approval read, no run
            context.log.warning(f"tracline: nothing launched: {e}")
            return dg.SensorResult(skip_reason=f"tracline: nothing launched: {e}")

    return _sensor
