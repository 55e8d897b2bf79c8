"""The example DAG (prepare → gated train → evaluate) under real Airflow: the gate holds the
run until a human decides; the approved run's lineage arrives as one run per task try, with
Airflow's and tracline's facets together, datasets versioned by content and connected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import pytest
from _airflow_harness import AirflowEnv, wait_for

from tracline.approvals import State
from tracline.hashing import digest_path
from tracline.testing import RunConformanceSuite

DAG_ID = "train_pipeline"


@attrs.frozen
class Run:
    """One DAG run of the example and what was observed about it."""

    returncode: int
    output: str
    request_id: str
    dag_run_id: str
    folder: Path
    blocked: dict[str, Any]
    events: list[dict[str, Any]]


def _pending_request(airflow: AirflowEnv, known: set[str]) -> str | None:
    service = airflow.requests()
    try:
        fresh = [r.id for r in service.list(state="pending", project="examples/airflow")
                 if r.id not in known]
    finally:
        service.close()
    return fresh[0] if fresh else None


def _requests(airflow: AirflowEnv) -> set[str]:
    service = airflow.requests()
    try:
        return {r.id for r in service.list()}
    finally:
        service.close()


def _events_of(airflow: AirflowEnv, dag_run_id: str) -> list[dict[str, Any]]:
    """The events of one DAG run: its own and those of the task runs under it."""
    return [e for e in airflow.server.events()
            if e["run"]["runId"] == dag_run_id
            or (e["run"].get("facets") or {}).get("parent", {}).get("run", {}).get("runId")
            == dag_run_id]


def _gated_run(airflow: AirflowEnv, decide: Any, conf: dict[str, Any] | None = None) -> Run:
    """Start the example, wait for its gate to defer on a pending request, decide, finish."""
    known = _requests(airflow)
    process = airflow.start_dag(DAG_ID, conf)
    try:
        request_id = wait_for("the gate to file its request",
                              lambda: _pending_request(airflow, known), alive=process)
        wait_for("the gate to defer to its trigger",
                 lambda: "[DAG TEST] running trigger in line" in process.output() or None,
                 alive=process)
        folder = Path(airflow.requests().get(request_id).datasets[0].uri[len("file://"):]).parent
        blocked = {"deferred": "Pausing task as DEFERRED" in process.output(),
                   "train": airflow.task_state(DAG_ID, "train"),
                   "model": (folder / "model.json").exists(),
                   "running": process.running()}
        decide(request_id)
        process.wait()
    finally:
        process.kill()
    service = airflow.requests()
    request = service.get(request_id)
    service.close()
    dag_run_id = request.run_id or ""
    if not dag_run_id:  # never claimed: find the DAG run through the gate's events
        gate_events = [e for e in airflow.server.events()
                       if e["job"]["name"] == f"{DAG_ID}.approve_train"]
        dag_run_id = gate_events[-1]["run"]["facets"]["parent"]["run"]["runId"]
    airflow.run("tracline", "outbox", "flush", "--timeout", "600")
    return Run(process.process.returncode, process.output(), request_id, dag_run_id, folder,
               blocked, _events_of(airflow, dag_run_id))


@pytest.fixture(scope="session")
def approved(airflow: AirflowEnv) -> Run:
    """The example run approved through tracline's CLI while its gate waits."""

    def approve(request_id: str) -> None:
        airflow.run("tracline", "request", "approve", request_id, "--as", "user:chris",
                    check=True)

    return _gated_run(airflow, approve)


def _by_job(events: list[dict[str, Any]], task_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["job"]["name"] == f"{DAG_ID}.{task_id}"]


def _terminal(events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    (event,) = [e for e in _by_job(events, task_id) if e["eventType"] in {"COMPLETE", "FAIL"}]
    return event


def _datasets(event: dict[str, Any], side: str) -> dict[str, dict[str, Any]]:
    return {Path(d["name"]).name: d for d in event.get(side) or []}


def test_gate_blocks_while_the_request_is_pending(approved: Run) -> None:
    """While the request waits, the gate is deferred (no worker slot) and train has not run."""
    assert approved.blocked["running"]
    assert approved.blocked["deferred"]
    assert approved.blocked["train"] is None
    assert not approved.blocked["model"]


def test_approval_through_the_cli_lets_the_run_finish(approved: Run, airflow: AirflowEnv) -> None:
    """After `tracline request approve`, the run proceeds and finishes successfully."""
    assert approved.returncode == 0, approved.output[-4000:]
    metrics = json.loads((approved.folder / "metrics.json").read_text())
    assert metrics["accuracy"] > 0.8
    service = airflow.requests()
    request = service.get(approved.request_id)
    service.close()
    assert request.state == State.COMPLETED
    assert request.completion is not None and not request.completion.overrun
    assert request.completion.measurement in {"declared", "measured"}


def test_one_run_per_task_try(approved: Run) -> None:
    """Each task try is exactly one run: one runId per task, one START and one terminal event."""
    for task_id in ("prepare", "approve_train", "train", "evaluate"):
        events = _by_job(approved.events, task_id)
        assert len({e["run"]["runId"] for e in events}) == 1, task_id
        kinds = [e["eventType"] for e in events]
        assert kinds[0] == "START" and kinds[-1] == "COMPLETE", (task_id, kinds)
        assert kinds.count("COMPLETE") == 1, (task_id, kinds)


def test_airflow_and_tracline_facets_share_the_run(approved: Run) -> None:
    """The provider's facets and tracline's (approval, execution, GPU cost) are on one run."""
    start = _by_job(approved.events, "train")[0]
    assert {"airflow", "parent", "tracline_approval"} <= set(start["run"]["facets"])
    facets = _terminal(approved.events, "train")["run"]["facets"]
    assert {"airflow", "processing_engine", "tracline_approval", "tracline_execution",
            "tracline_gpuCost"} <= set(facets)
    assert facets["processing_engine"]["name"] == "Airflow"
    assert facets["tracline_approval"]["requestId"] == approved.request_id
    assert facets["tracline_approval"]["approvedBy"] == ["user:chris"]
    assert facets["tracline_gpuCost"]["gpuModel"] == "H100"
    gate = _terminal(approved.events, "approve_train")["run"]["facets"]
    assert gate["tracline_approval"]["requestId"] == approved.request_id


def test_datasets_are_versioned_by_their_digest(approved: Run) -> None:
    """Each file a task wrote is a dataset whose version is the digest of its content."""
    outputs = {name: d for task in ("prepare", "train", "evaluate")
               for name, d in _datasets(_terminal(approved.events, task), "outputs").items()}
    assert set(outputs) == {"points.csv", "model.json", "metrics.json"}
    for name, dataset in outputs.items():
        digest = digest_path(approved.folder / name).digest
        assert dataset["namespace"] == "file"
        assert dataset["facets"]["version"]["datasetVersion"] == digest
        assert dataset["facets"]["tracline_contentHash"]["digest"] == digest


def test_lineage_graph_is_connected(approved: Run) -> None:
    """Outputs feed the next task's inputs by digest, and every task names the DAG run."""
    prepared = _datasets(_terminal(approved.events, "prepare"), "outputs")["points.csv"]
    train = _terminal(approved.events, "train")
    evaluate = _terminal(approved.events, "evaluate")
    version = "version"
    assert (_datasets(train, "inputs")["points.csv"]["facets"][version]
            == prepared["facets"][version])
    model = _datasets(train, "outputs")["model.json"]["facets"][version]
    assert _datasets(evaluate, "inputs")["model.json"]["facets"][version] == model
    assert _datasets(evaluate, "inputs")["points.csv"]["facets"][version] == prepared[
        "facets"][version]
    parents = {e["run"]["facets"]["parent"]["run"]["runId"]
               for e in approved.events if e["run"]["runId"] != approved.dag_run_id}
    assert parents == {approved.dag_run_id}
    assert any(e["run"]["runId"] == approved.dag_run_id and e["eventType"] == "COMPLETE"
               for e in approved.events)


class TestExampleRunConformance(RunConformanceSuite):
    """The example's task runs are correct runs by tracline's conformance suite."""

    expected_jobs = ("prepare", "approve_train", "train", "evaluate")
    run: Run

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _example_run(cls, approved: Run) -> None:
        cls.run = approved

    def produce_events(self) -> list[dict[str, Any]]:
        """The task runs' events (``airflow dags test`` creates its DAG run already running,
        so the provider's DAG-level START never fires there; a scheduler's run has it)."""
        return [e for e in self.run.events if e["run"]["runId"] != self.run.dag_run_id]


def test_rejection_fails_the_gate_with_the_reason(airflow: AirflowEnv) -> None:
    """A reviewer's rejection fails the gate with their reason, and train never runs."""
    reason = "Use the distilled model first; this budget is for the big run."

    def reject(request_id: str) -> None:
        service = airflow.requests()
        try:
            service.reject(request_id, "user:chris", reason)
        finally:
            service.close()

    run = _gated_run(airflow, reject)
    assert run.returncode != 0
    assert f"was rejected by user:chris: {reason}" in run.output
    assert airflow.task_state(DAG_ID, "approve_train") == "failed"
    assert airflow.task_state(DAG_ID, "train") == "upstream_failed"
    failed = _terminal(run.events, "approve_train")
    assert failed["eventType"] == "FAIL"
    assert reason in failed["run"]["facets"]["errorMessage"]["message"]
    assert not _by_job(run.events, "train")
    assert not (run.folder / "model.json").exists()


def test_training_past_its_approved_time_is_stopped(airflow: AirflowEnv) -> None:
    """A train task running past its approved GPU-hours is stopped, failed for budget."""
    dataset = airflow.work / "approved-data.csv"
    dataset.write_text("x,y,label\n1,2,0\n")
    service = airflow.requests()
    from tracline.approvals import RequestSpec

    request = service.file(RequestSpec(
        title="Short run", requester="agent:trainer", project="examples/airflow",
        datasets=[str(dataset)], gpu_model="H100", gpu_count=1, hours="0.0005", budget="1",
        rationale="Approved for 1.8 seconds of GPU time.", reviewers=["user:chris"]))
    service.approve(request.id, "user:chris")
    service.close()

    code, output = airflow.test_dag(DAG_ID, {"request_id": request.id, "train_seconds": 600})
    assert code != 0, output[-4000:]
    service = airflow.requests()
    settled = service.get(request.id)
    service.close()
    assert settled.state == State.FAILED
    assert "train ran past the approved time limit of 0:00:01.800000" in (settled.state_note
                                                                          or "")
    assert airflow.task_state(DAG_ID, "train") == "failed"  # no retry: the budget is spent
    assert airflow.task_state(DAG_ID, "evaluate") == "upstream_failed"
    airflow.run("tracline", "outbox", "flush", "--timeout", "600")
    events = _events_of(airflow, settled.run_id or "")
    failed = _terminal(events, "train")
    assert failed["eventType"] == "FAIL"
    assert "ran past the approved time limit" in failed["run"]["facets"]["errorMessage"]["message"]
    assert failed["run"]["facets"]["tracline_gpuCost"]["gpuCount"] == 1
    assert settled.completion is not None and settled.completion.gpu_hours > 0
