"""tracline run's events: the same JSON as tracline.events.run_event builds, schema-valid."""

from __future__ import annotations

import json
from typing import Any

from tracline.capture import FileRecord, RunRecord
from tracline.capture._recipe import CodeInfo
from tracline.capture._record import event_dict, event_json, new_run_id
from tracline.events import Artifact, event_to_dict, run_event
from tracline.gpu.cost import GpuCost
from tracline.testing import assert_valid_events


def _record() -> RunRecord:
    record = RunRecord(
        run_id=new_run_id(), job="train.py", namespace="ml", argv=["python", "train.py"],
        cwd="/w", started_at="2025-01-01T00:00:00+00:00", capture_mode="audit-hook",
        exit_code=3, wall_seconds=2.5,
        inputs=[FileRecord("/w/a.csv", "blake3:" + "a" * 64, 10, 1, "file"),
                FileRecord("/w/locked.csv", error="permission denied")],
        outputs=[FileRecord("/w/m.pt", "blake3:" + "b" * 64, 20, 1, "file")],
        code=CodeInfo(repository="/w", commit="c" * 40, branch="main", dirty=True,
                      diffDigest="blake3:" + "d" * 64, untracked=2),
        packages=[("numpy", "2.1.0")], package_digest="blake3:" + "e" * 64,
        interpreter={"implementation": "cpython", "version": "3.11.7", "executable": "/py"},
        host={"hostname": "h", "os": "Linux", "platform": "Linux-6-x86_64", "cpuCount": 2},
        environment={"SEED": "1"},
        gpu=GpuCost("declared", "H100", 2, 5.0, wall_seconds=2.5, price_per_gpu_hour=12.29,
                    currency="USD", price_source="s", price_as_of="2024-06-01", cost=0.017),
    )
    return record


def _without_time(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "eventTime"}


def test_dict_events_equal_run_event() -> None:
    """The fast JSON builder gives exactly what run_event + openlineage's serializer give."""
    record = _record()
    ours = event_dict("FAIL", record, event_time="2025-01-01T00:00:02+00:00",
                      run_facets=record.facet_dicts())
    theirs = event_to_dict(run_event(
        "FAIL", run_id=record.run_id, job_name=record.job, namespace=record.namespace,
        inputs=[Artifact.file(f.path, f.digest, f.size, f.file_count, f.kind)
                for f in record.inputs],
        outputs=record.output_artifacts(), run_facets=record.run_facets(),
        error="command exited with status 3",
    ))
    assert _without_time(ours) == _without_time(theirs)


def test_event_json_is_event_dict_serialized() -> None:
    """The direct JSON of a finished run's event is byte for byte the outbox's json.dumps."""
    record = _record()
    record.inputs += [FileRecord("/w/d\u00e9j\u00e0 \"q\"\\\t.csv", "sha256:" + "f" * 64, 0, 3,
                                 "directory"),
                      FileRecord("/w/\udcff-raw", "blake3:" + "1" * 64, None, 1, None),
                      FileRecord("/w/a.csv", "blake3:" + "2" * 64, 5, 1, "file", modified=True)]
    record.outputs.append(FileRecord("/w/gone", error="removed"))
    for state in ("COMPLETE", "FAIL"):
        payload, data = event_json(state, record, event_time="2025-01-01T00:00:02+00:00",
                                   run_facets=record.facet_dicts())
        full = event_dict(state, record, event_time="2025-01-01T00:00:02+00:00",
                          run_facets=record.facet_dicts())
        assert payload == json.dumps(full, separators=(",", ":"), sort_keys=True)
        assert data == {**full, "inputs": [], "outputs": []}


def test_events_validate_against_the_schemas() -> None:
    """START and FAIL events validate against OpenLineage's and tracline's schemas."""
    record = _record()
    start = event_dict("START", record, event_time=record.started_at, with_files=False,
                       run_facets=record.facet_dicts())
    end = event_dict("FAIL", record, event_time="2025-01-01T00:00:02+00:00",
                     run_facets=record.facet_dicts())
    assert_valid_events([start, end])


def test_run_ids_are_uuid7_and_ordered() -> None:
    """Run ids are RFC 4122 version-7 UUIDs that sort by creation time."""
    import uuid

    ids = [new_run_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
