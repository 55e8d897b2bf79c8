"""Every delivery failure is classified: an event a sink keeps failing on is set aside after
a bounded number of tries and reported, and never holds back the events behind it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from delivery.servers import Receiver
from tracline.config import load_config
from tracline.delivery import Emitter, wait_delivered
from tracline.events import new_run_id, run_event


def _config(root: Path, url: str) -> None:
    (root / "tracline.toml").write_text(
        f'[sinks.http]\ntype = "http"\nurl = "{url}"\ntimeout = 10\n'
        "[outbox]\nmax_attempts = 3\nmax_backoff = 0.05\n")


def _emit(jobs: list[str]) -> None:
    emitter = Emitter(load_config(), background=False)
    for job in jobs:
        assert emitter.emit(run_event("COMPLETE", run_id=new_run_id(), job_name=job,
                                      namespace="poison"))
    emitter.close()


def _cli(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracline", *args], cwd=root,
                          capture_output=True, text=True, timeout=300)


def test_dropped_connection_and_5xx_for_one_event_each(tracline_home: Path) -> None:
    """A receiver that drops the connection for one event and answers 500 for another: the
    other eight are delivered in order, the two are set aside after 3 tries each, and
    `outbox status` and `doctor` report them with the reason and what to do."""
    receiver = Receiver({"dropped": "drop", "broken": "500"})
    root = tracline_home.parent
    _config(root, receiver.url)
    jobs = ["a", "b", "dropped", "c", "d", "broken", "e", "f", "g", "h"]
    try:
        _emit(jobs)
        wait_delivered(load_config(), timeout=300)
        assert [e["job"]["name"] for e in receiver.accepted] == \
            [j for j in jobs if j not in ("dropped", "broken")]
        assert receiver.refused == {"dropped": 3, "broken": 3}
    finally:
        receiver.stop()
    status = _cli(root, "outbox", "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    aside = {r["job"].split("/")[-1]: r["error"] for r in report["rejected"]}
    assert set(aside) == {"dropped", "broken"}
    assert "failed 3 times" in aside["dropped"] and "dropped the connection" in aside["dropped"]
    assert "HTTP 500" in aside["broken"]
    assert {s["name"]: s["pending"] for s in report["sinks"]}["http"] == 0
    assert all(s["pending"] == 0 for s in report["sinks"])  # the local registry's too
    doctor = _cli(root, "doctor", "--json")
    outbox = next(c for c in json.loads(doctor.stdout) if c["name"] == "outbox")
    assert outbox["status"] == "warn" and "2 set aside" in outbox["detail"]
    assert "requeue" in outbox["hint"]
    assert "Traceback" not in status.stderr + doctor.stderr


def test_an_unreachable_sink_sets_nothing_aside(tracline_home: Path) -> None:
    """Connection refused says nothing about the events: however many tries, none is set
    aside, all stay pending for when the sink is back."""
    root = tracline_home.parent
    _config(root, "http://127.0.0.1:9")
    _emit(["a", "b", "c"])
    emitter = Emitter(load_config(), background=False)
    for _ in range(6):  # twice max_attempts
        report = emitter.flush(30)
    assert report.pending["http"] == 3 and report.rejected["http"] == 0
    assert "cannot reach" in report.errors["http"]
    assert emitter.outbox().rejections() == []


def test_a_4xx_is_set_aside_at_once(tracline_home: Path) -> None:
    """A 4xx means the sink will never take the event: set aside on the first try."""
    receiver = Receiver()
    root = tracline_home.parent
    _config(root, receiver.url)
    (root / "tracline.toml").write_text(
        (root / "tracline.toml").read_text().replace(
            "timeout = 10", 'timeout = 10\nendpoint = "api/v1/nothing"'))
    try:
        _emit(["a"])
        report = Emitter(load_config(), background=False).flush(60)
    finally:
        receiver.stop()
    assert report.rejected["http"] == 1 and report.pending["http"] == 0
