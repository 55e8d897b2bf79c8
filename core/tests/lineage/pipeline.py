"""A realistic prepare → train → evaluate pipeline on real files, recorded as real events.

Files are written for real and content-hashed with ``tracline.hashing``; each step's START
and COMPLETE events go through the outbox into the configured registry, exactly as
``tracline run`` would send them.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tracline.config import load_config
from tracline.delivery import Emitter
from tracline.events import Artifact, new_run_id, run_event
from tracline.facets import (
    CodeVersion,
    Estimate,
    Host,
    Interpreter,
    Money,
    PackageRef,
    PackageSet,
    TraclineApprovalRunFacet,
    TraclineExecutionRunFacet,
    TraclineGpuCostRunFacet,
)
from tracline.hashing import digest_path
from tracline.registry import Registry

HEADER = ["id", "sepal", "petal", "label"]


def write_csv(path: Path, rows: Sequence[Sequence[Any]], header: Sequence[str] = HEADER) -> Path:
    """Write rows (with a header) to a CSV file, creating its folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def raw_rows(count: int = 40) -> list[list[Any]]:
    return [[i, round(4 + i * 0.1, 2), round(1 + i * 0.05, 2), "ab"[i % 2]] for i in range(count)]


def artifact(path: Path) -> Artifact:
    """The artifact for a path as it is now."""
    d = digest_path(path, cache=False)
    return Artifact.file(str(path.resolve()), d.digest, d.size, d.file_count, d.kind)


class Recorder:
    """Records runs over real files into the registry through the outbox."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = load_config()
        self.emitter = Emitter(self.config, background=False)
        self.registry = Registry(self.config.registry_url)

    def run(self, job: str, inputs: Sequence[Path], outputs: Sequence[Path], *,
            argv: Sequence[str] | None = None, cost: float | None = None,
            approval: bool = False, packages: dict[str, str] | None = None,
            env: dict[str, str] | None = None, state: str = "COMPLETE") -> str:
        """Emit START (inputs) and COMPLETE (inputs + outputs) for one step; return its run id."""
        run_id = new_run_id()
        ins = [artifact(p) for p in inputs]
        facets: dict[str, Any] = {"tracline_execution": TraclineExecutionRunFacet(
            argv=list(argv or ["python", f"{job}.py"]), cwd=str(self.root), exitCode=0,
            captureMode="audit",
            code=CodeVersion(repository=str(self.root), commit="a" * 40, branch="main",
                             dirty=False),
            packages=PackageSet(lockDigest="blake3:" + "b" * 64, manager="pip", items=[
                PackageRef(n, v) for n, v in sorted((packages or {"numpy": "2.1.0"}).items())]),
            interpreter=Interpreter("CPython", "3.11.9", "/usr/bin/python3"),
            host=Host("worker-1", "Linux", "Linux-6.1-x86_64", 16),
            environment=env or {"PYTHONHASHSEED": "0"},
        )}
        if cost is not None:
            facets["tracline_gpuCost"] = TraclineGpuCostRunFacet(
                measurement="measured", gpuModel="NVIDIA H100 80GB HBM3", gpuCount=2,
                gpuSeconds=7200.0, pricePerGpuHour=cost / 4, currency="USD",
                priceSource="price table", priceAsOf="2025-01-01", cost=cost)
        if approval:
            facets["tracline_approval"] = TraclineApprovalRunFacet(
                requestId="req-42", requestDigest="blake3:" + "c" * 64, approvedBy=["user:alice"],
                decidedAt="2025-01-02T10:00:00+00:00", budget=Money(50.0, "USD"),
                requester="agent:trainer", estimate=Estimate(40.0, "USD", "2 x H100 x 2 h x 10"),
                approvedGpuHours=4.0)
        common = {"run_id": run_id, "job_name": job, "namespace": "tests"}
        self.emitter.emit(run_event("START", inputs=ins, run_facets=facets, **common))
        outs = [artifact(p) for p in outputs]
        self.emitter.emit(run_event(state, inputs=ins, outputs=outs, **common))
        report = self.emitter.flush(10)
        assert report.complete, report
        return run_id


class Pipeline:
    """raw.csv → prepare → train.csv, test.csv → train → model.bin → evaluate → metrics.json."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.raw = root / "data" / "raw.csv"
        self.train_csv = root / "data" / "train.csv"
        self.test_csv = root / "data" / "test.csv"
        self.params = root / "params.json"
        self.model = root / "models" / "model.bin"
        self.metrics = root / "reports" / "metrics.json"
        self.recorder = Recorder(root)
        self.runs: dict[str, str] = {}

    def prepare(self, rows: list[list[Any]] | None = None) -> None:
        rows = rows if rows is not None else raw_rows()
        write_csv(self.raw, rows)
        write_csv(self.train_csv, rows[: len(rows) * 3 // 4])
        write_csv(self.test_csv, rows[len(rows) * 3 // 4 :])
        self.runs["prepare"] = self.recorder.run(
            "prepare", [self.raw], [self.train_csv, self.test_csv])

    def train(self, extra_inputs: Sequence[Path] = ()) -> None:
        self.params.write_text(json.dumps({"lr": 0.1, "epochs": 3}))
        self.model.parent.mkdir(parents=True, exist_ok=True)
        self.model.write_bytes(b"weights:" + self.train_csv.read_bytes()[:64])
        self.runs["train"] = self.recorder.run(
            "train", [self.train_csv, self.params, *extra_inputs], [self.model],
            argv=["python", "train.py", "--lr", "0.1"], cost=20.0, approval=True)

    def evaluate(self) -> None:
        self.metrics.parent.mkdir(parents=True, exist_ok=True)
        self.metrics.write_text(json.dumps({"accuracy": 0.93}))
        self.runs["evaluate"] = self.recorder.run(
            "evaluate", [self.model, self.test_csv], [self.metrics], cost=1.5)

    def all(self) -> Pipeline:
        self.prepare()
        self.train()
        self.evaluate()
        return self
