"""Native I/O inside Airflow tasks: Parquet, NumPy, HDF5 and a C program, seen by capture's
interposer in the task process (the worker started with it preloaded, as the set-up says)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from _airflow_harness import AirflowEnv

from tracline.lineage import trace
from tracline.registry import Registry

DAGS = Path(__file__).with_name("native_dags")
PACK = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    char buf[4096]; size_t n;
    if (!in || !out) return 1;
    fputs("MODEL v1\n", out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    return fclose(in) || fclose(out);
}
"""
EXPECTED = {
    "featurize": ({"raw.csv"}, {"features.parquet"}),
    "arrays": ({"features.parquet"}, {"matrix.npy", "cache.dat"}),
    "store": ({"cache.dat"}, {"weights.h5"}),
    "pack": ({"weights.h5"}, {"model.bin"}),
}


def _blake3(path: Path) -> str:
    import blake3

    return "blake3:" + blake3.blake3(path.read_bytes()).hexdigest()


def _packages(event: dict[str, Any]) -> set[str]:
    execution = event["run"]["facets"]["tracline_execution"]
    return {p["name"].lower() for p in (execution.get("packages") or {}).get("items", [])}


def _terminal(events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["job"]["name"] == f"native_io.{task_id}"
                and e["eventType"] in {"COMPLETE", "FAIL"}]
    return event


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler for the C step")
def test_native_io_pipeline_under_airflow(airflow: AirflowEnv) -> None:
    """Every file of every task, whichever library opened it, is recorded with its BLAKE3
    digest, captureMode says the interposer saw it, each task's recipe is its own callable or
    bash command with its own packages (not Airflow's), and the trace of the model reaches the
    raw data."""
    pytest.importorskip("h5py")
    data = airflow.root / "native-data"
    data.mkdir()
    (data / "raw.csv").write_text("id,text\n1,hello\n2,world\n3,lineage\n")
    (airflow.root / "pack.c").write_text(PACK)
    subprocess.run(["cc", "-O1", "-o", str(airflow.root / "pack"), str(airflow.root / "pack.c")],
                   check=True)
    env = airflow.with_env(AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), NATIVE_DATA=str(data),
                           NATIVE_PACK=str(airflow.root / "pack"))
    code, output = airflow.test_dag("native_io", env=env)
    assert code == 0, output[-4000:]
    airflow.run("tracline", "outbox", "flush", "--timeout", "600", env=env, check=True)
    events = airflow.server.events()
    for task_id, (inputs, outputs) in EXPECTED.items():
        event = _terminal(events, task_id)
        assert event["eventType"] == "COMPLETE", task_id
        execution = event["run"]["facets"]["tracline_execution"]
        assert execution["captureMode"] == "preload", task_id
        seen_in = {Path(d["name"]).name: d for d in event["inputs"] if d["namespace"] == "file"}
        seen_out = {Path(d["name"]).name: d for d in event["outputs"]
                    if d["namespace"] == "file"}
        assert set(seen_in) == inputs, task_id
        assert set(seen_out) == outputs, task_id
        for name, dataset in {**seen_in, **seen_out}.items():
            digest = dataset["facets"]["tracline_contentHash"]["digest"]
            assert digest == _blake3(data / name), name
        # The task's own recipe, not `airflow dags test ...` and Airflow's packages.
        packages = {p["name"].lower() for p in (execution.get("packages") or {}).get("items", [])}
        assert "apache-airflow" not in packages, task_id
        if task_id == "pack":
            assert execution["argv"][:2] == ["bash", "-c"]
            assert "model.bin" in execution["argv"][2]
        else:
            assert execution["argv"] == [], task_id
            assert execution["callable"]["qualname"].endswith(task_id), task_id
            assert execution["callable"]["sourceDigest"].startswith("blake3:")
    assert "pandas" in _packages(_terminal(events, "featurize"))
    assert "h5py" in _packages(_terminal(events, "store"))
    registry = Registry(f"sqlite:///{airflow.server.db}")
    try:
        reached = {node.name for node in trace(str(data / "model.bin"),
                                               registry=registry).artifacts()}
    finally:
        registry.close()
    assert str(data / "raw.csv") in reached
