"""The command's exit status and signals pass through; bad input gives one clear line."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import Run
from .helpers import PYTHON, last, names, read_events, write


def test_exit_code_passes_through(tracline_run: Run, tracline_home: Path) -> None:
    """A command exiting 3 makes `tracline run` exit 3 and records a FAIL with the reason."""
    write(tracline_home.parent / "three.py", "import sys\nprint('out')\nsys.exit(3)\n")
    done = tracline_run("--", PYTHON, "three.py")
    assert done.returncode == 3
    assert done.stdout == "out\n"
    event = last(tracline_home)
    assert event["eventType"] == "FAIL"
    assert event["run"]["facets"]["errorMessage"]["message"] == "command exited with status 3"
    assert event["run"]["facets"]["tracline_execution"]["exitCode"] == 3


def test_signal_death_passes_through(tracline_run: Run, tracline_home: Path) -> None:
    """A command killed by SIGKILL makes `tracline run` exit 128+9, recorded as FAIL."""
    write(tracline_home.parent / "die.py",
          "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    done = tracline_run("--", PYTHON, "die.py")
    assert done.returncode == 128 + signal.SIGKILL
    assert last(tracline_home)["run"]["facets"]["errorMessage"]["message"] == \
        "command was killed by SIGKILL"


def test_sigterm_is_forwarded_to_the_command(tracline_home: Path) -> None:
    """SIGTERM sent to `tracline run` reaches the command, whose handler's exit code comes back."""
    root = tracline_home.parent
    write(root / "wait.py", "import signal, sys, time\n"
          "signal.signal(signal.SIGTERM, lambda *a: (open('got_term', 'w').close(), sys.exit(7)))\n"
          "open('ready', 'w').close()\ntime.sleep(600)\n")
    proc = subprocess.Popen([PYTHON, "-m", "tracline", "run", "--", PYTHON, "wait.py"], cwd=root,
                            env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"})
    deadline = time.monotonic() + 300
    while not (root / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (root / "ready").exists(), "the command never started"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 7
    assert (root / "got_term").exists()


def test_sigint_not_from_a_terminal_is_forwarded(tracline_home: Path) -> None:
    """SIGINT sent to tracline alone (no terminal) interrupts the command: exit 130."""
    root = tracline_home.parent
    write(root / "wait.py", "import time\nopen('ready', 'w').close()\ntime.sleep(600)\n")
    proc = subprocess.Popen([PYTHON, "-m", "tracline", "run", "--", PYTHON, "wait.py"], cwd=root,
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True,
                            env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"})
    deadline = time.monotonic() + 300
    while not (root / "ready").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert (root / "ready").exists(), "the command never started"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=300) == 128 + signal.SIGINT  # Python dies by SIGINT on Ctrl-C
    assert b"KeyboardInterrupt" in proc.stderr.read()  # type: ignore[union-attr]


def test_missing_command_exits_127_with_one_line(tracline_run: Run, tracline_home: Path) -> None:
    """A command that does not exist: exit 127 like a shell, one error line, no events."""
    done = tracline_run("--", "no-such-program-xyz", "--flag")
    assert done.returncode == 127
    assert done.stderr.strip().splitlines() == [
        "tracline: error: command not found: no-such-program-xyz; check the spelling, "
        "or give the program's path"
    ]
    assert read_events(tracline_home) == []


def test_non_executable_command_exits_126(tracline_run: Run, tracline_home: Path) -> None:
    """A file without execute permission: exit 126 like a shell."""
    write(tracline_home.parent / "script.sh", "echo hi\n")
    done = tracline_run("--", "./script.sh")
    assert done.returncode == 126
    assert done.stderr.startswith("tracline: error: permission denied: ./script.sh")


#: As root, drop the capabilities that bypass file permissions, so that chmod 0 means it.
AS_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []


@pytest.mark.skipif(bool(AS_USER) and not shutil.which("setpriv"), reason="needs setpriv as root")
def test_unreadable_input_is_reported(tracline_home: Path) -> None:
    """An input the run tried to read but could not (seen by the audit hooks, which see the
    attempt) is recorded without digest and reported; the run completes."""
    root = tracline_home.parent
    secret = write(root / "locked.csv", "x")
    secret.chmod(0)
    write(root / "try.py", "try:\n    open('locked.csv').read()\nexcept OSError:\n    pass\n"
          "open('out.txt', 'w').write('ok')\n")
    done = subprocess.run([*AS_USER, PYTHON, "-m", "tracline", "run", "--capture", "audit", "--",
                           PYTHON, "try.py"],
                          cwd=root, capture_output=True, text=True, check=False,
                          env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"})
    assert done.returncode == 0
    assert "locked.csv" in done.stderr and "permission denied" in done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"locked.csv"}
    assert event["inputs"][0]["facets"] == {}
    assert names(event["outputs"], root) == {"out.txt"}


def test_input_unreadable_by_tracline_is_reported(tracline_home: Path) -> None:
    """An input tracline cannot hash (a FIFO read by the command) is reported, not fatal."""
    root = tracline_home.parent
    os.mkfifo(root / "pipe")
    write(root / "feed.py", "open('out.txt', 'w').write(open('pipe').read())\n")
    proc = subprocess.Popen([PYTHON, "-m", "tracline", "run", "--", PYTHON, "feed.py"], cwd=root,
                            env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"},
                            stderr=subprocess.PIPE, text=True)
    with open(root / "pipe", "w") as writer:
        writer.write("streamed")
    assert proc.wait(timeout=60) == 0
    assert (root / "out.txt").read_text() == "streamed"
    event = last(tracline_home)
    assert names(event["outputs"], root) == {"out.txt"}
    assert names(event["inputs"], root) == {"pipe"}
    assert "pipe is not a regular file" in proc.stderr.read()  # type: ignore[union-attr]


def test_disabled_runs_plainly(tracline_run: Run, tracline_home: Path) -> None:
    """TRACLINE_DISABLED=1: the command runs as is (same output and exit code), no events."""
    write(tracline_home.parent / "two.py", "import sys\nprint('plain')\nsys.exit(2)\n")
    done = tracline_run("--", PYTHON, "two.py", env={"TRACLINE_DISABLED": "1"})
    assert (done.returncode, done.stdout, done.stderr) == (2, "plain\n", "")
    assert not (tracline_home / "outbox.db").exists()
    missing = tracline_run("--", "no-such-program-xyz", env={"TRACLINE_DISABLED": "1"})
    assert missing.returncode == 127


def test_no_command_is_a_usage_error(tracline_run: Run) -> None:
    """`tracline run` without a command explains how to give one (exit 2)."""
    done = tracline_run()
    assert done.returncode == 2
    assert "COMMAND" in done.stderr


def test_stdin_and_stdout_pass_through(tracline_home: Path) -> None:
    """The command reads tracline's stdin and writes its stdout, byte for byte."""
    done = subprocess.run([PYTHON, "-m", "tracline", "run", "--", "cat"], input=b"\x00bytes\n",
                          capture_output=True, cwd=tracline_home.parent, check=False,
                          env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"})
    assert (done.returncode, done.stdout) == (0, b"\x00bytes\n")
