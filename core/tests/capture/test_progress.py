"""Progress of the hashing left at a run's end: on a terminal only."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from .helpers import PYTHON, write

#: Writes an output too large to be hashed while the run goes on (so it is hashed at the end).
BIG_OUTPUT = "open('big.bin', 'wb').write(b'\\1' * (80 << 20))\n"


def _run(root: Path, stderr: int) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TRACLINE__CAPTURE__DELIVER": "none",
           "TRACLINE__CAPTURE__PROGRESS_AFTER": "0", "TERM": "xterm"}
    return subprocess.run([PYTHON, "-m", "tracline", "run", "--", PYTHON, "big.py"], cwd=root,
                          env=env, stdout=subprocess.DEVNULL, stderr=stderr, timeout=120,
                          check=False)


def _read_all(fd: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 1 << 16)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_progress_on_a_terminal_only(tracline_home: Path) -> None:
    """Hashing left at the end draws a bar naming it on a terminal; with stderr a pipe
    nothing extra is written."""
    root = tracline_home.parent
    write(root / "big.py", BIG_OUTPUT)
    main, sub = pty.openpty()
    try:
        done = _run(root, sub)
        os.close(sub)
        shown = _read_all(main)
    finally:
        os.close(main)
    assert done.returncode == 0, shown
    assert b"tracline: hashing 1 file(s) big.bin" in shown
    done = _run(root, subprocess.PIPE)  # the same run, stderr to a pipe
    assert done.returncode == 0
    assert done.stderr == b"", done.stderr
