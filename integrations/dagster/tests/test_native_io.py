"""Native I/O under Dagster: a pipeline whose steps read and write through pyarrow (Parquet),
NumPy (save/load, memmap), h5py and a C program, materialised by Dagster's own CLI with the
run's processes started the way docs/dagster.md says (tracline's interposer preloaded):
every file appears with its BLAKE3 digest, the data versions are those digests, and
`tracline trace` of the model reaches the raw data."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import blake3
import dagster as dg
import pytest
from _dagster_harness import DEFS, Project

from tracline.capture import worker_environment

BIN = Path(sys.executable).parent
FILES = {"features": "features.parquet", "arrays": "arrays.npy", "scaled": "scaled.mmap",
         "table": "table.h5", "model": "model.bin"}


def _digest(path: Path) -> str:
    return "blake3:" + blake3.blake3(path.read_bytes()).hexdigest()


def test_native_io_pipeline_is_captured_end_to_end(project: Project, tmp_path: Path) -> None:
    """Parquet, .npy, memmap, HDF5 and a C program's reads and writes are all seen, with
    their digests; `tracline trace data/model.bin` walks back to data/raw.csv."""
    if shutil.which("cc") is None:
        pytest.fail("no C compiler: run scripts/system-deps.sh")
    reader = tmp_path / "reader"
    subprocess.run(["cc", "-O1", "-o", str(reader), str(DEFS / "reader.c")], check=True)
    rows = "\n".join(f"{i},{i * 3 % 17 + 1}" for i in range(1, 200))
    (project.data / "raw.csv").write_text("id,value\n" + rows + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACLINE", "DAGSTER"))
           or k.startswith("TRACLINE_TEST_")}
    env.update(worker_environment(env), DAGSTER_HOME=str(project.dagster_home),
               TRACLINE_TEST_READER=str(reader))
    done = subprocess.run(
        [str(BIN / "dagster"), "asset", "materialize", "-f", str(DEFS / "native_io.py"),
         "-d", str(project.root), "--select", "*"],
        cwd=project.root, env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    events = project.events()
    seen = {}
    for event in events:
        if event["eventType"] != "COMPLETE":
            continue
        assert event["run"]["facets"]["tracline_execution"]["captureMode"] == "preload"
        for role in ("inputs", "outputs"):
            for dataset in event[role]:
                seen[(Path(dataset["name"]).name, role)] = (
                    dataset["facets"]["version"]["datasetVersion"])
    for name in ("raw.csv", *FILES.values()):
        digest = _digest(project.data / name)
        if name != "model.bin":
            assert seen.get((name, "inputs")) == digest, (name, "read", sorted(seen))
        if name != "raw.csv":
            assert seen.get((name, "outputs")) == digest, (name, "written", sorted(seen))
    for asset, name in FILES.items():
        event = project.instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert event is not None and event.asset_materialization is not None
        assert event.asset_materialization.tags["dagster/data_version"] == _digest(
            project.data / name), asset
    trace = subprocess.run([str(BIN / "tracline"), "trace", "data/model.bin"], cwd=project.root,
                           capture_output=True, text=True, timeout=300)
    assert trace.returncode == 0, trace.stdout + trace.stderr
    for name in ("raw.csv", "features.parquet", "arrays.npy", "scaled.mmap", "table.h5"):
        assert name in trace.stdout, trace.stdout
