"""Run records and their events: facts round-trip as JSON, the one builder makes valid events."""

from __future__ import annotations

import json
import os
from typing import Any

from tracline.capture import FileRecord, RunRecord
from tracline.capture._names import new_run_id
from tracline.events import (
    Artifact,
    dataset_name,
    expand_record,
    path_bytes,
    record_event,
    run_event,
    to_dict,
)
from tracline.testing import assert_valid_events

PRODUCER = "https://example.com/recorder"


def _record() -> RunRecord:
    return RunRecord(
        run_id=new_run_id(), job="train.py", namespace="ml", argv=["python", "train.py"],
        cwd="/w", started_at="2025-01-01T00:00:00+00:00", capture_mode="audit-hook",
        ended_at="2025-01-01T00:00:02+00:00", exit_code=3, wall_seconds=2.5,
        inputs=[FileRecord("/w/a.csv", "blake3:" + "a" * 64, 10, 1, "file"),
                FileRecord("/w/locked.csv", error="permission denied")],
        outputs=[FileRecord("/w/m.pt", "blake3:" + "b" * 64, 20, 1, "file")],
        code={"repository": "/w", "commit": "c" * 40, "branch": "main", "dirty": True,
              "diffDigest": "blake3:" + "d" * 64, "untracked": 2},
        packages=[("numpy", "2.1.0")], package_digest="blake3:" + "e" * 64,
        interpreter={"implementation": "cpython", "version": "3.11.7", "executable": "/py"},
        host={"hostname": "h", "os": "Linux", "platform": "Linux-6-x86_64", "cpuCount": 2},
        environment={"SEED": "1"},
        gpu={"measurement": "declared", "gpuModel": "H100", "gpuCount": 2, "gpuSeconds": 5.0,
             "wallSeconds": 2.5, "pricePerGpuHour": 12.29, "currency": "USD",
             "priceSource": "s", "priceAsOf": "2024-06-01", "cost": 0.017},
        start_facets={"tracline_approval": {"requestId": "req-1"}},
        producer=PRODUCER,
    )


def test_record_round_trips_as_json() -> None:
    """A record read back from its JSON equals the record, files and odd paths included."""
    record = _record()
    record.inputs.append(FileRecord("/w/\udcff-raw \u00e9", "blake3:" + "1" * 64, None, 1))
    again = RunRecord.from_json(record.to_json())
    assert again == record
    assert again.inputs[-1].path == "/w/\udcff-raw \u00e9"
    assert record.to_json().isascii()


def test_record_event_is_run_event_of_its_facts() -> None:
    """The record's FAIL event is what run_event builds from the same facts, in one builder."""
    record = _record()
    ours = to_dict(record_event("FAIL", record))
    facets = to_dict(record_event("COMPLETE", record))["run"]["facets"]
    theirs = to_dict(run_event(
        "FAIL", run_id=record.run_id, job_name=record.job, namespace=record.namespace,
        inputs=[Artifact.file(f.path, f.digest, f.size, f.file_count, f.kind)
                for f in record.inputs],
        outputs=[Artifact.file(f.path, f.digest, f.size, f.file_count, f.kind)
                 for f in record.outputs],
        run_facets={k: facets[k] for k in ("tracline_execution", "tracline_gpuCost")},
        error="command exited with status 3", event_time=record.ended_at, producer=PRODUCER,
    ))
    assert ours == theirs
    execution = ours["run"]["facets"]["tracline_execution"]
    assert execution["code"]["diffDigest"] == "blake3:" + "d" * 64
    assert execution["packages"]["items"] == [{"name": "numpy", "version": "2.1.0"}]
    assert ours["run"]["facets"]["tracline_gpuCost"]["cost"] == 0.017


def test_start_carries_start_facets_and_no_files() -> None:
    """START is dated when the run began, carries the caller's facets and no datasets."""
    record = _record()
    start = to_dict(record_event("START", record))
    assert start["eventTime"] == record.started_at
    assert start["run"]["facets"]["tracline_approval"] == {"requestId": "req-1"}
    assert start["inputs"] == start["outputs"] == []
    end = to_dict(record_event("COMPLETE", record))
    assert "tracline_approval" not in end["run"]["facets"]
    assert end["eventTime"] == record.ended_at


def test_every_facet_carries_the_record_producer() -> None:
    """Each facet and the event name the producer the record was captured under."""
    event = to_dict(record_event("FAIL", _record()))
    assert event["producer"] == PRODUCER
    facets = [*event["run"]["facets"].items(), *event["job"]["facets"].items()]
    facets += [(k, f) for d in event["inputs"] + event["outputs"] for k, f in d["facets"].items()]
    assert facets
    for key, facet in facets:
        if key != "tracline_approval":  # attached by the caller, as it was built
            assert facet["_producer"] == PRODUCER, key


def test_expand_record_reads_the_outbox_form() -> None:
    """A record stored as JSON expands to the same event as the record object."""
    record = _record()
    assert expand_record("FAIL", record.to_json()) == to_dict(record_event("FAIL", record))


def test_events_validate_against_the_schemas() -> None:
    """START and FAIL events of a record validate against OpenLineage's and tracline's."""
    record = _record()
    record.start_facets = {}
    assert_valid_events([to_dict(record_event("START", record)),
                         to_dict(record_event("FAIL", record))])


def test_paths_that_are_not_utf8_get_reversible_names() -> None:
    """A non-UTF-8 path becomes a UTF-8 name that maps back to the exact bytes."""
    raw = b"/w/bad\xff\xfe.bin"
    record = _record()
    record.outputs = [FileRecord(os.fsdecode(raw), "blake3:" + "f" * 64, 1)]
    record.argv = ["cp", "x", os.fsdecode(raw)]
    event = to_dict(record_event("COMPLETE", record))
    text = json.dumps(event, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogates anywhere in the event
    name = event["outputs"][0]["name"]
    assert name == "/w/bad\\xff\\xfe.bin" == dataset_name(raw)
    assert path_bytes(name) == raw
    assert event["run"]["facets"]["tracline_execution"]["argv"][-1] == name


def test_dataset_names_are_reversible_and_leave_ordinary_paths_alone() -> None:
    """Names round-trip for awkward byte strings; ordinary paths are their own names."""
    import random

    pieces = [b"\\", b"x", b"a", b"4", b"f", b"\xff", b"\xc3\xa9", b"/", b"\x80", b"%", b" "]
    rng = random.Random(7)
    for _ in range(5000):
        raw = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 10)))
        name = dataset_name(raw)
        name.encode("utf-8")
        assert path_bytes(name) == raw, raw
    for ordinary in ["/data/raw.csv", "/d/déjà vu.csv", "C:\\data", "/a%20b", "/x\\y"]:
        assert dataset_name(ordinary) == ordinary


def _without_time(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k != "eventTime"}


def test_run_ids_are_uuid7_and_ordered() -> None:
    """Run ids are RFC 4122 version-7 UUIDs that sort by creation time."""
    import uuid

    ids = [new_run_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 for i in ids)
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)
