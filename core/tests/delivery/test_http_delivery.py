"""Delivery to a real HTTP lineage backend (`tracline serve`): outages, crashes and refusals."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from delivery.servers import LineageBackend
from tracline.config import load_config
from tracline.delivery import Emitter

TESTS = str(Path(__file__).parents[1])


def tracline_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracline.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture
def backend(tracline_home: Path) -> Iterator[LineageBackend]:
    server = LineageBackend(tracline_home.parent)
    (tracline_home.parent / "tracline.toml").write_text(
        f'[sinks.backend]\ntype = "http"\nurl = "{server.url}"\ntimeout = 2\n'
        f'api_key = "{server.token}"\n'
    )
    yield server
    server.stop()


def test_outage_loses_nothing_and_does_not_fail_the_task(
    tracline_home: Path, backend: LineageBackend
) -> None:
    """With the backend down, 1,000 events are emitted by a task that exits 0; after the backend
    is back, a flush delivers all 1,000."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {TESTS!r})
        from tests_helpers import pipeline_events
        import tracline
        from pathlib import Path
        sent = 0
        while sent < 1000:
            for event in pipeline_events(Path("."), "outage"):
                assert tracline.emit(event) is not None
                sent += 1
        print("task done", sent)
    """)
    # The task's own deadline: an emitter that stalled on the dead backend would blow it.
    task = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tracline_home.parent,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert task.returncode == 0, task.stderr
    assert "task done 1000" in task.stdout
    assert "Traceback" not in task.stderr

    def backend_state() -> dict[str, Any]:
        status = json.loads(tracline_cli(tracline_home.parent, "outbox", "status",
                                         "--json").stdout)
        (sink,) = [s for s in status["sinks"] if s["name"] == "backend"]  # beside the registry
        return dict(sink)

    # The deliverer the task's commits started tries the backend on its own time: wait for
    # its verdict, not for a fixed time.
    deadline = time.monotonic() + 300
    sink = backend_state()
    while not sink["last_error"] and time.monotonic() < deadline:
        time.sleep(0.2)
        sink = backend_state()
    assert sink["pending"] == 1000 and sink["delivered"] == 0
    assert "cannot reach" in (sink["last_error"] or "")

    backend.start()
    flush = tracline_cli(tracline_home.parent, "outbox", "flush", "--timeout", "240")
    assert flush.returncode == 0, flush.stdout + flush.stderr  # by it or by the deliverer
    assert "backend: delivered" in flush.stdout and "pending 0" in flush.stdout
    assert backend.event_count() == 1000


def test_sigkill_between_emit_and_delivery(tracline_home: Path, backend: LineageBackend) -> None:
    """A process killed with SIGKILL right after emitting leaves its events for a later flush."""
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {TESTS!r})
        from tests_helpers import pipeline_events
        import tracline
        from pathlib import Path
        for _ in range(10):
            for event in pipeline_events(Path("."), "killed"):
                tracline.emit(event)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    task = subprocess.run([sys.executable, "-c", script], cwd=tracline_home.parent, timeout=120)
    assert task.returncode == -9
    backend.start()
    assert backend.event_count() == 0
    flush = tracline_cli(tracline_home.parent, "outbox", "flush")
    assert flush.returncode == 0, flush.stdout + flush.stderr
    assert backend.event_count() == 40


def test_rejected_event_is_set_aside_and_reported(
    tracline_home: Path, backend: LineageBackend
) -> None:
    """An event the backend refuses (HTTP 422) is kept aside and reported; the rest go through,
    and a later flush does not retry it."""
    from tests_helpers import pipeline_events

    from tracline.testing._sweep import EXPECT_INVALID

    backend.start()
    emitter = Emitter(load_config(), background=False)
    emitter.outbox()
    (tracline_home / EXPECT_INVALID).touch()
    good = pipeline_events(tracline_home.parent)
    emitter.emit(good[0])
    emitter.emit(
        {
            "eventType": "START",
            "eventTime": "2026-11-26T00:00:00Z",
            "producer": "https://example.com",
            "run": {"runId": "not-a-uuid"},
            "job": {"namespace": "ns", "name": "broken"},
        }
    )
    for event in good[1:]:
        emitter.emit(event)
    report = emitter.flush(30)
    assert report.complete
    assert report.delivered["backend"] == 4 and report.rejected["backend"] == 1
    assert backend.event_count() == 4

    status = tracline_cli(tracline_home.parent, "outbox", "status", "--json")
    (rejection,) = json.loads(status.stdout)["rejected"]
    assert rejection["status"] == 422 and "not a UUID" in rejection["error"]
    human = tracline_cli(tracline_home.parent, "outbox", "status").stdout
    assert "set aside" in human and "requeue" in human

    again = emitter.flush(10)
    assert again.delivered["backend"] == 0 and again.rejected["backend"] == 0

    requeue = tracline_cli(tracline_home.parent, "outbox", "requeue")
    assert "requeued 1" in requeue.stdout
    assert emitter.flush(10).rejected["backend"] == 1  # refused again, still kept aside
