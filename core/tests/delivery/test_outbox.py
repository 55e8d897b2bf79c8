"""The outbox: events are committed before emit() returns, delivered in order, at least once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests_helpers import pipeline_events

from tracline.config import load_config
from tracline.delivery import Emitter, wait_delivered
from tracline.registry import Registry


def test_emit_commits_then_flush_delivers_to_registry_and_file(tracline_home: Path) -> None:
    """An emitted event is in the outbox at once, and a flush delivers it to both default sinks."""
    emitter = Emitter(load_config(), background=False)
    events = pipeline_events(tracline_home.parent)
    ids = [emitter.emit(e) for e in events]
    assert all(ids) and ids == sorted(ids)
    assert emitter.outbox().count() == len(events)
    report = emitter.flush(10)
    assert report.complete and report.delivered == {"local": 4, "file": 4}
    lines = (tracline_home / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["eventType"] for x in lines] == ["START", "COMPLETE"] * 2
    registry = Registry(load_config().registry_url)
    assert registry.event_count() == 4
    assert {r.state for r in registry.runs()} == {"COMPLETE"}


def test_delivery_keeps_emission_order_per_run(tracline_home: Path) -> None:
    """Events reach a sink in the order they were emitted, so each run's START precedes its end."""
    emitter = Emitter(load_config(), background=False)
    events = pipeline_events(tracline_home.parent) * 3
    for e in events:
        emitter.emit(e)
    emitter.flush(10)
    delivered = [json.loads(x) for x in (tracline_home / "events.jsonl").read_text().splitlines()]
    assert [(e["run"]["runId"], e["eventType"]) for e in delivered] == [
        (e.run.runId, e.eventType.value) for e in events
    ]


def test_flush_twice_delivers_once(tracline_home: Path) -> None:
    """A second flush finds nothing new: a sink's cursor only moves forward."""
    emitter = Emitter(load_config(), background=False)
    for e in pipeline_events(tracline_home.parent):
        emitter.emit(e)
    emitter.flush(10)
    again = emitter.flush(10)
    assert again.delivered == {"local": 0, "file": 0}
    assert len((tracline_home / "events.jsonl").read_text().splitlines()) == 4


def test_registry_ingest_is_idempotent(tracline_home: Path) -> None:
    """Re-delivering an event (at-least-once) does not duplicate it in the registry."""
    registry = Registry(load_config().registry_url)
    from tracline.events import to_dict

    event = to_dict(pipeline_events(tracline_home.parent)[0])
    assert registry.ingest(event) is True
    assert registry.ingest(event) is False
    assert registry.event_count() == 1


def test_background_delivery_after_exit(tracline_home: Path) -> None:
    """A process that emits and exits at once has its events delivered by the long-lived
    deliverer its commits told (this test only waits: it delivers nothing itself)."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from tests_helpers import pipeline_events
        import tracline
        for e in pipeline_events(__import__("pathlib").Path("."), "bg"):
            assert tracline.emit(e)
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tracline_home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    wait_delivered(load_config(), deliver=False)
    assert len((tracline_home / "events.jsonl").read_text().splitlines()) == 4


def test_sigkill_after_emit_loses_nothing(tracline_home: Path) -> None:
    """Events committed by a process SIGKILLed before delivery are delivered by a later flush."""
    # The sink is an HTTP backend that is down, so nothing can be delivered before the kill.
    (tracline_home.parent / "tracline.toml").write_text(
        '[sinks.backend]\ntype = "http"\nurl = "http://127.0.0.1:9"\n'
        '[sinks.file]\ntype = "file"\npath = ".tracline/delivered.jsonl"\n'
    )
    script = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(Path(__file__).parents[1])!r})
        from tests_helpers import pipeline_events
        from tracline.config import load_config
        from tracline.delivery import Emitter
        emitter = Emitter(load_config(), background=False)
        for e in pipeline_events(__import__("pathlib").Path("."), "killed") * 5:
            emitter.emit(e)
        print("emitted", flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen(
        [sys.executable, "-c", script], cwd=tracline_home.parent, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "emitted"
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=120) == -signal.SIGKILL
    assert not (tracline_home / "delivered.jsonl").exists()

    flush = subprocess.run(
        [sys.executable, "-m", "tracline.cli", "outbox", "flush", "--json", "--timeout", "20"],
        cwd=tracline_home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(flush.stdout)
    assert report["delivered"]["file"] == 20
    assert report["pending"]["backend"] == 20  # still down: kept, not lost
    assert flush.returncode == 1
    assert len((tracline_home / "delivered.jsonl").read_text().splitlines()) == 20


def test_disabled_is_a_no_op(tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """TRACLINE_DISABLED=1 makes emit() return None and write nothing at all."""
    monkeypatch.setenv("TRACLINE_DISABLED", "1")
    emitter = Emitter(load_config(), background=False)
    assert emitter.emit(pipeline_events(tracline_home.parent)[0]) is None
    assert not tracline_home.exists()


def test_openlineage_disabled_is_honoured(
    tracline_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OPENLINEAGE_DISABLED=true disables tracline's emission as it does openlineage-python's."""
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert load_config().disabled


def test_emit_never_raises_when_outbox_unwritable(
    tracline_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An unwritable outbox: one warning naming what to do, every lost event counted in
    ``dropped``, and the task goes on."""
    monkeypatch.setenv("TRACLINE_OUTBOX", "/proc/tracline-cannot-be-here/outbox.db")
    emitter = Emitter(load_config(), background=False)
    events = pipeline_events(tracline_home.parent)
    assert [emitter.emit(e) for e in events] == [None] * len(events)
    assert emitter.dropped == len(events)
    warnings = [r for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(warnings) == 1
    assert "TRACLINE_OUTBOX" in warnings[0].getMessage()


def test_forked_child_gets_its_own_emitter(tracline_home: Path) -> None:
    """A forked child does not reuse the parent's outbox connection; both emit safely."""
    import tracline
    from tracline.delivery import get_emitter

    parent = get_emitter()
    event = pipeline_events(tracline_home.parent)[0]
    assert tracline.emit(event)
    pid = os.fork()
    if pid == 0:  # child
        code = 0 if get_emitter() is not parent and tracline.emit(event) else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert parent.outbox().count() == 2


def _big_event(root: Path, run_id: str | None = None) -> dict[str, Any]:
    """A valid event of 2 MB (a long job description); ``run_id``: for another run."""
    from openlineage.client.serde import Serde

    event: dict[str, Any] = json.loads(Serde.to_json(pipeline_events(root)[0]))
    event["job"]["facets"]["documentation"] = {
        "_producer": event["producer"],
        "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/DocumentationJobFacet.json"
                      "#/$defs/DocumentationJobFacet",
        "description": "x" * 2_000_000,
    }
    if run_id is not None:
        event["run"]["runId"] = run_id
    return event


def _append(outbox: Any, event: dict[str, Any]) -> None:
    outbox.append(json.dumps(event, separators=(",", ":"), sort_keys=True),
                  run_id=event["run"]["runId"], event_type=event["eventType"],
                  job=f"{event['job']['namespace']}/{event['job']['name']}")


def test_writer_without_checkpoints_leaves_them_to_delivery(tracline_home: Path) -> None:
    """A writer opened with checkpoint=False (tracline run) never copies its write-ahead log on
    commit, its events are committed all the same, and the delivery that follows checkpoints."""
    from tracline.delivery.outbox import Outbox

    config = load_config()
    writer = Outbox(config.outbox_path, checkpoint=False)
    writer.register_sinks(s.name for s in config.sinks)
    event = _big_event(tracline_home.parent)
    for _ in range(3):  # 6 MB: past SQLite's auto-checkpoint threshold (1,000 pages)
        _append(writer, event)
    wal = config.outbox_path.with_name(config.outbox_path.name + "-wal")
    # Nothing copied into the database file yet: the events live in the write-ahead log.
    assert wal.stat().st_size > 6_000_000
    assert config.outbox_path.stat().st_size < 1_000_000
    reader = Outbox(config.outbox_path)
    assert reader.count() == 3
    Emitter(config, background=False).flush(10)
    assert config.outbox_path.stat().st_size > 6_000_000


def test_delivery_checkpoints_the_registry_once_the_delivery_is_recorded(
        tracline_home: Path) -> None:
    """The registry sink's commits never copy the registry's write-ahead log into its file
    (for a big run, thousands of pages copied and both files synced, on the delivery's
    clock): the deliverer checkpoints it after the drain, before the outbox. Everything
    delivered is in the registry before that; a registry opened otherwise still checkpoints
    on commit."""
    from tracline.delivery.deliverer import Deliverer
    from tracline.delivery.outbox import Outbox
    from tracline.events import new_run_id

    config = load_config()
    outbox = Outbox(config.outbox_path)
    outbox.register_sinks(s.name for s in config.sinks)
    events = [_big_event(tracline_home.parent, new_run_id()) for _ in range(3)]  # 6 MB
    for event in events:
        _append(outbox, event)
    deliverer = Deliverer(outbox, config)
    report = deliverer.drain()
    assert report.complete and report.delivered == {"local": 3, "file": 3}
    registry = tracline_home / "tracline.db"
    wal = registry.with_name("tracline.db-wal")
    assert wal.stat().st_size > 6_000_000
    assert registry.stat().st_size < 1_000_000  # delivered, not yet copied into the file
    deliverer.checkpoint()
    assert registry.stat().st_size > 6_000_000
    deliverer.close()
    assert Registry(config.registry_url).event_count() == 3

    other = Registry(f"sqlite:///{tracline_home / 'other.db'}")
    for event in events:
        assert other.ingest(event)
    # SQLite copied the log on the commit that took it past 1,000 pages (4 MB)
    assert (tracline_home / "other.db").stat().st_size > 3_000_000
    other.close()


def test_new_outboxes_use_16k_pages_and_old_ones_still_open(tracline_home: Path) -> None:
    """A new outbox is created with 16 KiB pages (large events in fewer write-ahead frames);
    one created earlier with SQLite's 4 KiB default keeps them and works as before."""
    import sqlite3

    from tracline.delivery.outbox import Outbox

    new = Outbox(tracline_home / "new.db")
    new.append("{}", event_type="START")
    old_path = tracline_home / "old.db"
    sqlite3.connect(old_path).execute("CREATE TABLE t (x)").connection.close()
    old = Outbox(old_path)
    old.append("{}", event_type="START")
    page = {path.name: sqlite3.connect(path).execute("PRAGMA page_size").fetchone()[0]
            for path in (new.path, old.path)}
    assert page == {"new.db": 16384, "old.db": 4096}
    assert new.count() == old.count() == 1
