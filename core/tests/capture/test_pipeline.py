"""A real three-step pipeline run step by step with `tracline run`."""

from __future__ import annotations

import json
from pathlib import Path

from tracline.registry import Registry
from tracline.testing import assert_valid_events

from .conftest import Run
from .helpers import PYTHON, blake3_of, delivered, digests, last, names, read_events, write

PREPARE = """
import csv
rows = list(csv.reader(open("data/raw.csv")))
with open("work/features.csv", "w", newline="") as out:
    csv.writer(out).writerows([r + [str(len(r[1]))] for r in rows])
"""
TRAIN = """
import json, os, tempfile
features = open("work/features.csv").read().splitlines()
weights = {"rows": len(features), "bias": sum(len(f) for f in features) % 7}
scratch = tempfile.NamedTemporaryFile("w", delete=False)   # temp files are noise
scratch.write("checkpoint"); scratch.close(); os.unlink(scratch.name)
with open("work/model.pt.tmp", "wb") as out:                  # written, then renamed
    out.write(json.dumps(weights).encode())
os.replace("work/model.pt.tmp", "work/model.pt")
"""
EVALUATE = """
import json
model = json.loads(open("work/model.pt", "rb").read())
test = open("data/test.csv").read().splitlines()
json.dump({"accuracy": model["bias"] / 7, "n": len(test)}, open("work/metrics.json", "w"))
"""


def _project(root: Path) -> None:
    write(root / "data/raw.csv", "id,text\n1,hello\n2,world\n3,lineage\n")
    write(root / "data/test.csv", "id,text\n9,held out\n")
    write(root / "prepare.py", PREPARE)
    write(root / "train.py", TRAIN)
    write(root / "evaluate.py", EVALUATE)
    (root / "work").mkdir()


def test_three_steps_record_exactly_their_inputs_and_outputs(
    tracline_run: Run, tracline_home: Path
) -> None:
    """Each step records exactly the files it read and wrote, with independently equal digests."""
    root = tracline_home.parent
    _project(root)
    expected = {
        "prepare.py": ({"data/raw.csv"}, {"work/features.csv"}),
        "train.py": ({"work/features.csv"}, {"work/model.pt"}),
        "evaluate.py": ({"work/model.pt", "data/test.csv"}, {"work/metrics.json"}),
    }
    for script in expected:
        done = tracline_run("--", PYTHON, script)
        assert done.returncode == 0, done.stderr
        assert done.stderr == "", done.stderr
    for job, (inputs, outputs) in expected.items():
        event = last(tracline_home, job)
        assert event["eventType"] == "COMPLETE"
        assert names(event["inputs"], root) == inputs, job
        assert names(event["outputs"], root) == outputs, job
        for name, digest in digests(event["inputs"] + event["outputs"]).items():
            assert digest == blake3_of(Path(name)), name
    assert_valid_events(read_events(tracline_home))


def test_pipeline_lands_in_the_registry_with_digests(
    tracline_run: Run, tracline_home: Path
) -> None:
    """The registry indexes every step's run and links model.pt's digest to the train run."""
    root = tracline_home.parent
    _project(root)
    for script in ("prepare.py", "train.py", "evaluate.py"):
        assert tracline_run("--", PYTHON, script).returncode == 0
    delivered(tracline_home)
    registry = Registry(f"sqlite:///{tracline_home / 'tracline.db'}")
    try:
        runs = {r.job_name: r for r in registry.runs()}
        assert set(runs) == {"prepare.py", "train.py", "evaluate.py"}
        assert all(r.state == "COMPLETE" for r in runs.values())
        producers = registry.producers(blake3_of(root / "work/model.pt"))
        assert [p.run_id for p in producers] == [runs["train.py"].run_id]
    finally:
        registry.close()


def test_recipe_of_a_step(tracline_run: Run, tracline_home: Path) -> None:
    """The execution facet carries argv, cwd, exit code, interpreter and host, never tracline."""
    root = tracline_home.parent
    _project(root)
    assert tracline_run("--job", "prep", "--", PYTHON, "prepare.py", "--seed", "3").returncode == 0
    execution = last(tracline_home, "prep")["run"]["facets"]["tracline_execution"]
    assert execution["argv"] == [PYTHON, "prepare.py", "--seed", "3"]
    assert execution["cwd"] == str(root)
    assert execution["exitCode"] == 0
    assert execution["captureMode"] == "preload"
    assert execution["interpreter"]["executable"]
    assert execution["host"]["cpuCount"] >= 1
    packages = [p["name"].lower() for p in execution.get("packages", {}).get("items", [])]
    assert not [p for p in packages if p.startswith("tracline")]
    assert json.dumps(execution).count("sitecustomize") == 0


def test_background_delivery_reaches_the_sinks(tracline_run: Run, tracline_home: Path) -> None:
    """By default `tracline run` returns at once and a detached delivery fills the sinks."""
    import time

    root = tracline_home.parent
    _project(root)
    done = tracline_run("--", PYTHON, "prepare.py", deliver="background")
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(read_events(tracline_home)) < 2:
        time.sleep(0.1)
    assert [e["eventType"] for e in read_events(tracline_home)] == ["START", "COMPLETE"]
