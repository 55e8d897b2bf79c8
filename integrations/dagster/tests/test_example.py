"""examples/dagster works as docs/dagster.md tells it: the data assets materialise with
content digests, a request filed and approved with tracline's CLI launches the training job
once through the approval sensor, and `tracline trace` of the model reaches the raw data."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import blake3
import dagster as dg
import pytest
from _dagster_harness import Project

from tracline.approvals import State
from tracline_dagster import TraclineResource

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "dagster"
TRACLINE = str(Path(sys.executable).parent / "tracline")


def _cli(root: Path, *args: str) -> str:
    done = subprocess.run([TRACLINE, *args], capture_output=True, text=True, cwd=root,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def example(project: Project) -> Any:
    """The example copied into the project folder and its Definitions loaded from there."""
    for item in EXAMPLE.iterdir():
        if item.is_dir():
            shutil.copytree(item, project.root / item.name, dirs_exist_ok=True)
        else:
            shutil.copy2(item, project.root / item.name)
    spec = importlib.util.spec_from_file_location("house_prices_example",
                                                  project.root / "definitions.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_example_end_to_end(example: Any, project: Project) -> None:
    """Data assets get BLAKE3 data versions; the approved request launches one training run
    (none before the approval) that completes it; the model's trace reaches houses.csv and
    its receipt shows the approval."""
    resources = {"tracline": TraclineResource()}
    assert dg.materialize([example.cleaned_houses, example.features], resources=resources,
                          instance=project.instance).success
    event = project.instance.get_latest_materialization_event(dg.AssetKey("features"))
    assert event is not None and event.asset_materialization is not None
    features = project.data / "features.json"
    assert event.asset_materialization.tags["dagster/data_version"] == (
        "blake3:" + blake3.blake3(features.read_bytes()).hexdigest())

    filed = json.loads(_cli(
        project.root, "request", "file", "--json", "--title", "Fit the house-price model",
        "--requester", "agent:trainer", "--as", "agent:trainer", "--project", "house-prices",
        "--dataset", "data/features.json", "--gpu", "H100", "--gpus", "1", "--hours", "0.5",
        "--budget", "10", "--rationale", "Refit after new sales data.",
        "--reviewer", "user:chris"))
    request_id = filed["id"]
    sensor = example.defs.resolve_sensor_def("training_approvals")

    def tick(cursor: str | None = None) -> Any:
        return sensor.evaluate_tick(dg.build_sensor_context(
            instance=project.instance, cursor=cursor, resources=resources,
            definitions=example.defs))

    waiting = tick()
    assert waiting.run_requests == []
    _cli(project.root, "request", "approve", request_id, "--as", "user:chris")
    launched = tick(waiting.cursor)
    (run_request,) = launched.run_requests
    result = example.defs.resolve_job_def("training").execute_in_process(
        instance=project.instance, tags=run_request.tags)
    assert result.success
    settled = tick(launched.cursor)
    assert f"{request_id} settled as completed" in (settled.skip_message or "")
    with closing(project.requests()) as service:
        assert service.get(request_id).state == State.COMPLETED

    _cli(project.root, "outbox", "flush")
    trace = _cli(project.root, "trace", "data/model.json")
    assert "features.json" in trace and "houses.csv" in trace, trace
    receipt = _cli(project.root, "receipt", "data/model.json")
    assert request_id in receipt and "user:chris" in receipt, receipt
