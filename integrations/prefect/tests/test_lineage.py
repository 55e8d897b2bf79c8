"""The example flow's lineage, from a real flow run on the session's worker: every flow run
and task run an OpenLineage run, task runs children of their flow run, each file with the
BLAKE3 digest of its bytes, tasks connected by those digests, the trace of the model back to
the raw data, and core's run conformance suite over the events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import blake3
import pytest
from _prefect_harness import EXAMPLE, PrefectEnv

from tracline.approvals import DatasetRef, RequestSpec, State
from tracline.lineage import trace
from tracline.registry import Registry
from tracline.testing import RunConformanceSuite

FLOW = "train-pipeline"
TASKS = ("download", "featurize", "to_arrays", "train", "evaluate")


@attrs.frozen
class ExampleRun:
    """One approved run of the example and what was observed about it."""

    flow_run_id: str
    request_id: str
    events: list[dict[str, Any]]
    #: BLAKE3 of each data file right after the run: ``{path: "blake3:<hex>"}``.
    digests: dict[str, str]


@pytest.fixture(scope="module")
def approved(prefect_env: PrefectEnv) -> ExampleRun:
    """The example run under a request filed and approved beforehand (attached by id)."""
    deployment = prefect_env.deploy(EXAMPLE, "train_pipeline.py:train_pipeline")
    service = prefect_env.requests()
    try:
        request = service.file(RequestSpec(
            title="Retrain churn-v5", requester="agent:churn-bot", project="churn",
            datasets=[DatasetRef("s3://churn/train.npy", "sha256:" + "b" * 64)],
            gpu_model="H100", gpu_count=1, hours="0.5", budget=50, rationale="Lineage test."))
        service.approve(request.id, "user:chris")
    finally:
        service.close()
    run = prefect_env.run(deployment, model="churn-v5", epochs=2, request_id=request.id)
    final = prefect_env.wait_final(run)
    assert final.state.is_completed(), prefect_env.logs(run)
    digests = {str(p): "blake3:" + blake3.blake3(p.read_bytes()).hexdigest()
               for p in prefect_env.data.iterdir() if p.is_file()}
    return ExampleRun(str(run), request.id, prefect_env.events(run), digests)


def _task(run: ExampleRun, name: str, kind: str = "COMPLETE") -> dict[str, Any]:
    found = [e for e in run.events if e["job"]["name"] == f"{FLOW}.{name}"
             and e["eventType"] == kind]
    assert len(found) == 1, (name, kind, [e["job"]["name"] for e in run.events])
    return found[0]


def _files(event: dict[str, Any], role: str) -> dict[str, str]:
    return {d["name"]: d["facets"]["tracline_contentHash"]["digest"]
            for d in event[role] if d["namespace"] == "file"}


def test_flow_run_is_the_parent_of_its_task_runs(approved: ExampleRun) -> None:
    """The flow run is a FLOW job named after the flow; every task run a TASK job named
    flow.task whose parent facet names that flow run."""
    flow_events = [e for e in approved.events if e["run"]["runId"] == approved.flow_run_id]
    assert {e["eventType"] for e in flow_events} >= {"START", "COMPLETE"}
    assert {e["job"]["name"] for e in flow_events} == {FLOW}
    assert {e["job"]["facets"]["jobType"]["jobType"] for e in flow_events} == {"FLOW"}
    tasks = [e for e in approved.events if e["run"]["runId"] != approved.flow_run_id]
    assert {e["job"]["name"] for e in tasks} == {f"{FLOW}.{t}" for t in TASKS}
    for event in tasks:
        parent = event["run"]["facets"]["parent"]
        assert parent["run"]["runId"] == approved.flow_run_id
        assert parent["job"]["name"] == FLOW
        assert event["job"]["facets"]["jobType"]["jobType"] == "TASK"
        assert event["job"]["facets"]["jobType"]["integration"] == "PREFECT"


def test_files_carry_the_blake3_digest_of_their_bytes(approved: ExampleRun) -> None:
    """Every file a task read or wrote is in its events with the BLAKE3 digest of the file's
    real bytes — Parquet and NumPy files opened by native code included."""
    seen: dict[str, str] = {}
    for name in TASKS:
        event = _task(approved, name)
        seen |= _files(event, "inputs") | _files(event, "outputs")
    for wanted in ("customers.csv", "features.parquet", "train.npy", "model.npz",
                   "metrics.json"):
        assert any(Path(p).name == wanted for p in seen), (wanted, sorted(seen))
    for path, digest in seen.items():
        assert digest == approved.digests[path], path


def test_tasks_connect_by_digest(approved: ExampleRun) -> None:
    """What one task wrote is what the next read, byte for byte: download → featurize →
    to_arrays → train → evaluate."""
    chain = [("download", "featurize", "customers.csv"),
             ("featurize", "to_arrays", "features.parquet"),
             ("to_arrays", "train", "train.npy"),
             ("train", "evaluate", "model.npz")]
    for writer, reader, name in chain:
        wrote = {Path(p).name: d for p, d in _files(_task(approved, writer), "outputs").items()}
        read = {Path(p).name: d for p, d in _files(_task(approved, reader), "inputs").items()}
        assert wrote[name] == read[name], (writer, reader, name)


def test_execution_cost_and_approval_facets(approved: ExampleRun) -> None:
    """Task runs carry capture's execution facet — the task's own function as its recipe,
    the interposer as what saw native I/O; the approved task its declared GPU cost and, from
    its START, the approval it ran under."""
    for name in TASKS:
        execution = _task(approved, name)["run"]["facets"]["tracline_execution"]
        assert execution["captureMode"] == "preload", (name, execution["captureMode"])
        recipe = execution["callable"]
        assert (recipe["qualname"], Path(recipe["file"]).name) == (name, "train_pipeline.py")
        assert recipe["sourceDigest"].startswith(("blake3:", "sha256:")), recipe
    train = _task(approved, "train")
    cost = train["run"]["facets"]["tracline_gpuCost"]
    assert (cost["gpuModel"], cost["gpuCount"]) == ("H100", 1)
    assert cost["measurement"] in {"declared", "measured"}
    start = _task(approved, "train", "START")
    assert start["run"]["facets"]["tracline_approval"]["requestId"] == approved.request_id


def test_trace_of_the_model_reaches_the_raw_data(prefect_env: PrefectEnv,
                                                 approved: ExampleRun) -> None:
    """`tracline trace` of the model walks back, through the registry the events reached,
    to the customers' CSV the flow downloaded; the request is settled."""
    model = next(p for p in approved.digests if p.endswith("model.npz"))
    registry = Registry(f"sqlite:///{prefect_env.home / 'tracline.db'}")
    try:
        reached = {node.name for node in trace(model, registry=registry).artifacts()}
    finally:
        registry.close()
    assert str(prefect_env.data / "customers.csv") in reached, sorted(reached)
    service = prefect_env.requests()
    try:
        assert service.get(approved.request_id).state == State.COMPLETED
    finally:
        service.close()


class TestExampleRunConformance(RunConformanceSuite):
    """The example's flow and task runs are correct runs by tracline's conformance suite."""

    expected_jobs = (FLOW, *(f"{FLOW}.{t}" for t in TASKS))
    run: ExampleRun

    @pytest.fixture(scope="class", autouse=True)
    @classmethod
    def _example_run(cls, approved: ExampleRun) -> None:
        cls.run = approved

    def produce_events(self) -> list[dict[str, Any]]:
        return self.run.events
