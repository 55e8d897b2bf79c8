"""A run's whole process tree: stopped at the time limit, daemons reported and let go."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import textwrap
from pathlib import Path

import pytest

from .conftest import Run
from .helpers import PYTHON, write

#: A command whose child and setsid'd grandchild write a timestamped line every 20 ms for
#: ever (the main process too); each process writes its pid first.
FOREVER = """
import os, subprocess, sys, time

def scribble(tag):
    with open(f"pids/{os.getpid()}", "w"):
        pass
    while True:
        with open("writes.log", "a") as f:
            f.write(f"{tag} {time.monotonic()}\\n")
        time.sleep(0.02)

if len(sys.argv) > 1:
    scribble(sys.argv[1])
os.makedirs("pids", exist_ok=True)
subprocess.Popen([sys.executable, __file__, "child"])
if os.fork() == 0:                      # a daemon: double fork, new session
    os.setsid()
    if os.fork() == 0:
        scribble("daemon")
    os._exit(0)
scribble("main")
"""

#: Runs FOREVER under capture_command with a time limit, as `tracline run --request` does.
CAPPED = """
import json, sys, time
from tracline.capture import capture_command
record = capture_command([sys.executable, "forever.py"], "capped", time_limit=1.5,
                         gpus=1, gpu_model="H100", subreaper=True)
returned = time.monotonic()
print(json.dumps({"returned": returned, "wall": record.wall_seconds,
                  "signal": record.signal, "warnings": record.warnings,
                  "cost": record.gpu}))
"""


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def test_time_limit_stops_the_whole_tree(tracline_home: Path) -> None:
    """Past the time limit the main process, its child and a setsid'd daemon are all stopped:
    none runs once capture returns, no line is written after, and the cost up to the stop is
    recorded."""
    root = tracline_home.parent
    write(root / "forever.py", FOREVER)
    write(root / "capped.py", CAPPED)
    done = subprocess.run([PYTHON, "capped.py"], cwd=root, capture_output=True, text=True,
                          timeout=120, check=False,
                          env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "none"})
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    pids = [int(p.name) for p in (root / "pids").iterdir()]
    assert len(pids) == 3
    assert not [p for p in pids if _alive(p)]
    tags = {}
    for line in (root / "writes.log").read_text().splitlines():
        tag, when = line.split()
        tags.setdefault(tag, []).append(float(when))
    assert set(tags) == {"main", "child", "daemon"}
    assert max(max(times) for times in tags.values()) < result["returned"]
    assert result["signal"] == signal.SIGKILL
    assert any("stopped at the time limit of 1.5 s: the whole process tree" in w
               for w in result["warnings"])
    assert result["wall"] >= 1.5
    assert result["cost"]["gpuSeconds"] >= 1.5 and result["cost"]["cost"] > 0


@pytest.mark.parametrize("mode", ["auto", "strace"])
def test_daemon_is_reported_and_let_go(tracline_run: Run, tracline_home: Path,
                                       mode: str) -> None:
    """A command that leaves a daemon behind returns as soon as it ends: the daemon is named
    in a warning, still running, and no tracer is attached to it."""
    if mode == "strace" and shutil.which("strace") is None:
        pytest.skip("needs strace")
    root = tracline_home.parent
    write(root / "in.txt", "x")
    script = textwrap.dedent("""
        import os, time
        open("out.txt", "w").write(open("in.txt").read())
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:          # a well-behaved daemon: its stdio let go
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                time.sleep(600)
            os._exit(0)
    """)
    write(root / "spawns.py", script)
    done = tracline_run("--capture", mode, "--", PYTHON, "spawns.py")
    assert done.returncode == 0, done.stderr
    found = re.findall(r"left running after the command ended \(not waited for\): .*spawns\.py"
                       r" \(pid (\d+)\)", done.stderr)
    assert len(found) == 1, done.stderr
    daemon = int(found[0])
    try:
        assert _alive(daemon)
        status = Path(f"/proc/{daemon}/status").read_text()
        assert re.search(r"^TracerPid:\s+0$", status, re.MULTILINE), status
    finally:
        os.kill(daemon, signal.SIGKILL)



_STOPS_ITS_TREE = """
import json, os, subprocess, sys, time
from tracline.capture import alive, stop_tree
from tracline.config import get_config
from tracline.delivery import poke, started_here
assert poke(get_config()) == "started"
sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
stopped = stop_tree(os.getpid(), include_root=False)
sleeper.wait(timeout=60)
(deliverer,) = started_here()
print(json.dumps({"stopped": stopped, "sleeper": sleeper.pid, "deliverer": deliverer,
                  "deliverer_alive": alive(deliverer)}))
"""


def test_the_deliverer_a_run_starts_is_not_the_commands(tracline_run: Run,
                                                         tracline_home: Path) -> None:
    """The deliverer a process starts for its events (its own child) is neither reported as a
    daemon the command left behind (background delivery) nor stopped with the work's tree at
    a time limit."""
    root = tracline_home.parent
    done = tracline_run("--", "true", deliver="background")
    assert done.returncode == 0, done.stderr
    assert "left running" not in done.stderr, done.stderr
    write(root / "stops.py", _STOPS_ITS_TREE)
    ran = subprocess.run([PYTHON, "stops.py"], cwd=root, capture_output=True, text=True,
                         timeout=300, env={**os.environ, "TRACLINE__OUTBOX__DELIVERER_IDLE": "60",
                                            "TRACLINE_OUTBOX": str(root / "own.db")})
    assert ran.returncode == 0, ran.stderr
    seen = json.loads(ran.stdout.strip().splitlines()[-1])
    try:
        assert seen["sleeper"] in seen["stopped"] and seen["deliverer"] not in seen["stopped"]
        assert seen["deliverer_alive"]
    finally:
        try:
            os.kill(seen["deliverer"], signal.SIGTERM)
        except ProcessLookupError:
            pass
