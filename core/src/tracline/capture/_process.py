"""Run the user's command as a child that behaves as if started by a shell.

stdin, stdout and stderr are inherited; the exit status comes back unchanged, and a death
by signal N becomes 128+N (the shell's convention). Signals sent to tracline (SIGTERM,
SIGHUP, SIGQUIT, SIGUSR1/2, and SIGINT when it did not come from the terminal, which
delivers Ctrl-C to the child itself) are forwarded to the child.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Mapping, Sequence

from tracline.errors import CaptureError, CommandNotFound

TYPE_CHECKING = False  # no typing at run time: this module loads before the command starts
if TYPE_CHECKING:
    import subprocess
    from collections.abc import Callable
    from typing import Any, Protocol

    class Signalable(Protocol):
        """A child process, or something that will pass a signal on to one."""

        def send_signal(self, sig: int, /) -> None: ...

__all__ = [
    "Child", "Forwarded", "collect", "end_tracers", "exit_status", "forward_signals",
    "not_executable", "not_found", "output", "start", "tracers", "wait_child", "wait_tracers",
]

_FORWARDED = (signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)


class Child:
    """A command started with ``posix_spawn``: the part of ``subprocess.Popen`` that a
    captured run needs (``subprocess`` is slow to import, and this is on the path to the
    command)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self, timeout: float | None = None) -> int:
        """The exit status (negative: killed by that signal); TimeoutExpired after
        ``timeout`` seconds."""
        if self.returncode is not None:
            return self.returncode
        if timeout is not None:
            fd = os.pidfd_open(self.pid)
            try:
                if not select.select([fd], [], [], max(timeout, 0.0))[0]:
                    import subprocess

                    raise subprocess.TimeoutExpired(str(self.pid), timeout)
            finally:
                os.close(fd)
        _, status = os.waitpid(self.pid, 0)
        self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def send_signal(self, sig: int, /) -> None:
        if self.returncode is None:
            os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


#: Python ignores these; a command expects them at their defaults (``yes | head`` ends).
_DEFAULT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGPIPE", "SIGXFZ", "SIGXFSZ")
                         if hasattr(signal, name))


def start(argv: Sequence[str], env: Mapping[str, str], cwd: str,
          program: str | None = None) -> Child | subprocess.Popen[bytes]:
    """Start ``argv`` (``program``: its resolved path) with stdio inherited; a missing or
    non-executable program is a :class:`CaptureError`."""
    try:
        if program is not None and os.path.samefile(cwd, "."):
            return Child(os.posix_spawn(program, list(argv), dict(env),
                                        setsigdef=_DEFAULT_SIGNALS))
        import subprocess

        return subprocess.Popen(list(argv), env=dict(env), cwd=cwd)
    except FileNotFoundError as e:
        raise not_found(argv[0]) from e
    except PermissionError as e:
        raise not_executable(argv[0]) from e
    except OSError as e:
        raise CaptureError(f"cannot run {argv[0]}: {e.strerror}") from e


def output(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, int] | None:
    """Start ``argv`` with its stdout to a pipe and stderr to /dev/null: (pid, read end);
    None when it cannot be started. :func:`collect` reads it."""
    read, write = os.pipe()
    actions = [(os.POSIX_SPAWN_DUP2, write, 1), (os.POSIX_SPAWN_CLOSE, read),
               (os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0)]
    try:
        program = argv[0] if "/" in argv[0] else None
        spawn = os.posix_spawn if program else os.posix_spawnp
        pid = spawn(argv[0], list(argv), dict(env), file_actions=actions,
                    setsigdef=_DEFAULT_SIGNALS)
    except OSError:
        os.close(read)
        return None
    finally:
        os.close(write)
    return pid, read


def collect(started: tuple[int, int] | None, timeout: float = 30.0) -> tuple[int, bytes]:
    """(exit status, stdout) of what :func:`output` started; (1, b"") if it could not be
    started or ran past ``timeout`` seconds (it is killed)."""
    if started is None:
        return 1, b""
    pid, fd = started
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return 1, b""
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), b"".join(chunks)


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
        self.child: Child | subprocess.Popen[bytes] | None = None
        self.held: list[int] = []

    def send_signal(self, sig: int, /) -> None:
        if self.child is None:
            self.held.append(sig)
        else:
            self.child.send_signal(sig)

    def started(self, child: Child | subprocess.Popen[bytes]) -> None:
        self.child = child
        held, self.held = self.held, []
        for sig in held:
            _send(child, sig)


def _send(child: Signalable, sig: int) -> None:
    try:
        child.send_signal(sig)
    except ProcessLookupError:  # it has just ended
        pass


class forward_signals:  # noqa: N801 - used as a context manager, like contextlib's
    """Forward signals to ``child`` while the ``with`` block runs (from the main thread; in
    another thread, Python lets no handler be set and nothing is forwarded)."""

    def __init__(self, child: Signalable) -> None:
        self.child = child
        self.previous: dict[int, Any] = {}

    def forward(self, signum: int, frame: object) -> None:
        child = self.child
        started = not isinstance(child, Forwarded) or child.child is not None
        if signum == signal.SIGINT and started and _from_terminal():
            return  # the terminal sent it to the whole foreground group, child included
        _send(child, signum)

    def __enter__(self) -> None:
        for signum in (signal.SIGINT, *_FORWARDED):
            try:
                self.previous[signum] = signal.signal(signum, self.forward)
            except (OSError, ValueError):  # ValueError: not the main thread
                continue

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)
        self.previous = {}


def tracers(capture_dir: str) -> list[int]:
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


def _traced(capture_dir: str) -> bool:
    """Whether a tracer was started for this capture: a trace file exists, or a Python
    process logged starting one (``T``: its file may not be created yet)."""
    try:
        if any(name.startswith("strace.") for name in os.listdir(capture_dir)):
            return True
        with open(os.path.join(capture_dir, "hooks.log"), "rb") as handle:
            log = handle.read()
    except OSError:
        return False
    return log.startswith(b"T\t") or b"\nT\t" in log


def wait_tracers(capture_dir: str, timeout: float) -> bool:
    """Wait until every tracer writing into ``capture_dir`` is done; False on timeout."""
    if not _traced(capture_dir):
        return True
    deadline = time.monotonic() + timeout
    for pid in tracers(capture_dir):
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


def end_tracers(capture_dir: str) -> None:
    """Ask the tracers writing into ``capture_dir`` to end: strace detaches from the processes
    it follows (they run on, unobserved) and writes out what it saw."""
    for pid in tracers(capture_dir):
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue


def wait_child(child: Child | subprocess.Popen[bytes], time_limit: float | None,
               stop: Callable[[], object] | None = None) -> tuple[int, bool]:
    """Wait for ``child``; past ``time_limit`` seconds stop it — with ``stop`` (the whole
    process tree), else the child alone. (returncode, stopped)."""
    if time_limit is None:
        return child.wait(), False
    import subprocess

    try:
        return child.wait(timeout=time_limit), False
    except subprocess.TimeoutExpired:
        if stop is not None:
            stop()
            return child.wait(), True
        child.terminate()
        try:
            return child.wait(timeout=30), True
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait(), True
