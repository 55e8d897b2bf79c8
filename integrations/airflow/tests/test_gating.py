"""The Airflow gate and listener follow core's gated-run lifecycle, under real Airflow: the
conformance suite every front door passes, plus what only an orchestrator has — retries that
reuse their claim, and a gated run settled with capture turned off."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _airflow_harness import AirflowEnv, wait_for

from tracline.approvals import RequestService, State
from tracline.testing import GatedResult, GatedRunConformanceSuite, conformance_request

GATED_DAGS = Path(__file__).resolve().parent / "gated_dags"


def _run(airflow: AirflowEnv, dag_id: str, request_id: str, marker: Path, *,
         fail: bool = False, while_waiting: Callable[[], None] | None = None,
         overrun: bool = False, **env: str) -> GatedResult:
    """``airflow dags test`` of a gated-work DAG under ``request_id``, to its end."""
    environ = airflow.with_env(AIRFLOW__CORE__DAGS_FOLDER=str(GATED_DAGS), **env)
    run = airflow.start_dag(dag_id, {"request_id": request_id, "marker": str(marker),
                                     "fail": fail, "overrun": overrun}, env=environ)
    try:
        if while_waiting is not None:
            wait_for("the gate to defer to its trigger",
                     lambda: "[DAG TEST] running trigger in line" in run.output() or None,
                     alive=run)
            while_waiting()
        code = run.wait()
    finally:
        run.kill()
    return GatedResult(code == 0, run.output())


def _approved(airflow: AirflowEnv) -> str:
    service = airflow.requests()
    try:
        request = service.file(conformance_request())
        service.approve(request.id, "user:chris")
        return request.id
    finally:
        service.close()


class TestAirflowGate(GatedRunConformanceSuite):
    """A TraclineApprovalGate in front of a task: the DAG run waits in the triggerer."""

    orchestrator = "airflow"
    waits = True
    stops_overruns = True
    airflow: AirflowEnv

    @pytest.fixture(autouse=True)
    def _airflow(self, airflow: AirflowEnv) -> None:
        self.airflow = airflow

    def requests(self) -> RequestService:
        """The request store the gates use."""
        return self.airflow.requests()

    def run_gated(self, request_id: str, *, marker: Path, fail: bool = False,
                  while_waiting: Callable[[], None] | None = None,
                  overrun: bool = False) -> GatedResult:
        """Run the ``gated_work`` DAG under the request."""
        return _run(self.airflow, "gated_work", request_id, marker, fail=fail,
                    while_waiting=while_waiting, overrun=overrun)


def test_a_retried_task_reuses_its_claim(airflow: AirflowEnv, tmp_path: Path) -> None:
    """A gated task whose first try fails runs again under the same claim, settled once."""
    request_id, marker = _approved(airflow), tmp_path / "ran"
    result = _run(airflow, "gated_work_retried", request_id, marker)
    assert result.succeeded, result.output[-4000:]
    assert marker.read_text().splitlines() == ["try 1", "try 2"]
    service = airflow.requests()
    try:
        request, entries = service.get(request_id), service.audit(request_id)
    finally:
        service.close()
    assert request.state == State.COMPLETED
    actions = [e.action for e in entries]
    assert actions.count("claim") == 1 and "fail" not in actions
    (completed,) = [e for e in entries if e.action == "complete"]
    assert completed.actor.startswith("run:airflow/")
    assert completed.actor != request.claimed_by  # the work's second try, not the gate
    assert completed.details["step"].startswith("gated_work_retried.work ")
    assert completed.details["step"].endswith(" try 2")


def test_with_capture_off_the_request_is_still_settled(airflow: AirflowEnv,
                                                       tmp_path: Path) -> None:
    """TRACLINE_DISABLED turns lineage off, not the gate: the request ends at an estimate."""
    request_id, marker = _approved(airflow), tmp_path / "ran"
    result = _run(airflow, "gated_work", request_id, marker, TRACLINE_DISABLED="1")
    assert result.succeeded, result.output[-4000:]
    assert marker.read_text().splitlines() == ["try 1"]
    service = airflow.requests()
    try:
        request = service.get(request_id)
    finally:
        service.close()
    assert request.state == State.COMPLETED
    assert request.completion is not None
    assert request.completion.measurement == "estimated"
    assert "no GPU cost was measured or declared" in result.output
