"""Real events as tracline builds them, for tests that hold two serializations equal: every
facet tracline emits, text that is not ASCII, paths that are not UTF-8, fields left None,
enums, facets handed over as dicts."""

from __future__ import annotations

import os
from typing import Any

from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.serde import Serde

from tracline.events import Artifact, ParentRun, record_event, run_event
from tracline.facets import (
    CodeVersion,
    Estimate,
    Money,
    PackageRef,
    PackageSet,
    TraclineApprovalRunFacet,
    TraclineExecutionRunFacet,
    TraclineGpuCostRunFacet,
)
from tracline.record import FileRecord, RunRecord

DIGEST = "blake3:" + "ab" * 32
RUN = "01890a5d-ac96-774b-bcce-b302099a8057"
OTHER = "01890a5d-ac96-774b-bcce-b302099a8058"


def rich_record(files: int = 3) -> RunRecord:
    """A run's record with every fact capture records, odd paths and text included."""
    raw = os.fsdecode(b"/data/caf\xe9-latin1.bin")  # a byte that is not UTF-8
    return RunRecord(
        run_id=RUN, job="train.py", namespace="ml", argv=["python", "tr\u00e4in.py", raw],
        cwd="/w/\u65e5\u672c", started_at="2026-12-01T10:00:00+00:00",
        capture_mode="audit-hook", ended_at="2026-12-01T10:00:02.5+00:00", exit_code=0,
        wall_seconds=2.5,
        inputs=[
            FileRecord("/data/features.parquet", DIGEST, 1024, 1, "file",
                       schema=[("id", "int64"), ("na\u00efve", "string")]),
            FileRecord(raw, DIGEST, 7, 1, "file"),
            FileRecord("/data/\u00e9t\u00e9 \U0001f600.csv", DIGEST, 0, 1, None),
            FileRecord("/data/locked.csv", error="permission denied"),
            FileRecord("/data/shards", DIGEST, 4096, 12, "directory"),
            FileRecord("/data/back\\slash\\x41", DIGEST, 3, 1, "file"),
            *[FileRecord(f"/data/many/{i}.bin", DIGEST, i, 1, "file") for i in range(files)],
        ],
        outputs=[FileRecord("/models/model.pt", DIGEST, 2048, 1, "file"),
                 FileRecord("/models/empty", None, None)],
        code={"repository": "/w", "commit": "c" * 40, "branch": "main", "dirty": True,
              "diffDigest": DIGEST, "untracked": 2},
        packages=[("numpy", "2.1.0"), ("torch", "2.5.1+cu124")], package_digest=DIGEST,
        interpreter={"implementation": "cpython", "version": "3.11.7", "executable": "/py"},
        host={"hostname": "h\u00f6st", "os": "Linux", "platform": "Linux-6-x86_64",
              "cpuCount": 2},
        environment={"SEED": "1", "NOTE": "\u00fcber \u2603", "RAW": raw},
        gpu={"measurement": "measured", "gpuModel": "NVIDIA H100 80GB HBM3", "gpuCount": 2,
             "gpuSeconds": 5.0, "gpuUuids": ["GPU-1", "GPU-2"], "wallSeconds": 2.5,
             "meanUtilization": 87.5, "energyJoules": 2.5e6, "peakMemoryBytes": 70 * 2**30,
             "pricePerGpuHour": 12.29, "currency": "USD", "priceSource": "list price",
             "priceAsOf": "2026-11-01", "cost": 0.017},
        callable={"module": "pipeline.tasks", "qualname": "train", "file": "/w/tasks.py",
                  "sourceDigest": DIGEST},
        start_facets={"tracline_approval": Serde.to_dict(TraclineApprovalRunFacet(
            requestId="req-1", requestDigest="sha256:" + "cd" * 32, approvedBy=["user:chris"],
            decidedAt="2026-11-26T08:00:00+00:00", budget=Money(984.0, "USD"),
            producer="https://example.com/recorder"))},
        producer="https://example.com/recorder",
    )


def sparse_record() -> RunRecord:
    """A record with as few facts as capture ever gives (most fields None or empty)."""
    return RunRecord(run_id=OTHER, job="true", namespace="default", argv=["true"], cwd="/",
                     started_at="2026-12-01T10:00:00+00:00", capture_mode="strace")


def full_event(state: RunState | str) -> RunEvent:
    """``run_event`` with every tracline facet object, a parent with a root, an error, and a
    facet handed over as a dict holding None values and empty objects."""
    facets: dict[str, Any] = {
        "tracline_execution": TraclineExecutionRunFacet(
            argv=["python", "train.py", "--lr", "0.1"], cwd="/srv/job", exitCode=1,
            code=CodeVersion(commit="0" * 40, branch=None, dirty=False),
            packages=PackageSet(lockDigest=DIGEST, items=[PackageRef("numpy", "2.1.0")]),
            environment={"CUDA_VISIBLE_DEVICES": "0,1"}),
        "tracline_gpuCost": TraclineGpuCostRunFacet(
            measurement="estimated", gpuModel="A100", gpuCount=1, gpuSeconds=0.0),
        "tracline_approval": TraclineApprovalRunFacet(
            requestId="req-2", requestDigest="sha256:" + "ef" * 32, approvedBy=["user:ana"],
            decidedAt="2026-11-26T08:00:00+00:00", budget=Money(10.0, "EUR"),
            requester="agent:tuner", estimate=Estimate(8.5, "EUR", "1 \u00d7 2 h"),
            approvedGpuHours=2.0),
        "custom_handedOver": {"a": None, "b": [None, {}, {"c": None}, 1, "\u00e9"],
                              "d": {"e": None}, "f": [], "g": False, "h": 0},
    }
    return run_event(
        state, run_id=RUN, job_name="pipeline.train", namespace="tests",
        inputs=[Artifact.file("/data/features.parquet", DIGEST, 1024,
                              schema=[("x", "float")])],
        outputs=[Artifact.file("/models/model.pt", DIGEST, 2048, kind="file"),
                 Artifact.file("/models/unhashed")],
        parent=ParentRun(OTHER, "tests", "pipeline", OTHER, "tests", "pipeline"),
        run_facets=facets, job_type="TASK", engine=("Airflow", "3.3.2"),
        error=RuntimeError("boom \u2603") if state in ("FAIL", RunState.FAIL) else None,
        event_time="2026-12-01T10:00:00.123456+00:00", producer="https://example.com/p",
    )


def corpus() -> list[tuple[str, RunEvent]]:
    """(label, event) for each kind of event tracline builds."""
    events = [(f"record {state}", record_event(state, rich_record()))
              for state in ("START", "COMPLETE", "FAIL", "ABORT")]
    events += [(f"sparse {state}", record_event(state, sparse_record()))
               for state in ("START", "COMPLETE")]
    events += [(f"full {state}", full_event(state))
               for state in (RunState.START, RunState.RUNNING, "COMPLETE", "FAIL")]
    parentless = run_event("OTHER", run_id=OTHER, job_name="j", namespace="n",
                           parent=ParentRun(RUN, "n", "dag"), error="stopped by hand")
    events.append(("no root, error text", parentless))
    return events
