"""Children of the command are followed: Python ones by the bootstrap, others by strace."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import Run
from .helpers import PYTHON, blake3_of, digests, last, names, write

needs_strace = pytest.mark.skipif(shutil.which("strace") is None,
                                  reason="strace is not installed (apt-get install strace)")

SUBPROCESS = """
import subprocess, sys
subprocess.run([sys.executable, "child.py"], check=True)
subprocess.run([sys.executable, "-c", "open('from_c.txt', 'w').write(open('b.txt').read())"],
               check=True, env={"PATH": "/usr/bin:/bin"})   # an explicit env still reports
"""
CHILD = "open('from_child.txt', 'w').write(open('a.txt').read())\n"
MULTI = """
import multiprocessing as mp, sys

def work(i):
    with open(f"in_{i}.txt") as src, open(f"out_{i}.txt", "w") as dst:
        dst.write(src.read().upper())

if __name__ == "__main__":
    mp.set_start_method(sys.argv[1])
    with mp.Pool(2) as pool:
        pool.map(work, range(3))
"""


def test_python_children_via_subprocess(tracline_run: Run, tracline_home: Path) -> None:
    """A Python child (even one given an explicit env) reports its files to the run."""
    root = tracline_home.parent
    write(root / "a.txt", "a")
    write(root / "b.txt", "b")
    write(root / "child.py", CHILD)
    write(root / "parent.py", SUBPROCESS)
    done = tracline_run("--", PYTHON, "parent.py")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"a.txt", "b.txt"}
    assert names(event["outputs"], root) == {"from_child.txt", "from_c.txt"}


@pytest.mark.parametrize("method", ["spawn", "forkserver", "fork"])
def test_multiprocessing_workers(tracline_run: Run, tracline_home: Path, method: str) -> None:
    """multiprocessing workers are observed with every start method."""
    root = tracline_home.parent
    for i in range(3):
        write(root / f"in_{i}.txt", f"row {i}")
    write(root / "multi.py", MULTI)
    done = tracline_run("--", PYTHON, "multi.py", method)
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {f"in_{i}.txt" for i in range(3)}
    assert names(event["outputs"], root) == {f"out_{i}.txt" for i in range(3)}


@needs_strace
@pytest.mark.parametrize(("mode", "expected"), [("auto", "preload"), ("strace", "strace")])
def test_shell_command_is_traced(tracline_run: Run, tracline_home: Path, mode: str,
                                 expected: str) -> None:
    """`bash -c 'cat a > b'` records a as input and b as output, with their digests, whether
    the interposer or strace observes it."""
    root = tracline_home.parent
    write(root / "a", "some bytes\n")
    done = tracline_run("--capture", mode, "--", "bash", "-c",
                        "cat a > b && mv b c && cat c > d && rm c")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert event["run"]["facets"]["tracline_execution"]["captureMode"] == expected
    assert names(event["inputs"], root) == {"a"}
    assert names(event["outputs"], root) == {"d"}
    assert digests(event["outputs"]) == {str(root / "d"): blake3_of(root / "d")}


@needs_strace
@pytest.mark.parametrize("mode", ["auto", "strace"])
def test_file_written_again_after_renaming_it_away_is_an_output(
        tracline_run: Run, tracline_home: Path, mode: str) -> None:
    """`mv log log.1; echo > log` (a log rotation) records both log.1 and the new log as
    outputs, each with the digest of its bytes at the end."""
    root = tracline_home.parent
    done = tracline_run("--capture", mode, "--", "bash", "-c",
                        "echo old > log && mv log log.1 && echo new > log")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["outputs"], root) == {"log", "log.1"}
    assert digests(event["outputs"]) == {str(root / n): blake3_of(root / n)
                                         for n in ("log", "log.1")}


@needs_strace
@pytest.mark.parametrize("mode", ["auto", "strace"])
def test_file_removed_after_early_hashing_is_no_output(tracline_run: Run, tracline_home: Path,
                                                      mode: str) -> None:
    """A file the run wrote and removed is no output, even once tracline hashed it early while
    it was there (the command waits for that read before it goes on)."""
    root = tracline_home.parent
    moved = write(root / "b", "some bytes\n")
    os.utime(moved, ns=(0, moved.stat().st_mtime_ns))  # unread since written: -N holds
    # `[ -N c ]`: c was modified since it was last read — until tracline's early hash reads it.
    until_hashed = "for i in $(seq 1200); do [ -N c ] || break; sleep 0.05; done"
    done = tracline_run("--capture", mode, "--", "bash", "-c",
                        f"mv b c && {until_hashed}; cat c > d && rm c")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["outputs"], root) == {"d"}
    assert names(event["inputs"], root) == set()
    assert digests(event["outputs"]) == {str(root / "d"): blake3_of(root / "d")}


@needs_strace
@pytest.mark.parametrize(("mode", "expected"),
                         [("auto", "preload"), ("audit", "audit-hook+strace-children")])
def test_shell_child_of_python_is_traced(tracline_run: Run, tracline_home: Path, mode: str,
                                         expected: str) -> None:
    """A Python command's shell children (subprocess, os.system) are observed: by the
    interposer, or (audit hooks) by running them under strace."""
    root = tracline_home.parent
    write(root / "a", "x")
    write(root / "p.py", "import os, subprocess\n"
          "subprocess.run('cat a > b', shell=True, check=True)\n"
          "os.system('cat b > c')\n")
    done = tracline_run("--capture", mode, "--", PYTHON, "p.py")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"a"}
    assert names(event["outputs"], root) == {"b", "c"}
    assert event["run"]["facets"]["tracline_execution"]["captureMode"] == expected


@needs_strace
def test_python_under_a_shell(tracline_run: Run, tracline_home: Path) -> None:
    """A Python script started by a shell script is seen through strace, packages included."""
    root = tracline_home.parent
    write(root / "in.csv", "1,2\n")
    write(root / "step.py", "import json\nopen('out.json', 'w').write(json.dumps("
          "open('in.csv').read()))\n")
    write(root / "run.sh", f"set -e\n{PYTHON} step.py\n")
    done = tracline_run("--", "bash", "run.sh")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"in.csv"}
    assert names(event["outputs"], root) == {"out.json"}


def test_without_strace_the_run_says_what_was_missed(tracline_run: Run,
                                                     tracline_home: Path) -> None:
    """Audit hooks with strace off: Python files are still recorded; the shell child is
    reported unseen."""
    root = tracline_home.parent
    write(root / "a.txt", "a")
    write(root / "p.py", "import subprocess\nopen('py_out.txt', 'w').write(open('a.txt').read())\n"
          "subprocess.run('cat a.txt > sh_out.txt', shell=True, check=True)\n")
    done = tracline_run("--capture", "audit", "--", PYTHON, "p.py",
                        env={"TRACLINE__CAPTURE__STRACE": "false"})
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if line.startswith("tracline: warning")]
    assert len([w for w in warnings if "strace is not installed" in w]) == 1
    assert any("not observed (no strace): /bin/sh" in w for w in warnings)
    event = last(tracline_home)
    assert "strace missing" in event["run"]["facets"]["tracline_execution"]["captureMode"]
    assert names(event["inputs"], root) == {"a.txt"}
    assert names(event["outputs"], root) == {"py_out.txt"}
