"""capture_in_process: what an orchestrator task did inside the orchestrator's own process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tracline.capture import capture_in_process
from tracline.events import file_dataset, record_facets
from tracline.facets import TraclineExecutionRunFacet

from .helpers import blake3_of, write


def test_task_files_children_and_facets(tracline_home: Path) -> None:
    """Opens in the process and in a child are recorded, digested, and facets come as objects."""
    root = tracline_home.parent
    write(root / "raw.csv", "a,b\n")
    before = root / "before.txt"
    before.write_text("opened before the capture: not the task's")
    with capture_in_process(job="task", argv=["airflow", "tasks", "run"]) as capture:
        data = (root / "raw.csv").read_text()
        (root / "features.csv").write_text(data.upper())
        subprocess.run([sys.executable, "-c",
                        "open('child_out.txt', 'w').write(open('raw.csv').read())"],
                       cwd=root, check=True)
    record = capture.record
    assert [f.path for f in record.inputs] == [str(root / "raw.csv")]
    assert sorted(f.path for f in record.outputs) == [str(root / "child_out.txt"),
                                                      str(root / "features.csv")]
    assert record.inputs[0].digest == blake3_of(root / "raw.csv")
    facets = record_facets(record)
    assert isinstance(facets["tracline_execution"], TraclineExecutionRunFacet)
    assert facets["tracline_execution"].argv == ["airflow", "tasks", "run"]
    dataset = file_dataset(record.inputs[0], "input")
    assert dataset.facets["version"].datasetVersion == blake3_of(root / "raw.csv")


def test_nothing_is_recorded_after_the_block(tracline_home: Path) -> None:
    """The hook is idle once the block ends: later opens belong to no capture."""
    root = tracline_home.parent
    write(root / "in.txt", "x")
    with capture_in_process(job="first") as first:
        (root / "in.txt").read_text()
    (root / "late.txt").write_text("after")
    with capture_in_process(job="second") as second:
        pass
    assert [f.path for f in first.record.outputs] == []
    assert second.record.inputs == second.record.outputs == []


def test_failing_task_is_recorded_and_the_error_propagates(tracline_home: Path) -> None:
    """A task that raises is recorded as failed, its exception goes on to the orchestrator."""
    with pytest.raises(KeyError), capture_in_process(job="boom", emit=True) as capture:
        raise KeyError("x")
    assert capture.record.exit_code == 1
    assert "KeyError" in capture.record.warnings[-1]


def test_disabled_capture_records_nothing(tracline_home: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACLINE_DISABLED=1: the block runs and nothing is observed."""
    from tracline.config import reset_config

    monkeypatch.setenv("TRACLINE_DISABLED", "1")
    reset_config()
    with capture_in_process(job="off") as capture:
        (tracline_home.parent / "x.txt").write_text("x")
    assert capture.record.capture_mode == "in-process"
    assert capture.record.outputs == []
    assert not tracline_home.exists()


#: A worker process started with the interposer preloaded runs two tasks in-process.
WORKER = """
import json, subprocess, sys
import numpy as np, pyarrow as pa, pyarrow.parquet as pq
from tracline.capture import capture_in_process

open("outside.txt", "w").write("the worker's own, before any task")
with capture_in_process(job="featurize") as first:
    pq.write_table(pa.table({"x": [1, 2, 3]}), "features.parquet")
    np.save("matrix.npy", np.arange(3))
    subprocess.run(["sh", "-c", "cat raw.txt > copied.txt"], env={}, check=True)
open("between.txt", "w").write("between tasks")
with capture_in_process(job="train") as second:
    table = pq.read_table("features.parquet")
    kept = np.memmap("kept.dat", dtype="int64", mode="w+", shape=(3,))
    kept[:] = np.load("matrix.npy")
    kept.flush()
json.dump({name: {"mode": c.record.capture_mode,
                  "in": sorted(f.path for f in c.record.inputs),
                  "out": sorted(f.path for f in c.record.outputs),
                  "digests": {f.path: f.digest for f in c.record.inputs + c.record.outputs}}
           for name, c in (("first", first), ("second", second))}, sys.stdout)
"""


def test_preloaded_worker_sees_native_io(tracline_home: Path) -> None:
    """In a worker started with the interposer preloaded (worker_environment), each in-process
    capture records the files native code opens (Arrow, NumPy, a child with its own
    environment), digested, and nothing outside the captures."""
    import json
    import os

    from tracline.capture import worker_environment

    root = tracline_home.parent
    write(root / "raw.txt", "raw")
    write(root / "worker.py", WORKER)
    env = {**os.environ, **worker_environment()}
    assert "LD_PRELOAD" in env
    done = subprocess.run([sys.executable, "worker.py"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["first"]["mode"] == found["second"]["mode"] == "preload"
    assert found["first"]["in"] == [str(root / "raw.txt")]
    assert found["first"]["out"] == [str(root / n) for n in
                                     ("copied.txt", "features.parquet", "matrix.npy")]
    assert found["second"]["in"] == [str(root / n) for n in ("features.parquet", "matrix.npy")]
    assert found["second"]["out"] == [str(root / "kept.dat")]
    for record in found.values():
        for path, digest in record["digests"].items():
            assert digest == blake3_of(Path(path)), path


def test_worker_without_the_interposer_says_what_it_misses(tracline_home: Path) -> None:
    """Without the interposer preloaded, an in-process capture falls back to audit hooks and
    its captureMode says that native code's files are not observed, and how to see them."""
    with capture_in_process(job="task") as capture:
        pass
    mode = capture.record.capture_mode
    assert mode.startswith("audit-hook; files opened by native code")
    assert "LD_PRELOAD=" in mode


#: A worker that has loaded "orchestrator" libraries before the task, whose task is a callable.
RECIPE_WORKER = """
import json, sys
import attrs, click                      # the orchestrator's world, loaded before the task
import numpy as np                       # the task's module refers to it
from tracline.capture import capture_in_process
from tracline.events import record_facets, to_dict

def featurize():
    import pyarrow                       # imported while the task runs
    return np.arange(3).sum()

with capture_in_process(job="t", function=featurize) as task:
    featurize()
with capture_in_process(job="b", command="sort raw.txt > out.txt") as bash:
    pass
facet = to_dict(record_facets(task.record)["tracline_execution"])
print(json.dumps({"argv": task.record.argv, "callable": task.record.callable,
                  "facet_callable": facet["callable"],
                  "packages": [name for name, _ in task.record.packages],
                  "bash_argv": bash.record.argv}))
"""


def test_task_recipe_is_the_callable_and_its_own_packages(tracline_home: Path) -> None:
    """A task given as a callable is recorded as its module, qualified name, file and source
    digest (no argv of the worker), with the packages it imported or refers to — not those
    the worker loaded before it; a shell task's argv is its command."""
    import json

    import blake3

    root = tracline_home.parent
    write(root / "worker.py", RECIPE_WORKER)
    done = subprocess.run([sys.executable, "worker.py"], cwd=root, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert found["argv"] == []
    recipe = found["callable"]
    assert (recipe["module"], recipe["qualname"]) == ("__main__", "featurize")
    assert recipe["file"] == str(root / "worker.py")
    source = "def featurize():\n    import pyarrow                       # imported while the " \
             "task runs\n    return np.arange(3).sum()\n"
    assert recipe["sourceDigest"] == "blake3:" + blake3.blake3(source.encode()).hexdigest()
    assert found["facet_callable"] == recipe
    packages = {name.lower() for name in found["packages"]}
    assert {"numpy", "pyarrow"} <= packages
    assert not packages & {"attrs", "click", "tracline"}
    assert found["bash_argv"] == ["bash", "-c", "sort raw.txt > out.txt"]
