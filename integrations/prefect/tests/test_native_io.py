"""Native I/O inside Prefect tasks: Parquet, NumPy (save, load, memmap), HDF5 and a C program,
seen by capture's interposer in the flow-run process that the worker started (preloaded there
by tracline's Prefect plugin)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import blake3
import pytest
from _prefect_harness import TEST_FLOWS, PrefectEnv

from tracline.lineage import trace
from tracline.registry import Registry

PACK = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    char buf[4096]; size_t n;
    if (!in || !out) return 1;
    fputs("MODEL v1\n", out);  /* a model, not a byte copy of its input */
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


def _terminal(events: list[dict[str, Any]], task: str) -> dict[str, Any]:
    (event,) = [e for e in events if e["job"]["name"] == f"native-io.{task}"
                and e["eventType"] in {"COMPLETE", "FAIL"}]
    return event


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler for the C step")
def test_native_io_pipeline_under_prefect(prefect_env: PrefectEnv, tmp_path: Path) -> None:
    """Every file of every task, whichever library opened it, is recorded with its BLAKE3
    digest, captureMode says the interposer saw it, and the trace of the model reaches the
    raw data."""
    data = tmp_path / "native-data"
    data.mkdir()
    (data / "raw.csv").write_text("id,text\n1,hello\n2,world\n3,lineage\n")
    (tmp_path / "pack.c").write_text(PACK)
    program = tmp_path / "pack"
    subprocess.run(["cc", "-O1", "-o", str(program), str(tmp_path / "pack.c")], check=True)
    deployment = prefect_env.deploy(TEST_FLOWS, "native_io.py:native_io", name="native-io")
    run = prefect_env.run(deployment, data=str(data), pack_program=str(program))
    final = prefect_env.wait_final(run)
    assert final.state.is_completed(), prefect_env.logs(run)
    events = prefect_env.events(run)
    for task, (inputs, outputs) in EXPECTED.items():
        event = _terminal(events, task)
        assert event["eventType"] == "COMPLETE", task
        assert event["run"]["facets"]["tracline_execution"]["captureMode"] == "preload", task
        seen_in = {Path(d["name"]).name: d for d in event["inputs"] if d["namespace"] == "file"}
        seen_out = {Path(d["name"]).name: d for d in event["outputs"]
                    if d["namespace"] == "file"}
        assert set(seen_in) == inputs, (task, sorted(seen_in))
        assert set(seen_out) == outputs, (task, sorted(seen_out))
        for name, dataset in {**seen_in, **seen_out}.items():
            digest = dataset["facets"]["tracline_contentHash"]["digest"]
            assert digest == "blake3:" + blake3.blake3((data / name).read_bytes()).hexdigest()
    registry = Registry(f"sqlite:///{prefect_env.home / 'tracline.db'}")
    try:
        reached = {node.name for node in trace(str(data / "model.bin"),
                                               registry=registry).artifacts()}
    finally:
        registry.close()
    assert str(data / "raw.csv") in reached, sorted(reached)
