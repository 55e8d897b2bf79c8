"""The tracline transport completes the provider's event for a try tracline observed."""

from __future__ import annotations

from typing import Any

from tracline.capture import FileRecord
from tracline.facets import TraclineGpuCostRunFacet
from tracline_airflow import _runs
from tracline_airflow._runs import TaskRun
from tracline_airflow.transport import enrich

RUN_ID = "01a216f2-2cc0-72f3-acd6-f354a21c9340"


def _provider_event(kind: str, run_id: str = RUN_ID) -> dict[str, Any]:
    return {
        "eventType": kind, "eventTime": "2026-01-01T00:00:00+00:00", "producer": "airflow",
        "run": {"runId": run_id, "facets": {
            "airflow": {"_producer": "airflow", "_schemaURL": "x"},
            "errorMessage": {"message": "Timeout, PID: 42", "programmingLanguage": "python"}}},
        "job": {"namespace": "ns", "name": "dag.train"},
        "inputs": [{"namespace": "file", "name": "/data/points.csv", "facets": {
            "schema": {"fields": []}}}],
        "outputs": [],
    }


def _registered() -> TaskRun:
    run = TaskRun(run_id=RUN_ID, dag_id="dag", task_id="train")
    run.run_facets["tracline_gpuCost"] = TraclineGpuCostRunFacet(
        measurement="declared", gpuModel="H100", gpuCount=1, gpuSeconds=3.0)
    run.inputs = [FileRecord("/data/points.csv", "blake3:" + "a" * 64, 10)]
    run.outputs = [FileRecord("/data/model.json", "blake3:" + "b" * 64, 20),
                   FileRecord("/data/gone.tmp", None, None, error="removed")]
    run.error_message = "train ran past the approved time limit of 0:00:01.800000"
    return run


def test_terminal_event_gets_facets_files_and_reason() -> None:
    """COMPLETE/FAIL gain tracline's run facets and hashed files; same-named datasets merge."""
    _runs.register(_registered())
    try:
        event = enrich(_provider_event("FAIL"))
    finally:
        _runs.drop(RUN_ID)
    facets = event["run"]["facets"]
    assert facets["tracline_gpuCost"]["gpuSeconds"] == 3.0
    assert "airflow" in facets
    assert facets["errorMessage"]["message"].startswith("train ran past the approved time")
    (points,) = event["inputs"]
    assert set(points["facets"]) == {"schema", "version", "tracline_contentHash"}
    assert points["facets"]["version"]["datasetVersion"] == "blake3:" + "a" * 64
    assert [o["name"] for o in event["outputs"]] == ["/data/model.json"]  # unhashed: left out


def test_start_event_gets_run_facets_only() -> None:
    """START carries the run facets known so far (approval) but no files yet."""
    _runs.register(_registered())
    try:
        event = enrich(_provider_event("START"))
    finally:
        _runs.drop(RUN_ID)
    assert "tracline_gpuCost" in event["run"]["facets"]
    assert event["outputs"] == [] and len(event["inputs"]) == 1
    assert event["run"]["facets"]["errorMessage"]["message"] == "Timeout, PID: 42"


def test_events_of_other_runs_pass_unchanged() -> None:
    """An event of a run this process did not observe (a DAG run, another worker's) is kept."""
    _runs.register(_registered())
    try:
        event = _provider_event("COMPLETE", run_id="01a216f2-0000-7000-8000-000000000000")
        assert enrich(event) == _provider_event(
            "COMPLETE", run_id="01a216f2-0000-7000-8000-000000000000")
    finally:
        _runs.drop(RUN_ID)
