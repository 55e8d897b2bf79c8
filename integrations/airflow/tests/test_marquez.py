"""In real Marquez: the approved example run is one Marquez run per task try, carrying Airflow's
and tracline's facets, its datasets versioned by content and connected into one graph.

Skipped where Marquez is unavailable (the ``marquez_url`` fixture says why).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
import uuid
from typing import Any

import pytest
from _airflow_harness import AirflowEnv

from tracline.approvals import RequestSpec

pytestmark = pytest.mark.marquez
DAG_ID = "train_pipeline"


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base.rstrip('/')}{path}", timeout=30) as response:
        return json.loads(response.read())


_RUN: dict[str, Any] = {}


@pytest.fixture
def marquez_run(airflow: AirflowEnv, marquez_url: str) -> dict[str, Any]:
    """The example, pre-approved, run once (for all tests here) with its lineage in Marquez."""
    if not _RUN:
        _RUN.update(_run_into_marquez(airflow, marquez_url))
    return _RUN


def _run_into_marquez(airflow: AirflowEnv, marquez_url: str) -> dict[str, Any]:
    namespace = f"airflow-tests-{uuid.uuid4().hex[:8]}"
    folder = airflow.work / namespace
    folder.mkdir()
    config = folder / "tracline.toml"
    config.write_text(f'[tracline]\nnamespace = "{namespace}"\n\n[policy]\n'
                      f'reviewers = ["user:chris"]\n\n[sinks.marquez]\ntype = "marquez"\n'
                      f'url = "{marquez_url}"\n')
    env = airflow.with_env(TRACLINE_CONFIG=str(config), AIRFLOW__OPENLINEAGE__NAMESPACE=namespace,
                           TRACLINE_EXAMPLE_DATA=str(folder / "data"))
    dataset = folder / "seed.csv"
    dataset.write_text("x,y,label\n")
    service = airflow.requests()
    request = service.file(RequestSpec(
        title="Marquez run", requester="agent:trainer", project="examples/airflow",
        datasets=[str(dataset)], gpu_model="H100", gpu_count=1, hours="0.01", budget="5",
        rationale="End-to-end check in Marquez.", reviewers=["user:chris"]))
    service.approve(request.id, "user:chris")
    service.close()
    code, output = airflow.test_dag(DAG_ID, {"request_id": request.id}, env=env)
    assert code == 0, output[-4000:]
    airflow.run("tracline", "outbox", "flush", "--timeout", "60", env=env, check=True)
    return {"namespace": namespace, "folder": folder, "request_id": request.id}


def _runs(marquez_url: str, namespace: str, task_id: str) -> list[dict[str, Any]]:
    job = urllib.parse.quote(f"{DAG_ID}.{task_id}", safe="")
    return _get(marquez_url, f"/api/v1/namespaces/{namespace}/jobs/{job}/runs")["runs"]  # type: ignore[no-any-return]


def test_one_marquez_run_per_task_try(marquez_run: dict[str, Any], marquez_url: str) -> None:
    """Each task of the DAG run appears in Marquez as exactly one completed run."""
    for task_id in ("prepare", "approve_train", "train", "evaluate"):
        runs = _runs(marquez_url, marquez_run["namespace"], task_id)
        assert [r["state"] for r in runs] == ["COMPLETED"], (task_id, runs)


def test_airflow_and_tracline_facets_in_marquez(marquez_run: dict[str, Any],
                                               marquez_url: str) -> None:
    """The train run in Marquez holds Airflow's facets and tracline's together."""
    (run,) = _runs(marquez_url, marquez_run["namespace"], "train")
    facets = _get(marquez_url, f"/api/v1/jobs/runs/{run['id']}/facets?type=RUN")["facets"]
    assert {"airflow", "tracline_approval", "tracline_execution", "tracline_gpuCost"} <= set(
        facets)
    assert facets["tracline_approval"]["requestId"] == marquez_run["request_id"]


def test_datasets_versioned_and_graph_connected(marquez_run: dict[str, Any],
                                               marquez_url: str) -> None:
    """points.csv carries its digest in Marquez, and its lineage reaches all three tasks."""
    from tracline.hashing import digest_path

    (points,) = list((marquez_run["folder"] / "data").rglob("points.csv"))
    name = urllib.parse.quote(str(points), safe="")
    versions = _get(marquez_url, f"/api/v1/namespaces/file/datasets/{name}/versions")["versions"]
    digests = {v["facets"].get("tracline_contentHash", {}).get("digest") for v in versions}
    assert digest_path(points).digest in digests
    node = urllib.parse.quote(f"dataset:file:{points}", safe="")
    graph = _get(marquez_url, f"/api/v1/lineage?nodeId={node}&depth=6")["graph"]
    jobs = {n["data"]["name"] for n in graph if n["type"] == "JOB"}
    assert {f"{DAG_ID}.{t}" for t in ("prepare", "train", "evaluate")} <= jobs
