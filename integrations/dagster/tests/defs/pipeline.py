"""Definitions the tests load: a three-asset pipeline over files, and a gated training asset.

Paths are relative to the working directory (the test's project folder), as a Dagster code
location's are.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import dagster as dg

from tracline_dagster import TraclineResource, approval_sensor, lineage_sensor, traced

DATA = Path("data")


@dg.asset
@traced
def raw() -> None:
    """Copies the source file."""
    (DATA / "raw.csv").write_bytes((DATA / "source.csv").read_bytes())


@dg.asset(deps=[raw])
@traced
def features(context: dg.AssetExecutionContext) -> None:
    """Upper-cases the raw rows."""
    text = (DATA / "raw.csv").read_text()
    (DATA / "features.csv").write_text(text.upper())
    context.log.info("features written")


@dg.asset(deps=[features])
@traced
def model() -> dg.MaterializeResult:
    """'Trains' on the features: their length and checksum of characters."""
    text = (DATA / "features.csv").read_text()
    (DATA / "model.bin").write_bytes(f"{len(text)}:{sum(map(ord, text))}".encode())
    return dg.MaterializeResult(metadata={"rows": text.count("\n")})


class Work(dg.Config):
    """What the gated training asset does (set per run by the tests)."""

    marker: str = "ran"
    fail: bool = False
    seconds: float = 0.0
    #: A grandchild process (under a shell) that keeps writing to this file; its pid goes to
    #: the file's name + ".pid" (for the time-limit test).
    child_writes: str = ""


@dg.asset
@traced
def train(config: Work) -> None:
    """The expensive step: appends a line to the marker, optionally runs long or fails."""
    with open(config.marker, "a") as handle:
        handle.write("ran\n")
    if config.child_writes:
        script = ("import time,sys\nwhile True:\n    open(sys.argv[1],'a').write('x\\n')\n"
                  "    time.sleep(0.05)\n")
        out = config.child_writes
        # In a session of its own: only a stop of the step's whole tree reaches it.
        subprocess.Popen(["bash", "-c", 'setsid "$0" -c "$1" "$2" & echo $! > "$2.pid"; wait',
                          sys.executable, script, out])
    if config.seconds:
        time.sleep(config.seconds)
    if config.fail:
        raise RuntimeError("the work failed")
    (DATA / "trained.bin").parent.mkdir(exist_ok=True)
    (DATA / "trained.bin").write_bytes(b"weights")


train_job = dg.define_asset_job("train_job", selection=[train])

defs = dg.Definitions(
    assets=[raw, features, model, train],
    jobs=[train_job],
    sensors=[
        approval_sensor(train_job, project="conformance", minimum_interval_seconds=1,
                        run_config=lambda request: {"ops": {"train": {"config": {
                            "marker": "data/launched"}}}}),
        approval_sensor(train_job, project="overtime", name="overtime_approvals",
                        minimum_interval_seconds=1,
                        run_config=lambda request: {"ops": {"train": {"config": {
                            "marker": "data/overtime", "seconds": 600,
                            "child_writes": "data/child.out"}}}}),
        lineage_sensor(minimum_interval_seconds=1),
    ],
    resources={"tracline": TraclineResource()},
)
