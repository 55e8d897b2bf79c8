"""Run the `tracline` command the way a person or a script sees it: in a real pseudo-terminal
of a given width, or with its output piped."""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import attrs

#: CSI and OSC escape sequences (colours, cursor and hyperlink codes).
ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)")


@attrs.frozen
class Output:
    """What a command printed and how it ended."""

    code: int
    text: str
    stderr: str = ""

    @property
    def plain(self) -> str:
        """The text without escape codes."""
        return ANSI.sub("", self.text)

    @property
    def lines(self) -> list[str]:
        return self.plain.splitlines()


def _command(argv: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "tracline.cli", *argv]


def _environ(env: Mapping[str, str] | None) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items()
               if k not in {"COLUMNS", "LINES", "FORCE_COLOR", "NO_COLOR", "TTY_COMPATIBLE",
                            "TTY_INTERACTIVE"}}
    environ.update({"TERM": "xterm-256color", **(env or {})})
    return environ


def in_terminal(argv: Sequence[str], *, cwd: Path, columns: int = 80,
                env: Mapping[str, str] | None = None, deadline: float = 120.0) -> Output:
    """Run ``tracline ARGV`` with stdout and stderr on a pseudo-terminal ``columns`` wide."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: its terminal is the pty
        try:
            os.chdir(cwd)
            os.execve(sys.executable, _command(argv), _environ(env))
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    chunks: list[bytes] = []
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if not ready:
            continue
        try:
            data = os.read(fd, 65536)
        except OSError as e:  # EIO: the child closed the terminal
            if e.errno != errno.EIO:
                raise
            break
        if not data:
            break
        chunks.append(data)
    else:
        os.kill(pid, 9)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    text = b"".join(chunks).decode("utf-8", "replace").replace("\r\n", "\n")
    return Output(os.waitstatus_to_exitcode(status), text)


def piped(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None = None,
          deadline: float = 120.0) -> Output:
    """Run ``tracline ARGV`` with stdout and stderr piped, as a script would."""
    done = subprocess.run(_command(argv), cwd=cwd, env=_environ(env), capture_output=True,
                          text=True, timeout=deadline)
    return Output(done.returncode, done.stdout, done.stderr)


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_HEX = re.compile(r"[0-9a-f]{12,}")
_TIME = re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d(:\d\d(\.\d{1,6})?)?")
_AGO = re.compile(r"\b\d+([sm]) ago\b")


def masked(text: str) -> str:
    """``text`` with what differs from run to run — run ids, digests, request ids,
    timestamps — masked with the same number of characters, so that layouts still compare."""
    text = _UUID.sub(lambda m: "u" * len(m.group()), text)
    text = _HEX.sub(lambda m: "x" * len(m.group()), text)
    text = _TIME.sub(lambda m: re.sub(r"\d", "0", m.group()), text)
    return _AGO.sub(lambda m: f"0{m.group(1)} ago", text)
