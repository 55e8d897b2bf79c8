"""End to end against a real Marquez 0.50: lineage through the outbox, outage, restart, and
lineage read back from Marquez equal to the local registry's.

Runs against any reachable Marquez named by ``TRACLINE_TEST_MARQUEZ_URL`` (``scripts/devstack.sh
start`` provides one where Marquez can be fetched); skipped, with the reason, elsewhere. The
restart test also needs devstack's own Marquez (it stops and starts it), which devstack's
``env`` announces with ``TRACLINE_TEST_MARQUEZ_ADMIN_URL``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tracline.config import load_config, reset_config
from tracline.delivery import Emitter
from tracline.events import Artifact, ParentRun, new_run_id, run_event
from tracline.facets import TraclineExecutionRunFacet, TraclineGpuCostRunFacet

pytestmark = pytest.mark.marquez
ROOT = Path(__file__).parents[1]


def get(base: str, path: str) -> Any:
    with urllib.request.urlopen(f"{base}{path}", timeout=30) as response:
        return json.loads(response.read())


def quote(text: str) -> str:
    return urllib.parse.quote(text, safe="")


def devstack(*args: str) -> None:
    subprocess.run([str(ROOT / "scripts" / "devstack.sh"), *args], check=True, timeout=300)


def three_runs(root: Path, namespace: str) -> tuple[list[Any], dict[str, str]]:
    """raw.csv → prepare → features.parquet → train → model.pt → evaluate → metrics.json."""
    digests = {n: "blake3:" + format(i, "x") * 64 for i, n in enumerate(
        ("raw.csv", "features.parquet", "model.pt", "metrics.json"), start=1)}
    art = {n: Artifact.file(str(root / n), d, 100) for n, d in digests.items()}
    parent = ParentRun(new_run_id(), namespace, "ml_pipeline")
    steps = [("prepare", "raw.csv", "features.parquet"), ("train", "features.parquet", "model.pt"),
             ("evaluate", "model.pt", "metrics.json")]
    events = []
    for job, src, dst in steps:
        run_id = new_run_id()
        facets = {
            "tracline_execution": TraclineExecutionRunFacet(argv=["python", f"{job}.py"],
                                                            cwd=str(root)),
            "tracline_gpuCost": TraclineGpuCostRunFacet(
                measurement="declared", gpuModel="H100", gpuCount=1, gpuSeconds=60.0,
                pricePerGpuHour=3.0, currency="USD", cost=0.05),
        }
        common = dict(run_id=run_id, job_name=f"ml_pipeline.{job}", namespace=namespace,
                      inputs=[art[src]], parent=parent, run_facets=facets, job_type="TASK")
        events.append(run_event("START", **common))
        events.append(run_event("COMPLETE", outputs=[art[dst]], **common))
    return events, digests


def test_three_run_lineage_lands_in_marquez(
    tracline_home: Path, marquez_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Jobs, digest-versioned datasets, tracline run facets and a connected graph in Marquez."""
    namespace = f"tracline-e2e-{int(time.time())}"
    monkeypatch.setenv("TRACLINE_MARQUEZ_URL", marquez_url)
    emitter = Emitter(load_config(), background=False)
    events, digests = three_runs(tracline_home.parent, namespace)
    for event in events:
        emitter.emit(event)
    report = emitter.flush(120)
    assert report.complete and report.delivered["marquez"] == 6, report

    jobs = {j["name"] for j in get(marquez_url, f"/api/v1/namespaces/{namespace}/jobs")["jobs"]}
    assert {"ml_pipeline.prepare", "ml_pipeline.train", "ml_pipeline.evaluate"} <= jobs

    model = str(tracline_home.parent / "model.pt")
    versions = get(marquez_url, f"/api/v1/namespaces/file/datasets/{quote(model)}/versions")
    assert digests["model.pt"] in {v["version"] for v in versions["versions"]} | {
        v.get("facets", {}).get("version", {}).get("datasetVersion") for v in versions["versions"]
    }

    train_run = events[3].run.runId
    facets = get(marquez_url, f"/api/v1/jobs/runs/{train_run}/facets?type=RUN")["facets"]
    assert facets["tracline_execution"]["argv"] == ["python", "train.py"]
    assert facets["tracline_gpuCost"]["gpuModel"] == "H100"

    node = quote(f"dataset:file:{model}")
    graph = get(marquez_url, f"/api/v1/lineage?nodeId={node}&depth=10")["graph"]
    names = {n["id"] for n in graph}
    assert f"dataset:file:{tracline_home.parent / 'raw.csv'}" in names


def test_outage_then_restart_delivers_everything(tracline_home: Path, marquez_url: str) -> None:
    """With Marquez stopped, 1,000 events are emitted by a task that exits 0; after a restart
    all 1,000 reach Marquez."""
    if not os.environ.get("TRACLINE_TEST_MARQUEZ_ADMIN_URL"):
        pytest.skip("the Marquez under test is not scripts/devstack.sh's (no "
                    "TRACLINE_TEST_MARQUEZ_ADMIN_URL): this test stops and starts it")
    namespace = f"tracline-outage-{int(time.time())}"
    (tracline_home.parent / "tracline.toml").write_text(
        f'[sinks.marquez]\ntype = "marquez"\nurl = "{marquez_url}"\n')
    devstack("stop", "marquez")
    try:
        script = textwrap.dedent(f"""
            import sys
            sys.path.insert(0, {str(ROOT / 'tests')!r})
            from pathlib import Path
            from test_marquez import three_runs
            import tracline
            sent = 0
            while sent < 1000:
                for event in three_runs(Path("."), {namespace!r})[0]:
                    if sent < 1000:
                        tracline.emit(event); sent += 1
            print("task done", sent)
        """)
        task = subprocess.run([sys.executable, "-c", script], cwd=tracline_home.parent,
                              capture_output=True, text=True, timeout=120)
        assert task.returncode == 0 and "task done 1000" in task.stdout, task.stderr
    finally:
        devstack("start", "marquez")
    flush = subprocess.run([sys.executable, "-m", "tracline.cli", "outbox", "flush",
                            "--timeout", "300"], cwd=tracline_home.parent, capture_output=True,
                           text=True, timeout=400)
    assert flush.returncode == 0, flush.stdout + flush.stderr
    events = get(marquez_url, f"/api/v1/events/lineage?limit=5000&namespace={namespace}")
    mine = [e for e in events["events"] if e["job"]["namespace"] == namespace]
    assert len(mine) == 1000


# -- reading back ------------------------------------------------------------------------------


def _recorded_pipeline(root: Path, namespace: str, marquez_url: str) -> dict[str, Any]:
    """raw.csv → prepare → train.csv → train (approved) → model.bin, on real files, emitted to
    the local registry and to Marquez through the outbox; an ungated trial of train made the
    same model bytes first."""
    from tracline.facets import Money, TraclineApprovalRunFacet
    from tracline.hashing import digest_path
    from tracline.tabular import read_schema

    def art(path: Path) -> Artifact:
        d = digest_path(path, cache=False)
        return Artifact.file(str(path), d.digest, d.size, d.file_count, d.kind,
                             schema=read_schema(path))

    (root / "tracline.toml").write_text(
        f'[tracline]\nnamespace = "{namespace}"\n\n[sinks.local]\ntype = "registry"\n\n'
        f'[sinks.marquez]\ntype = "marquez"\nurl = "{marquez_url}"\n\n'
        f'[marquez]\nweb_url = "http://marquez-web.example"\n')
    reset_config()
    emitter = Emitter(load_config(), background=False)
    raw, train_csv, model = root / "raw.csv", root / "train.csv", root / "model.bin"
    unique = time.time_ns()  # content of its own: a shared Marquez keeps earlier tests' files
    raw.write_text(f"x,y,label\n{unique},2.5,0\n3,4.5,1\n5,6.5,0\n")
    train_csv.write_text(f"x,y,label\n{unique},2.5,0\n3,4.5,1\n")
    model.write_bytes(b"weights:" + train_csv.read_bytes())
    runs: dict[str, str] = {}

    def step(key: str, job: str, ins: list[Path], outs: list[Path], facets: dict[str, Any]) -> None:
        run_id = runs[key] = new_run_id()
        common = dict(run_id=run_id, job_name=job, namespace=namespace, job_type="JOB",
                      inputs=[art(p) for p in ins], run_facets=facets)
        emitter.emit(run_event("START", **common))
        emitter.emit(run_event("COMPLETE", outputs=[art(p) for p in outs], **common))

    execution = {"tracline_execution": TraclineExecutionRunFacet(argv=["python", "x.py"],
                                                                 cwd=str(root))}
    step("prepare", "pipeline/prepare.py", [raw], [train_csv], execution)
    step("trial", "pipeline/train.py", [], [model], execution)
    approval = TraclineApprovalRunFacet(
        requestId="req-marquez", requestDigest="blake3:" + "c" * 64, approvedBy=["user:chris"],
        decidedAt="2026-01-02T10:00:00+00:00", budget=Money(5.0, "USD"))
    cost = TraclineGpuCostRunFacet(measurement="declared", gpuModel="H100", gpuCount=1,
                                   gpuSeconds=36.0, pricePerGpuHour=3.0, currency="USD",
                                   cost=0.03)
    step("train", "pipeline/train.py", [train_csv], [model],
         {**execution, "tracline_approval": approval, "tracline_gpuCost": cost})
    report = emitter.flush(120)
    assert report.complete and report.delivered["marquez"] == 6, report
    return {"runs": runs, "model": model, "raw": raw, "train_csv": train_csv}


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    """A trace's JSON without what only says where it came from; times as instants."""
    import datetime as dt

    def instant(text: str | None) -> float | None:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text \
            else None

    runs = [{**r, "started_at": instant(r["started_at"]), "ended_at": instant(r["ended_at"])}
            for r in data["runs"]]
    return {**data, "source": None, "runs": runs}


def test_trace_and_receipt_from_marquez_equal_the_local_ones(
    tracline_home: Path, marquez_url: str
) -> None:
    """`trace`/`receipt --from marquez` of the model answer as the local registry does: the
    approved run (not the identical earlier trial), its approval, inputs and upstream."""
    from tracline.lineage import receipt, trace

    namespace = f"tracline-readback-{int(time.time())}"
    made = _recorded_pipeline(tracline_home.parent, namespace, marquez_url)
    model = str(made["model"])
    local = trace(model, source="local")
    remote = trace(model, source="marquez")
    assert remote.source == f"Marquez at {marquez_url.rstrip('/')}"
    assert _comparable(remote.to_dict()) == _comparable(local.to_dict())
    assert remote.root.run is not None and remote.root.run.run_id == made["runs"]["train"]
    assert [r.run_id for r in remote.root.also_made_by] == [made["runs"]["trial"]]

    mine, theirs = receipt(model, source="local"), receipt(model, source="marquez")
    assert theirs.approval == mine.approval and theirs.approval is not None
    assert theirs.approval["requestId"] == "req-marquez"
    assert theirs.cost == mine.cost and theirs.recipe == mine.recipe
    assert [(r.name, r.digest) for r in theirs.inputs] == [(r.name, r.digest) for r in mine.inputs]
    assert theirs.links["artifact"] == (
        f"http://marquez-web.example/lineage/dataset/file/{quote(model)}")


def test_trace_by_digest_from_marquez(tracline_home: Path, marquez_url: str) -> None:
    """Content asked for by digest alone is found in Marquez and traced to raw.csv."""
    from tracline.hashing import digest_path
    from tracline.lineage import trace

    namespace = f"tracline-bydigest-{int(time.time())}"
    made = _recorded_pipeline(tracline_home.parent, namespace, marquez_url)
    digest = digest_path(made["train_csv"], cache=False).digest
    result = trace(digest, source="marquez")
    assert result.root.name == str(made["train_csv"])
    assert result.root.run is not None and result.root.run.run_id == made["runs"]["prepare"]
    assert [n.name for n in result.root.inputs] == [str(made["raw"])]


def test_schema_facets_in_marquez_dataset_api(tracline_home: Path, marquez_url: str) -> None:
    """The CSV files' columns (from their schema facet) are the dataset's fields in Marquez."""
    from tracline.marquez import _parse

    namespace = f"tracline-schema-{int(time.time())}"
    made = _recorded_pipeline(tracline_home.parent, namespace, marquez_url)
    dataset = get(marquez_url, f"/api/v1/namespaces/file/datasets/{quote(str(made['raw']))}")
    assert _parse.dataset_fields(dataset) == [("x", "INTEGER"), ("y", "DOUBLE"),
                                              ("label", "INTEGER")]
