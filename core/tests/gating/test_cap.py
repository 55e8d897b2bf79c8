"""TimeCap, for work running inside an orchestrator's task process: past the approved time it
stops every process the work started, grandchildren included, and nothing that ran before."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tracline.gating import Claim, TimeCap

CLAIM = Claim(request_id="req-1", digest="sha256:" + "a" * 64, run_id="run-1",
              approved_by=("user:chris",), gpu_model="H100", gpu_count=1,
              approved_gpu_hours=0.001, time_limit_seconds=3.6, budget="1", currency="USD")
#: A child that starts a grandchild in a new session (it escapes the process group), writes
#: the grandchild's pid, and both sleep.
ESCAPING = (
    "import subprocess, sys, time\n"
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(3600)'],"
    " start_new_session=True)\n"
    "open(sys.argv[1], 'w').write(str(g.pid))\n"
    "time.sleep(3600)\n"
)


def _running(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def _wait_for(path: Path) -> None:
    deadline = time.monotonic() + 120
    while not (path.exists() and path.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)


def test_the_work_and_its_grandchildren_stop_what_ran_before_stays(tmp_path: Path) -> None:
    """Processes started after the cap began stop, even in another session; older ones run on."""
    older = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    try:
        cap = TimeCap.begin(CLAIM)
        assert cap.seconds == 3.6
        child = subprocess.Popen([sys.executable, "-c", ESCAPING, str(tmp_path / "g")])
        _wait_for(tmp_path / "g")
        grandchild = int((tmp_path / "g").read_text())
        stopped = cap.stop_children(grace=0.5)
        assert {child.pid, grandchild} <= set(stopped)
        assert older.pid not in stopped
        child.wait(timeout=60)
        assert not _running(grandchild)
        assert older.poll() is None
    finally:
        older.kill()
        older.wait()
