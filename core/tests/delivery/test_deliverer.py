"""The long-lived deliverer: one per user and configuration serves every process that
commits, and it goes away when idle (the next commit starts another)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tracline.config import load_config
from tracline.delivery import service_pid, wait_delivered

EMIT = textwrap.dedent("""
    import sys
    import tracline
    from tracline.events import new_run_id, run_event

    for i in range(int(sys.argv[2])):
        assert tracline.emit(run_event("COMPLETE", run_id=new_run_id(),
                                       job_name=f"{sys.argv[1]}-{i}", namespace="svc"))
""")


def _emit(root: Path, tag: str, count: int) -> None:
    """A process that commits ``count`` events and exits at once (it delivers nothing)."""
    done = subprocess.run([sys.executable, "-c", EMIT, tag, str(count)], cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended)."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _lines(home: Path) -> int:
    path = home / "events.jsonl"
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_one_deliverer_serves_every_process(tracline_home: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Three processes that commit and exit are all delivered by the same deliverer process
    (started once, not once per run), which this test only waits for."""
    monkeypatch.setenv("TRACLINE__OUTBOX__DELIVERER_IDLE", "600")  # the tests' default: 2 s
    root = tracline_home.parent
    pids = set()
    try:
        for n in range(3):
            _emit(root, f"p{n}", 5)
            wait_delivered(load_config(), deliver=False)
            pids.add(service_pid(load_config()))
            assert _lines(tracline_home) == 5 * (n + 1)
    finally:
        for pid in pids:
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
    assert len(pids) == 1 and None not in pids, pids


def test_the_deliverer_leaves_when_idle_and_the_next_commit_starts_one(
        tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``[outbox] deliverer_idle = 1`` the deliverer exits once idle; a later commit
    starts a new one, which delivers it."""
    monkeypatch.setenv("TRACLINE__OUTBOX__DELIVERER_IDLE", "1")
    root = tracline_home.parent
    _emit(root, "first", 3)
    wait_delivered(load_config(), deliver=False)
    first = service_pid(load_config())
    assert first is not None
    deadline = time.monotonic() + 300
    while service_pid(load_config()) is not None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert service_pid(load_config()) is None
    while _alive(first) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(first)
    _emit(root, "second", 3)
    wait_delivered(load_config(), deliver=False)
    assert _lines(tracline_home) == 6


def test_a_poke_never_waits_for_a_busy_deliverer(tracline_home: Path) -> None:
    """Pokes to a deliverer that is busy and reads none of them (its queue full) still return
    at once, as "poked": a process that emits is never held up by delivery."""
    import socket
    import threading

    from tracline.delivery import poke
    from tracline.delivery._service import address

    config = load_config()
    busy = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    busy.bind(address(config))  # stands for a deliverer in the middle of a long drain
    answers: list[str] = []
    try:
        worker = threading.Thread(daemon=True, target=lambda: answers.extend(poke(config)
                                                                for _ in range(500)))
        worker.start()
        worker.join(timeout=120)  # a blocked send would never return
        assert not worker.is_alive(), f"poke blocked after {len(answers)} pokes"
    finally:
        busy.close()
    assert answers == ["poked"] * 500
