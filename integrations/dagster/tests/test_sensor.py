"""The approval sensor under real Dagster sensor evaluation: one run per approved request,
claimed once even when evaluations race; nothing for pending, rejected or expired ones; the
gated-run lifecycle's conformance suite; bad sensor configuration caught when Definitions
load."""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pytest
from _dagster_harness import Project

from tracline.approvals import RequestService, State
from tracline.errors import ConfigError
from tracline.testing import GatedResult, GatedRunConformanceSuite, conformance_request
from tracline_dagster import TraclineResource, approval_sensor

REVIEWER = "user:chris"
SENSOR = "train_job_approvals"


def _evaluate(pipeline: Any, project: Project, cursor: str | None = None) -> Any:
    """One real evaluation of the test Definitions' approval sensor."""
    sensor = pipeline.defs.resolve_sensor_def(SENSOR)
    context = dg.build_sensor_context(instance=project.instance, cursor=cursor,
                                      resources={"tracline": TraclineResource()},
                                      definitions=pipeline.defs)
    return sensor.evaluate_tick(context)


def _file(project: Project, *, approve: bool, service: RequestService | None = None) -> str:
    own = service is None
    service = service or project.requests()
    try:
        request = service.file(conformance_request())
        if approve:
            service.approve(request.id, REVIEWER)
        return request.id
    finally:
        if own:
            service.close()


def _run(pipeline: Any, project: Project, run_request: dg.RunRequest, *, marker: Path,
         fail: bool = False) -> dg.ExecuteInProcessResult:
    """Execute the run the sensor asked for, with its tags (as the daemon would launch it)."""
    job = pipeline.defs.resolve_job_def("train_job")
    return job.execute_in_process(
        instance=project.instance, tags=run_request.tags, raise_on_error=False,
        run_config={"ops": {"train": {"config": {"marker": str(marker), "fail": fail}}}})


def test_approval_launches_one_run_with_its_claim_and_time_limit(pipeline: Any,
                                                                 project: Project) -> None:
    """An approved request yields one RunRequest keyed on its id, tagged with the claim and
    Dagster's max runtime from the approved GPU-hours; later ticks yield none."""
    request_id = _file(project, approve=True)
    first = _evaluate(pipeline, project)
    assert [r.run_key for r in first.run_requests] == [request_id]
    tags = first.run_requests[0].tags
    claim = json.loads(tags["tracline/claim"])
    assert claim["request_id"] == request_id
    assert tags["dagster/max_runtime"] == str(int(claim["time_limit_seconds"]))
    assert int(tags["dagster/max_runtime"]) == 1800  # 0.5 GPU-hours on 1 GPU
    with closing(project.requests()) as service:
        request = service.get(request_id)
        audit = service.audit(request_id)
    assert request.state == State.CLAIMED
    assert request.run_id == tags["tracline/run_id"]
    assert [e.actor for e in audit if e.action == "claim"] == [f"run:dagster/{request.run_id}"]
    cursor = first.cursor
    for _ in range(5):
        tick = _evaluate(pipeline, project, cursor)
        assert tick.run_requests == []
        cursor = tick.cursor
    assert _evaluate(pipeline, project).run_requests == []  # even without the cursor


def test_a_claim_whose_run_never_launched_is_launched_again(pipeline: Any,
                                                            project: Project) -> None:
    """The daemon stopped between the sensor's claim and Dagster's launch: the request is
    claimed by this sensor and no run exists. A tick soon after leaves it (the launch may be
    on its way); once the claim is RELAUNCH_AFTER old, a tick asks for the run of that same
    claim, under the same run_key — no second claim, nothing spent without a run. A claim
    made elsewhere is never taken up."""
    from tracline.gating import Gate, RunActor
    from tracline_dagster._sensor import RELAUNCH_AFTER

    request_id = _file(project, approve=True)
    other_id = _file(project, approve=True)
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=RELAUNCH_AFTER + 60)
    earlier = RequestService(config=project.config(), clock=lambda: past)
    try:
        key = "0190f0f0-0000-7000-8000-00000000beef"
        Gate(earlier, key=key, actor=RunActor("dagster", key, f"sensor {SENSOR}")).claim(
            request_id)
        elsewhere = "0190f0f0-0000-7000-8000-00000000cafe"
        Gate(earlier, key=elsewhere, actor=RunActor("tracline", elsewhere, "tracline run")
             ).claim(other_id)
    finally:
        earlier.close()
    tick = _evaluate(pipeline, project)
    assert [r.run_key for r in tick.run_requests] == [request_id]
    tags = tick.run_requests[0].tags
    assert tags["tracline/run_id"] == key
    assert json.loads(tags["tracline/claim"])["request_id"] == request_id
    with closing(project.requests()) as service:
        assert [e.details["run_id"] for e in service.audit(request_id)
                if e.action == "claim"] == [key]
        assert service.get(other_id).run_id == elsewhere
    assert _evaluate(pipeline, project, tick.cursor).run_requests == []


def test_a_fresh_claim_without_its_run_yet_is_left_alone(pipeline: Any,
                                                        project: Project) -> None:
    """Right after this sensor's claim (no run seen yet, no cursor), a tick asks for nothing."""
    request_id = _file(project, approve=True)
    first = _evaluate(pipeline, project)
    assert [r.run_key for r in first.run_requests] == [request_id]
    again = _evaluate(pipeline, project)
    assert again.run_requests == []
    assert f"training request {request_id} was claimed by run" in (again.skip_message or "")
    assert "Dagster run is not seen yet" in (again.skip_message or "")


def test_racing_evaluations_launch_exactly_one_run(pipeline: Any, project: Project) -> None:
    """Four evaluations at once over one approved request: one RunRequest in all, one
    claim in the audit log; the others say the request was taken."""
    _evaluate(pipeline, project)  # the instance's storage exists, as under a running daemon
    request_id = _file(project, approve=True)
    start = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            start.wait()
            results.append(_evaluate(pipeline, project))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    launched = [r for result in results for r in result.run_requests]
    assert [r.run_key for r in launched] == [request_id]
    losers = [r.skip_message or "" for r in results if not r.run_requests]
    assert len(losers) == 3
    assert all("already claimed" in m or "claimed by run" in m for m in losers), losers
    with closing(project.requests()) as service:
        claims = [e for e in service.audit(request_id) if e.action == "claim"]
    assert len(claims) == 1


def test_pending_request_launches_nothing_and_says_it_waits(pipeline: Any,
                                                            project: Project) -> None:
    """A pending request launches no run; the tick says it waits for a reviewer."""
    request_id = _file(project, approve=False)
    tick = _evaluate(pipeline, project)
    assert tick.run_requests == []
    assert f"training request {request_id} waits for a reviewer" in (tick.skip_message or "")


def test_rejected_request_launches_nothing_and_is_reported_once(pipeline: Any,
                                                                project: Project) -> None:
    """A rejected request launches no run; the tick reports the reviewer's reason, once."""
    request_id = _file(project, approve=False)
    with closing(project.requests()) as service:
        service.reject(request_id, REVIEWER, "Try the distilled model first.")
    tick = _evaluate(pipeline, project)
    assert tick.run_requests == []
    assert "Try the distilled model first." in (tick.skip_message or "")
    again = _evaluate(pipeline, project, tick.cursor)
    assert again.run_requests == []
    assert request_id not in (again.skip_message or "")


def test_expired_request_launches_nothing_and_is_reported(pipeline: Any,
                                                          project: Project) -> None:
    """A request whose review window lapsed launches no run and is reported as expired."""
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    service = RequestService(config=project.config(), clock=lambda: past)
    try:
        request = service.file(conformance_request(expires_at=past + dt.timedelta(hours=1)))
    finally:
        service.close()
    tick = _evaluate(pipeline, project)
    assert tick.run_requests == []
    assert f"training request {request.id} expired at" in (tick.skip_message or "")


def test_the_launched_run_carries_the_approval_and_settles_the_request(
        pipeline: Any, project: Project, tmp_path: Path) -> None:
    """The launched run's materialization shows the approval and the cost; once it ends,
    the next tick completes the request with the run as actor."""
    request_id = _file(project, approve=True)
    tick = _evaluate(pipeline, project)
    result = _run(pipeline, project, tick.run_requests[0], marker=tmp_path / "ran")
    assert result.success
    event = project.instance.get_latest_materialization_event(dg.AssetKey("train"))
    assert event is not None and event.asset_materialization is not None
    metadata = {k: str(v.value) for k, v in event.asset_materialization.metadata.items()}
    assert metadata["tracline/approval"].startswith(f"{request_id} approved by {REVIEWER}")
    assert metadata["tracline/gpu_cost"].startswith("declared: 1 × H100")
    settled = _evaluate(pipeline, project, tick.cursor)
    assert f"{request_id} settled as completed" in (settled.skip_message or "")
    with closing(project.requests()) as service:
        request = service.get(request_id)
    assert request.state == State.COMPLETED
    assert request.completion is not None
    starts = [e for e in project.events() if e["eventType"] == "START"
              and e["job"]["name"].endswith(".train")]
    assert starts[0]["run"]["facets"]["tracline_approval"]["requestId"] == request_id


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"project": ""}, "project must name the training requests' project"),
    ({"project": "vision", "minimum_interval_seconds": 0},
     "minimum_interval_seconds must be a whole number of seconds ≥ 1, got 0"),
    ({"project": "vision", "name": "train approvals"}, "sensor name 'train approvals'"),
    ({"project": "vision", "run_config": {"ops": {}}}, "run_config must be a function"),
])
def test_invalid_sensor_configuration_fails_when_definitions_load(
        pipeline: Any, kwargs: dict[str, Any], message: str) -> None:
    """A bad sensor setting fails where the Definitions are built, naming it and the fix."""
    with pytest.raises(ConfigError) as raised:
        dg.Definitions(jobs=[pipeline.train_job],
                       sensors=[approval_sensor(pipeline.train_job, **kwargs)])
    assert message in str(raised.value)
    assert raised.value.hint


class TestDagsterApprovalSensor(GatedRunConformanceSuite):
    """The approval sensor (real evaluations) and the run it launches (really executed)
    follow the gated-run lifecycle."""

    orchestrator: ClassVar[str] = "dagster"
    waits: ClassVar[bool] = True
    project: Project
    pipeline: Any

    @pytest.fixture(autouse=True)
    def _project(self, project: Project, pipeline: Any) -> None:
        self.project, self.pipeline = project, pipeline

    def requests(self) -> RequestService:
        """The project's request store."""
        return self.project.requests()

    def run_gated(self, request_id: str, *, marker: Path, fail: bool = False,
                  while_waiting: Callable[[], None] | None = None) -> GatedResult:
        """Tick the sensor (waiting while the request is pending), run what it launched,
        tick again to settle."""
        said: list[str] = []
        tick = _evaluate(self.pipeline, self.project)
        said.append(tick.skip_message or "")
        if not tick.run_requests and "waits for a reviewer" in said[-1] and while_waiting:
            while_waiting()
            tick = _evaluate(self.pipeline, self.project, tick.cursor)
            said.append(tick.skip_message or "")
        mine = [r for r in tick.run_requests if r.run_key == request_id]
        if not mine:
            return GatedResult(False, "\n".join(said))
        result = _run(self.pipeline, self.project, mine[0], marker=marker, fail=fail)
        settled = _evaluate(self.pipeline, self.project, tick.cursor)
        said.append(settled.skip_message or "")
        return GatedResult(result.success, "\n".join(said))
