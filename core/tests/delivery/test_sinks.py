"""Each event is serialized once per delivery, and every sink gets the same text of it."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from event_corpus import corpus, rich_record
from openlineage.client.transport.file import FileConfig, FileTransport

from tracline.config import SinkConfig, load_config
from tracline.delivery import Emitter
from tracline.delivery.sinks import OutgoingEvent, build_sink
from tracline.events import canonical_json, record_event, to_dict, to_json
from tracline.record import RunRecord
from tracline.registry import Registry

CORPUS = corpus()


def transport_events(path: Path, events: list[object]) -> list[object]:
    """The events openlineage-python's FileTransport (append mode) writes for ``events``, as
    read back from its lines."""
    transport = FileTransport(FileConfig(log_file_path=str(path), append=True))
    for event in events:
        transport.emit(event)  # type: ignore[arg-type]
    return [json.loads(line) for line in path.read_text().splitlines()]


def sink_bytes(path: Path, events: list[OutgoingEvent]) -> bytes:
    sink = build_sink(SinkConfig("file", "file", {"path": str(path)}), load_config())
    for event in events:
        sink.send(event)
    sink.close()
    return path.read_bytes()


def lines(events: list[object]) -> bytes:
    """The JSON-lines text of ``events``: each one's canonical JSON on a line."""
    return "".join(canonical_json(to_dict(e)) + "\n" for e in events).encode()


def test_file_sink_lines_are_the_events_canonical_json(tracline_home: Path) -> None:
    """For every kind of event tracline builds, the file sink writes its canonical JSON as a
    line — whether built from a record or read back from the outbox — and each line holds
    what FileTransport wrote for the same event."""
    objects = [event for _, event in CORPUS]
    built = sink_bytes(tracline_home.parent / "built.jsonl",
                       [OutgoingEvent(to_dict(e), clean=True) for e in objects])
    stored = sink_bytes(tracline_home.parent / "stored.jsonl",
                        [OutgoingEvent(json.loads(to_json(e))) for e in objects])
    assert built == stored == lines(objects)
    assert [json.loads(line) for line in built.decode().splitlines()] == transport_events(
        tracline_home.parent / "transport.jsonl", objects)


def test_file_sink_writes_an_event_with_nulls_as_the_transport_does(tracline_home: Path) -> None:
    """An event from the outbox that is not Serde's form (None values, empty objects in
    lists) is written as the transport writes it: through Serde."""
    event = json.loads(to_json(CORPUS[0][1]))
    event["run"]["facets"]["odd"] = {"a": None, "b": [None, {}, {"c": None}, 2]}
    ours = sink_bytes(tracline_home.parent / "ours.jsonl", [OutgoingEvent(event)]).decode()
    assert [json.loads(ours)] == transport_events(tracline_home.parent / "transport.jsonl",
                                                  [event])
    assert '"a"' not in ours and '"b":[2]' in ours


@pytest.mark.parametrize(("label", "event"), CORPUS[:3], ids=[label for label, _ in CORPUS[:3]])
def test_registry_keys_the_canonical_text_as_it_keys_the_event(
        store_url: str, label: str, event: object) -> None:
    """The registry (SQLite and PostgreSQL) given the deliverer's JSON stores and keys the
    event as it does when it makes the JSON itself: the same event the other way is a
    duplicate."""
    registry = Registry(store_url)
    outgoing = OutgoingEvent(to_dict(event), clean=True)
    assert registry.ingest(outgoing.data, canonical=outgoing.canonical()) is True
    assert registry.ingest(to_dict(event)) is False
    assert registry.ingest(json.loads(to_json(event))) is False
    assert json.loads(outgoing.canonical()) == json.loads(to_json(event))


def test_a_delivered_record_reaches_each_sink_as_before(tracline_home: Path) -> None:
    """A run's record in the outbox is delivered as the one builder's events: the JSON-lines
    file and the registry both hold their canonical JSON."""
    config = load_config()
    record = rich_record(files=50)
    emitter = Emitter(config, background=False)
    for state in ("START", "COMPLETE"):
        emitter.commit_record(state, record)
    assert emitter.flush(60).complete
    again = RunRecord.from_json(record.to_json())
    events = [record_event(state, again, config.producer) for state in ("START", "COMPLETE")]
    assert (tracline_home / "events.jsonl").read_bytes() == lines(events)
    with sqlite3.connect(tracline_home / "tracline.db") as db:
        stored = [row[0] for row in db.execute(
            "SELECT payload FROM lineage_events ORDER BY event_type DESC")]
    assert stored == [canonical_json(to_dict(e)) for e in events]


def test_file_sink_fails_as_the_transport_failed(tracline_home: Path) -> None:
    """A JSON-lines file that cannot be written (its folder is a file) is reported exactly as
    the sink on FileTransport reported it: the same message, the sink down, retried."""
    from tracline.delivery.sinks import TransportSink
    from tracline.errors import SinkError

    blocker = tracline_home.parent / "blocker"
    blocker.write_text("")
    path = str(blocker / "events.jsonl")
    ours = build_sink(SinkConfig("file", "file", {"path": path}), load_config())
    theirs = TransportSink("file", FileTransport(FileConfig(log_file_path=path, append=True)),
                           f"file sink 'file' ({path})")
    errors = []
    for sink in (ours, theirs):
        with pytest.raises(SinkError) as caught:
            sink.send(OutgoingEvent(to_dict(CORPUS[0][1]), clean=True))
        errors.append(caught.value)
    assert type(ours).__name__ == "FileSink"
    assert str(errors[0]) == str(errors[1]) and "Not a directory" in str(errors[0])
    assert [(e.sink_down, e.permanent) for e in errors] == [(True, False)] * 2


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_registry_failing_under_the_sink_is_named_without_its_password(
        store_url: str) -> None:
    """The registry sink's error — kept in the outbox, logged, shown by `tracline outbox
    status` — names the database without the password of its URL."""
    import urllib.parse

    import sqlalchemy as sa

    from tracline.errors import SinkError

    password = urllib.parse.urlsplit(store_url).password
    assert password
    sink = build_sink(SinkConfig("reg", "registry", {"url": store_url}), load_config())
    with sink.registry.engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text("DROP TABLE run_io"))  # the database breaks under the sink
    with pytest.raises(SinkError) as caught:
        sink.send(OutgoingEvent(to_dict(CORPUS[1][1]), clean=True))
    assert f":{password}@" not in str(caught.value)
    assert ":***@" in str(caught.value) and "run_io" in str(caught.value)
