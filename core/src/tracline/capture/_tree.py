"""A run's process tree: find every process of it, stop it whole, report what outlives it.

A command's children can fork, double-fork and ``setsid`` away from its process group;
killing its main process alone leaves them writing (and spending). So:

* the capturing process becomes a *child subreaper* (``prctl(PR_SET_CHILD_SUBREAPER)``):
  an orphaned descendant is re-parented to it rather than to init, and so stays findable
  through parent links (:func:`become_subreaper`);
* :func:`descendants` walks those links in ``/proc``;
* :func:`stop_tree` freezes the whole tree (``SIGSTOP``, repeated until no new process
  appears: nothing more is written or forked), then kills it (``SIGKILL``) — or first asks
  politely (``SIGTERM``) for ``grace`` seconds when the caller allows them;
* :func:`outliving` names the processes still running once the command has ended (daemons),
  which are reported and left alone, never waited for.

Standard library only (``ctypes`` for ``prctl``); Linux. Elsewhere the functions do what they
can with the main process alone.
"""

from __future__ import annotations

import os
import signal
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable

__all__ = ["alive", "become_subreaper", "descendants", "describe", "outliving", "reap",
           "stop_tree"]

_PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Make this process the reaper of its orphaned descendants; False where it cannot."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _parents() -> dict[int, int]:
    """Every process's parent, from ``/proc/PID/stat``."""
    parents: dict[int, int] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return parents
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        fields = stat[stat.rfind(b")") + 2:].split()
        if len(fields) > 1:
            parents[int(name)] = int(fields[1])
    return parents


def descendants(root: int) -> list[int]:
    """The processes below ``root`` (not ``root`` itself), parents before children."""
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found: list[int] = []
    queue = [root]
    while queue:
        for child in children.get(queue.pop(0), ()):
            if child not in found:
                found.append(child)
                queue.append(child)
    return found


def describe(pid: int) -> str:
    """A process's command line, or ``pid N`` once it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            words = [os.fsdecode(w) for w in handle.read().split(b"\0") if w]
    except OSError:
        words = []
    return " ".join(words) if words else f"pid {pid}"


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended: only its exit status is left)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read()
    except OSError:
        return False
    return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")


def _signal(pids: Iterable[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def stop_tree(root: int, *, include_root: bool = True, grace: float = 0.0,
              spare: Callable[[int], bool] | None = None) -> list[int]:
    """Stop every process below ``root`` (and ``root`` itself unless ``include_root`` is
    false); returns the pids stopped. ``spare``: processes to leave alone (tracers); the
    deliverers this process started are never the work's, and are always left alone.

    With ``grace`` the tree is first sent ``SIGTERM`` and given that many seconds to end;
    then whatever is left is frozen and killed, so that from the moment this returns no
    process of the tree runs any more."""
    ours = _deliverers()

    def tree() -> list[int]:
        pids = descendants(root)
        if include_root:
            pids.insert(0, root)
        return [p for p in pids if p not in ours and (spare is None or not spare(p))]

    stopped: list[int] = []
    if grace > 0:
        pids = tree()
        _signal(pids, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and any(alive(p) for p in pids):
            time.sleep(0.02)
    frozen: set[int] = set()
    while True:  # freeze until a pass finds no new process (a fork racing the freeze)
        fresh = [p for p in tree() if p not in frozen]
        if not fresh:
            break
        _signal(fresh, signal.SIGSTOP)
        frozen.update(fresh)
        stopped.extend(fresh)
    _signal(frozen, signal.SIGKILL)
    _signal(frozen, signal.SIGCONT)
    return stopped


def outliving(root: int, ended: Collection[int] = (),
              spare: Callable[[int], bool] | None = None) -> list[int]:
    """Processes below ``root`` still running (daemons a command left behind), less
    ``ended``, ``spare`` and the deliverers this process started."""
    ours = _deliverers()
    return [p for p in descendants(root) if p not in ended and p not in ours and alive(p)
            and (spare is None or not spare(p))]


def _deliverers() -> frozenset[int]:
    """The long-lived deliverers this process started: its children, never the work's."""
    from tracline.delivery import started_here

    return started_here()


def reap() -> None:
    """Collect the exit status of any child that has ended (orphans a subreaper inherits)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
