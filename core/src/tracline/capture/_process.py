"""Run the user's command as a child that behaves as if started by a shell.

stdin, stdout and stderr are inherited; the exit status comes back unchanged, and a death
by signal N becomes 128+N (the shell's convention). Signals sent to tracline (SIGTERM,
SIGHUP, SIGQUIT, SIGUSR1/2, and SIGINT when it did not come from the terminal, which
delivers Ctrl-C to the child itself) are forwarded to the child.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping, Sequence

from tracline.errors import CaptureError, CommandNotFound

TYPE_CHECKING = False  # no typing at run time: this module loads before the command starts
if TYPE_CHECKING:
    from typing import Protocol

    class Signalable(Protocol):
        """A child process, or something that will pass a signal on to one."""

        def send_signal(self, sig: int, /) -> None: ...

__all__ = [
    "Forwarded", "exit_status", "forward_signals", "not_executable", "not_found", "start",
    "wait_child", "wait_tracers",
]

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


def start(argv: Sequence[str], env: Mapping[str, str], cwd: str) -> subprocess.Popen[bytes]:
    """Start ``argv``; a missing or non-executable program is a :class:`CaptureError`."""
    try:
        return subprocess.Popen(list(argv), env=dict(env), cwd=cwd)
    except FileNotFoundError as e:
        raise not_found(argv[0]) from e
    except PermissionError as e:
        raise not_executable(argv[0]) from e
    except OSError as e:
        raise CaptureError(f"cannot run {argv[0]}: {e.strerror}") from e


def not_found(program: str) -> CommandNotFound:
    """The error for a program that does not exist (exit 127, like a shell)."""
    return CommandNotFound(f"command not found: {program}",
                           hint="check the spelling, or give the program's path")


def not_executable(program: str) -> CommandNotFound:
    """The error for a program that may not be executed (exit 126, like a shell)."""
    return CommandNotFound(f"permission denied: {program}", exit_code=126,
                           hint="make it executable (chmod +x) or run it with its interpreter")


def exit_status(returncode: int) -> tuple[int, int | None]:
    """(exit code as a shell reports it, signal number or None)."""
    if returncode < 0:
        return 128 - returncode, -returncode
    return returncode, None


def _from_terminal() -> bool:
    """True when tracline runs in the foreground of a terminal (Ctrl-C reaches the child)."""
    for fd in (0, 1, 2):
        try:
            if os.isatty(fd):
                return os.tcgetpgrp(fd) == os.getpgrp()
        except OSError:
            continue
    return False


class Forwarded:
    """The child to forward to, once it is started: a signal that arrives before then is
    held and passed on by :meth:`started`."""

    def __init__(self) -> None:
        self.child: subprocess.Popen[bytes] | None = None
        self.held: list[int] = []

    def send_signal(self, sig: int, /) -> None:
        if self.child is None:
            self.held.append(sig)
        else:
            self.child.send_signal(sig)

    def started(self, child: subprocess.Popen[bytes]) -> None:
        self.child = child
        held, self.held = self.held, []
        for sig in held:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)


@contextlib.contextmanager
def forward_signals(child: Signalable) -> Iterator[None]:
    """Forward signals to ``child`` while the block runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def forward(signum: int, frame: object) -> None:
        started = not isinstance(child, Forwarded) or child.child is not None
        if signum == signal.SIGINT and started and _from_terminal():
            return  # the terminal sent it to the whole foreground group, child included
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {}
    for signum in (signal.SIGINT, *_FORWARDED):
        try:
            previous[signum] = signal.signal(signum, forward)
        except (OSError, ValueError):
            continue
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _tracers(capture_dir: str) -> list[int]:
    """Pids of strace processes writing into ``capture_dir``."""
    marker = os.fsencode(capture_dir)
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                cmdline = handle.read()
        except OSError:
            continue
        if marker in cmdline and b"strace" in cmdline.split(b"\0", 1)[0]:
            found.append(int(name))
    return found


def wait_tracers(capture_dir: str, timeout: float) -> bool:
    """Wait until every tracer writing into ``capture_dir`` is done; False on timeout."""
    deadline = time.monotonic() + timeout
    for pid in _tracers(capture_dir):
        try:
            fd = os.pidfd_open(pid)
        except OSError:
            continue
        try:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                return False
        finally:
            os.close(fd)
    return True


def wait_child(child: subprocess.Popen[bytes], time_limit: float | None) -> tuple[int, bool]:
    """Wait for ``child``; past ``time_limit`` seconds stop it. (returncode, stopped)."""
    if time_limit is None:
        return child.wait(), False
    try:
        return child.wait(timeout=time_limit), False
    except subprocess.TimeoutExpired:
        child.terminate()
        try:
            return child.wait(timeout=30), True
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait(), True
