"""tracline's serializer gives exactly what openlineage-python's Serde gives, event by event."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import OrderedDict
from enum import Enum

import pytest
from event_corpus import corpus, full_event, rich_record, sparse_record
from openlineage.client.serde import Serde

from tracline.events import Artifact, expand_record, record_event, to_dict, to_json
from tracline.testing import assert_valid_events

CORPUS = corpus()


def test_the_corpus_is_valid_and_holds_every_facet_tracline_emits() -> None:
    """The events compared below are valid OpenLineage events carrying every facet kind."""
    dicts = [Serde.to_dict(event) for _, event in CORPUS]
    assert_valid_events([d for d in dicts if "custom_handedOver" not in d["run"]["facets"]])
    run_keys = {k for d in dicts for k in d["run"]["facets"]}
    dataset_keys = {k for d in dicts for ds in d.get("inputs", []) + d.get("outputs", [])
                    for k in ds.get("facets", {})}
    assert run_keys >= {"processing_engine", "parent", "errorMessage", "tracline_execution",
                        "tracline_gpuCost", "tracline_approval"}
    assert dataset_keys == {"schema", "version", "tracline_contentHash"}
    assert any("\\udce9" in json.dumps(d) or "\\\\xe9" in json.dumps(d) for d in dicts)


@pytest.mark.parametrize(("label", "event"), CORPUS, ids=[label for label, _ in CORPUS])
def test_to_dict_is_serde_to_dict(label: str, event: object) -> None:
    """to_dict equals Serde.to_dict key for key, in the same order, and to_json is the same
    text as the JSON of Serde's dict (so what sinks write is unchanged)."""
    ours, theirs = to_dict(event), Serde.to_dict(event)
    assert ours == theirs
    assert json.dumps(ours) == json.dumps(theirs)  # key order, nested, too
    assert to_json(event) == json.dumps(theirs, sort_keys=True, separators=(",", ":"))
    assert Serde.to_json(ours) == Serde.to_json(event)


class Colour(Enum):
    RED = "red"


class Text(str):
    pass


def test_values_outside_the_walk_go_through_serde() -> None:
    """An event holding values the walk does not know (dates, UUIDs, sets, dict subclasses,
    keys that are not text, str subclasses) still serializes exactly as Serde does."""
    odd = [{"when": dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)}, {"id": uuid.UUID(int=7)},
           {"set": {3}}, {"ordered": OrderedDict(a=None, b=1)}, {"keys": {1: "one"}},
           {"text": Text("t")}, {"colour": Colour.RED, "list": [Colour.RED, None]}]
    for facet in odd:
        event = full_event("COMPLETE")
        event.run.facets["odd"] = facet
        assert to_dict(event) == Serde.to_dict(event), facet
        assert json.dumps(to_dict(event)) == json.dumps(Serde.to_dict(event))


def test_a_big_run_serializes_as_serde_does() -> None:
    """A COMPLETE event of a record with thousands of files is Serde's dict, file for file."""
    event = record_event("COMPLETE", rich_record(files=2000))
    assert json.dumps(to_dict(event)) == json.dumps(Serde.to_dict(event))
    assert to_dict(event) == to_dict(Serde.to_dict(event))  # a dict goes through Serde


@pytest.mark.parametrize("producer", [None, "https://example.com/other"])
@pytest.mark.parametrize("state", ["START", "COMPLETE", "FAIL"])
@pytest.mark.parametrize("make", [rich_record, sparse_record])
def test_a_record_expands_to_its_event_as_the_objects_serialize(
        make: object, state: str, producer: str | None) -> None:
    """The deliverer's event of a record (datasets written by ``Artifact.to_dict``) is
    ``to_dict`` of the objects ``record_event`` builds: the same dict, in the same key order,
    for every kind of file (schema, directory, unhashed, unreadable, names that are not
    UTF-8) and whichever producer."""
    record = make()  # type: ignore[operator]
    ours = expand_record(state, record.to_json(), producer)
    theirs = to_dict(record_event(state, record, producer))
    assert ours == theirs
    assert json.dumps(ours) == json.dumps(theirs)
    if state != "START" and make is rich_record:
        assert len(ours["inputs"]) == len(record.inputs) and ours["outputs"]


def test_an_artifact_writes_its_dataset_as_the_objects_serialize() -> None:
    """``Artifact.to_dict`` is ``to_dict`` of ``as_input`` / ``as_output``, artifact by
    artifact, key order included."""
    digest = "sha256:" + "12" * 32
    artifacts = [
        Artifact.file("/a.parquet", digest, 10, schema=[("x", "int64"), ("é", "string")]),
        Artifact.file("/dir", digest, None, 40, "directory"),
        Artifact.file(b"/raw\xff", digest, 0, kind="file"),
        Artifact.file("/unhashed"), Artifact("s3", "bucket/key", digest, 5),
        Artifact.file("/schema-only", schema=[("a", "b")]),
    ]
    for artifact in artifacts:
        for producer in (None, "https://example.com/p"):
            for role, obj in (("input", artifact.as_input(producer)),
                              ("output", artifact.as_output(producer))):
                ours, theirs = artifact.to_dict(role, producer), to_dict(obj)
                assert json.dumps(ours) == json.dumps(theirs), (artifact, role)
