"""Per sink, each committed event is delivered once in normal operation: many processes and
threads emit and deliver at the same time, and every deliverer excludes every other."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from delivery.servers import Receiver
from tracline.config import load_config
from tracline.delivery import wait_delivered

PROCESSES, EVENTS = 8, 500

#: Each process emits through tracline.emit() (its commits tell the long-lived deliverer)
#: while two threads of its own deliver with flush() at the same time.
EMITTER = textwrap.dedent("""
    import sys, threading, time
    import tracline
    from tracline.events import new_run_id, run_event

    tag, count = sys.argv[1], int(sys.argv[2])
    stop = threading.Event()

    def deliver():
        while not stop.is_set():
            tracline.flush(5)
            time.sleep(0.01)

    threads = [threading.Thread(target=deliver, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for i in range(count):
            assert tracline.emit(run_event("COMPLETE", run_id=new_run_id(),
                                           job_name=f"{tag}-{i}", namespace="once"))
    finally:
        stop.set()
        for thread in threads:
            thread.join()
""")


def _emit_everywhere(root: Path) -> None:
    """PROCESSES processes × EVENTS events, all at once; each exits 0."""
    procs = [subprocess.Popen([sys.executable, "-c", EMITTER, f"p{n}", str(EVENTS)], cwd=root,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(PROCESSES)]
    try:
        for proc in procs:
            _, err = proc.communicate(timeout=900)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def _assert_once(jobs: list[str]) -> None:
    counts = Counter(jobs)
    duplicates = {job: n for job, n in counts.items() if n > 1}
    assert not duplicates, f"{len(duplicates)} events delivered more than once"
    assert len(jobs) == PROCESSES * EVENTS


@pytest.mark.slow
def test_many_processes_and_threads_give_a_file_each_event_once(tracline_home: Path) -> None:
    """8 processes × 500 emits, each process also delivering from two threads while the
    long-lived deliverer does too: exactly 4,000 lines in the file sink, none twice."""
    root = tracline_home.parent
    (root / "tracline.toml").write_text('[sinks.file]\ntype = "file"\n'
                                        'path = ".tracline/events.jsonl"\n')
    _emit_everywhere(root)
    wait_delivered(load_config())
    lines = (tracline_home / "events.jsonl").read_text().splitlines()
    _assert_once([json.loads(line)["job"]["name"] for line in lines])


@pytest.mark.slow
def test_many_processes_and_threads_post_each_event_once(tracline_home: Path) -> None:
    """The same 8 × 500 through an HTTP sink: the receiver gets exactly 4,000 POSTs, each
    event once (a receiver that does not de-duplicate sees every duplicate)."""
    receiver = Receiver()
    root = tracline_home.parent
    (root / "tracline.toml").write_text(
        f'[sinks.http]\ntype = "http"\nurl = "{receiver.url}"\ntimeout = 30\n')
    try:
        _emit_everywhere(root)
        wait_delivered(load_config())
        _assert_once([event["job"]["name"] for event in receiver.accepted])
    finally:
        receiver.stop()
