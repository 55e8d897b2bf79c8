"""Zero-copy hashing of large files through ``mmap``, made safe by a read lease.

Hashing a mapping avoids copying every byte out of the page cache, which on a small machine
is the difference between matching ``b3sum`` and trailing it by a fifth. But touching a mapped
page beyond the end of a file that someone truncated kills the process with SIGBUS. So a file is
mapped only under a Linux read lease (``F_SETLEASE``): while it is held, any other open for
writing and any truncate waits for us. The lease is checked between slices; when a writer asks
for the file, the lease is released at once and the rest is read with ``read`` instead (the
stat comparison after hashing then decides whether the digest stands). Where no lease can be
had (another process has the file open for writing, not our file, not Linux), ``read`` is used.
"""

from __future__ import annotations

import contextlib
import fcntl
import mmap
import os
import signal
from collections.abc import Callable

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tracline.hashing._digest import Hasher

__all__ = ["MAP_MIN", "hash_mapped"]

#: Files at least this large are mapped (below it, mapping costs more than copying saves).
MAP_MIN = 4 << 20
#: Bytes hashed between two checks of the lease (little work: writers never wait long).
SLICE = 64 << 20

_SETLEASE = getattr(fcntl, "F_SETLEASE", None)
_GETLEASE = getattr(fcntl, "F_GETLEASE", None)
_SETSIG = getattr(fcntl, "F_SETSIG", None)
_SIGNAL = getattr(signal, "SIGURG", None)  # ignored by default: a lease break is polled for
_QUIET: tuple[object, ...] = (signal.SIG_DFL, signal.SIG_IGN)


def _take_lease(fd: int) -> bool:
    """Take a read lease on ``fd``; False where that is impossible or unsafe."""
    if None in (_SETLEASE, _GETLEASE, _SETSIG, _SIGNAL):
        return False
    # The break notice is a signal: use one nobody handles, so it is simply dropped.
    handler = signal.getsignal(_SIGNAL)  # type: ignore[arg-type]
    if handler not in _QUIET:
        return False
    try:
        fcntl.fcntl(fd, _SETSIG, _SIGNAL)  # type: ignore[arg-type]
        fcntl.fcntl(fd, _SETLEASE, fcntl.F_RDLCK)  # type: ignore[arg-type]
    except OSError:
        return False
    return True


def _lease_held(fd: int) -> bool:
    return bool(fcntl.fcntl(fd, _GETLEASE, 0) == fcntl.F_RDLCK)  # type: ignore[arg-type]


def _drop_lease(fd: int) -> None:
    with contextlib.suppress(OSError):
        fcntl.fcntl(fd, _SETLEASE, fcntl.F_UNLCK)  # type: ignore[arg-type]


def hash_mapped(
    fd: int, hasher: Hasher, size: int, advance: Callable[[int], object] | None
) -> int:
    """Feed the first ``size`` bytes of ``fd`` to ``hasher`` from a mapping, as far as it is
    safe; return how many bytes were fed (0 when mapping was not possible)."""
    if not _take_lease(fd):
        return 0
    done = 0
    try:
        # The file may have shrunk between the caller's fstat and the lease: never map past EOF.
        if os.fstat(fd).st_size < size:
            return 0
        try:
            mapped = mmap.mmap(fd, size, access=mmap.ACCESS_READ)
        except (OSError, ValueError):  # a file system that cannot map: read instead
            return 0
        with mapped:
            with contextlib.suppress(AttributeError, OSError):
                mapped.madvise(mmap.MADV_SEQUENTIAL)
            with memoryview(mapped) as view:
                while done < size and _lease_held(fd):
                    step = min(SLICE, size - done)
                    with view[done : done + step] as part:
                        hasher.update(part)
                    done += step
                    if advance is not None:
                        advance(step)
    finally:
        _drop_lease(fd)
    return done
