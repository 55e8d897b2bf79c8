"""In real Marquez: the approved example run is one Marquez run per task try, under its DAG run,
carrying Airflow's and tracline's facets, its files versioned by content with their columns, and
the model's trace and receipt read back from Marquez equal to the local registry's.

Runs against any reachable Marquez 0.50 named by ``TRACLINE_TEST_MARQUEZ_URL``; skipped, with the
reason, where there is none (the ``marquez_url`` fixture says why).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from _airflow_harness import AirflowEnv

from tracline.approvals import RequestSpec
from tracline.hashing import digest_path
from tracline.lineage import receipt, trace
from tracline.marquez import MarquezSettings, MarquezStore
from tracline.marquez._parse import dataset_fields
from tracline.registry import Registry

pytestmark = pytest.mark.marquez
DAG_ID = "train_pipeline"
TASKS = ("prepare", "approve_train", "train", "evaluate")


def _get(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base.rstrip('/')}{path}", timeout=30) as response:
        return json.loads(response.read())


def _quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


@pytest.fixture(scope="module")
def marquez_run(airflow: AirflowEnv, marquez_url: str) -> dict[str, Any]:
    """The example, pre-approved, run once with a Marquez sink beside the local one.

    The Marquez sink and the namespace come through the environment of the DAG run, and the
    request is filed in the store that same environment names: the gate reads what was filed.
    """
    namespace = f"airflow-tests-{uuid.uuid4().hex[:8]}"
    folder = airflow.work / namespace
    folder.mkdir()
    env = airflow.with_env(TRACLINE_MARQUEZ_URL=marquez_url, TRACLINE_NAMESPACE=namespace,
                           AIRFLOW__OPENLINEAGE__NAMESPACE=namespace,
                           TRACLINE_EXAMPLE_DATA=str(folder / "data"))
    dataset = folder / "seed.csv"
    dataset.write_text("x,y,label\n")
    service = airflow.requests(env)
    request = service.file(RequestSpec(
        title="Marquez run", requester="agent:trainer", project="examples/airflow",
        datasets=[str(dataset)], gpu_model="H100", gpu_count=1, hours="0.01", budget="5",
        rationale="End-to-end check in Marquez.", reviewers=["user:chris"]))
    service.approve(request.id, "user:chris")
    service.close()
    code, output = airflow.test_dag(DAG_ID, {"request_id": request.id}, env=env)
    assert code == 0, output[-4000:]
    airflow.run("tracline", "outbox", "flush", "--timeout", "600", env=env, check=True)
    events = [e for e in airflow.server.events() if e["job"]["namespace"] == namespace]
    runs = {e["job"]["name"].removeprefix(f"{DAG_ID}."): e["run"]["runId"] for e in events}
    (model,) = (folder / "data").rglob("model.json")
    return {"namespace": namespace, "folder": folder, "request_id": request.id,
            "runs": runs, "model": model, "events": events}


def _full_name(job: dict[str, Any]) -> str:
    """A Marquez job's name as its events gave it: ``dag.task`` (Marquez may show a child job
    by its simple name under ``parentJobName``)."""
    parent, name = job.get("parentJobName"), str(job["name"])
    if parent and not name.startswith(f"{parent}."):
        return f"{parent}.{job.get('simpleName') or name}"
    return name


def _job(marquez_url: str, namespace: str, task_id: str) -> dict[str, Any]:
    """The task's job in Marquez (``dag.task``)."""
    jobs = _get(marquez_url, f"/api/v1/namespaces/{_quote(namespace)}/jobs?limit=100")["jobs"]
    for job in jobs:
        if _full_name(job) == f"{DAG_ID}.{task_id}":
            return job  # type: ignore[no-any-return]
    raise AssertionError(f"no job for {task_id} in {[j['name'] for j in jobs]}")


def _runs(marquez_url: str, namespace: str, task_id: str) -> list[dict[str, Any]]:
    name = _job(marquez_url, namespace, task_id)["name"]
    path = f"/api/v1/namespaces/{_quote(namespace)}/jobs/{_quote(name)}/runs"
    return _get(marquez_url, path)["runs"]  # type: ignore[no-any-return]


def test_one_marquez_run_per_task_try(marquez_run: dict[str, Any], marquez_url: str) -> None:
    """Each task of the DAG run is exactly one completed Marquez run, with the run id the
    local registry has for it."""
    for task_id in TASKS:
        runs = _runs(marquez_url, marquez_run["namespace"], task_id)
        assert [r["state"] for r in runs] == ["COMPLETED"], (task_id, runs)
        assert runs[0]["id"] == marquez_run["runs"][task_id]


def test_task_runs_sit_under_their_dag_run(marquez_run: dict[str, Any],
                                          marquez_url: str) -> None:
    """Every task run names the DAG run as its parent, and Marquez knows that DAG run."""
    dag_run = marquez_run["runs"][DAG_ID]
    for task_id in TASKS:
        run = _get(marquez_url, f"/api/v1/jobs/runs/{marquez_run['runs'][task_id]}")
        assert run["facets"]["parent"]["run"]["runId"] == dag_run, task_id
        assert run["facets"]["parent"]["job"]["name"] == DAG_ID
    assert _get(marquez_url, f"/api/v1/jobs/runs/{dag_run}")["id"] == dag_run


def test_airflow_and_tracline_facets_in_marquez(marquez_run: dict[str, Any],
                                               marquez_url: str) -> None:
    """The train run in Marquez holds Airflow's facets and tracline's together; the gate's
    run carries the approval too."""
    runs = marquez_run["runs"]
    facets = _get(marquez_url, f"/api/v1/jobs/runs/{runs['train']}")["facets"]
    assert {"airflow", "processing_engine", "tracline_approval", "tracline_execution",
            "tracline_gpuCost"} <= set(facets)
    assert facets["tracline_approval"]["requestId"] == marquez_run["request_id"]
    assert facets["tracline_approval"]["approvedBy"] == ["user:chris"]
    assert facets["tracline_gpuCost"]["gpuModel"] == "H100"
    gate = _get(marquez_url, f"/api/v1/jobs/runs/{runs['approve_train']}")["facets"]
    assert gate["tracline_approval"]["requestId"] == marquez_run["request_id"]


def test_files_versioned_by_digest_with_their_columns(marquez_run: dict[str, Any],
                                                     marquez_url: str) -> None:
    """Each file a task wrote has a Marquez version carrying its digest; points.csv shows its
    columns as fields; its lineage reaches all three working tasks."""
    data = marquez_run["folder"] / "data"
    for name in ("points.csv", "model.json", "metrics.json"):
        (path,) = data.rglob(name)
        versions = _get(marquez_url, f"/api/v1/namespaces/file/datasets/{_quote(str(path))}"
                                     "/versions")["versions"]
        digests = {v["facets"].get("tracline_contentHash", {}).get("digest") for v in versions}
        assert digest_path(path).digest in digests, name
    (points,) = data.rglob("points.csv")
    dataset = _get(marquez_url, f"/api/v1/namespaces/file/datasets/{_quote(str(points))}")
    assert dataset_fields(dataset) == [("x", "DOUBLE"), ("y", "DOUBLE"), ("label", "INTEGER")]
    graph = _get(marquez_url, f"/api/v1/lineage?nodeId={_quote(f'dataset:file:{points}')}"
                              "&depth=6")["graph"]
    jobs = {_full_name(n["data"]) for n in graph if n["type"] == "JOB"}
    assert {f"{DAG_ID}.{t}" for t in ("prepare", "train", "evaluate")} <= jobs


#: Other DAG runs of this session wrote the same bytes under other paths: the local registry
#: (indexed by digest) names them, Marquez (indexed by name) knows the writers of this path.
_WHERE_ELSE = {"otherProducers", "identicalReruns", "alsoMadeBy"}


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """A trace's JSON without where it came from and who else wrote the same bytes elsewhere;
    times as instants."""
    def instant(text: str | None) -> float | None:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text \
            else None

    runs = [{**r, "started_at": instant(r["started_at"]), "ended_at": instant(r["ended_at"])}
            for r in data["runs"]]
    artifacts = [{k: v for k, v in a.items() if k not in _WHERE_ELSE} for a in data["artifacts"]]
    return {**data, "source": None, "runs": runs, "artifacts": artifacts}


def test_trace_and_receipt_from_marquez_equal_the_local_ones(
        marquez_run: dict[str, Any], marquez_url: str, airflow: AirflowEnv) -> None:
    """`trace`/`receipt` of the example's model read back from Marquez equal the answers of
    the local registry the same events went to (run, approval, inputs, upstream)."""
    model = str(marquez_run["model"])
    local = Registry(f"sqlite:///{airflow.server.db}")
    marquez = MarquezStore(MarquezSettings(url=marquez_url.rstrip("/")))
    here, there = trace(model, registry=local), trace(model, registry=marquez)
    assert _comparable(there.to_dict()) == _comparable(here.to_dict())
    assert there.root.run is not None and there.root.run.run_id == marquez_run["runs"]["train"]
    assert {r.job_name for r in there.runs()} == {f"{DAG_ID}.prepare", f"{DAG_ID}.train"}
    mine, theirs = receipt(model, registry=local), receipt(model, registry=marquez)
    assert theirs.approval is not None and theirs.approval == mine.approval
    assert theirs.approval["requestId"] == marquez_run["request_id"]
    assert theirs.cost == mine.cost and theirs.recipe == mine.recipe
    assert [(r.name, r.digest) for r in theirs.inputs] == [(r.name, r.digest) for r in mine.inputs]
    assert Path(theirs.inputs[0].name).name == "points.csv"
