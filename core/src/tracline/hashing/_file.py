"""Hashing one regular file: safe open, multi-threaded hashing, change detection."""

from __future__ import annotations

import errno
import operator
import os
import stat
import threading
from collections.abc import Callable

from tracline.errors import ChangedWhileHashing, HashError
from tracline.hashing._digest import new_hasher
from tracline.hashing._mapped import MAP_MIN, hash_mapped

__all__ = ["Identity", "hash_regular", "identity", "os_error", "special_kind", "stat_many",
           "stat_regular"]

#: Read size for large files; 8 MiB keeps blake3's threads busy between reads.
CHUNK = 8 << 20
#: Files at least this large are hashed with blake3's multi-threaded update.
THREADED_MIN = 1 << 20

_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
_buffers = threading.local()

Advance = Callable[[int], object]
FsPath = str | bytes

#: (device, inode, size, mtime_ns, ctime_ns): the part of a stat that must be unchanged for
#: a file to hold the same bytes (the stat cache's key, and the check around each read).
Identity = tuple[int, int, int, int, int]

#: The :data:`Identity` of a stat result (one C call: directory walks take it per file).
identity: Callable[[os.stat_result], Identity] = operator.attrgetter(
    "st_dev", "st_ino", "st_size", "st_mtime_ns", "st_ctime_ns"
)


def stat_many(names: list[str], dir_fd: int | None = None, *,
              follow: bool = True) -> tuple[list[int], list[Identity | int]]:
    """``(modes, keys)``: each name's ``st_mode`` and :data:`Identity` — or 0 and the errno
    when it cannot be stat'ed — relative to the open directory ``dir_fd`` (else the working
    directory), symlinks followed unless ``follow`` is false."""
    modes: list[int] = []
    keys: list[Identity | int] = []
    for name in names:
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=follow)
        except OSError as e:
            modes.append(0)
            keys.append(e.errno or errno.EIO)
        except ValueError:  # an embedded NUL
            modes.append(0)
            keys.append(errno.EINVAL)
        else:
            modes.append(st.st_mode)
            keys.append(identity(st))
    return modes, keys


def special_kind(mode: int) -> str | None:
    """Name a non-regular file type, or None for a regular file."""
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISFIFO, "a FIFO (named pipe)"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return None if stat.S_ISREG(mode) else "not a regular file"


def describe_loop(path: str) -> str:
    """Render the symlink chain from ``path`` until it repeats, e.g. ``a -> b -> a``."""
    chain, seen, current = [path], {os.path.abspath(path)}, path
    for _ in range(40):
        try:
            target = os.readlink(current)
        except OSError:
            break
        current = os.path.join(os.path.dirname(current), target)
        chain.append(target)
        key = os.path.abspath(current)
        if key in seen:
            break
        seen.add(key)
    return " -> ".join(chain)


def os_error(where: FsPath, e: OSError, doing: str = "read") -> HashError:
    """Translate an ``OSError`` on ``where`` into a :class:`HashError` with a hint."""
    path = os.fsdecode(where)
    if e.errno == errno.ELOOP:
        return HashError(
            f"cannot hash {path}: symlink loop {describe_loop(path)}",
            hint="point the symlink at a real file or directory, or remove it",
        )
    if isinstance(e, PermissionError):
        return HashError(
            f"cannot {doing} {path}: permission denied",
            hint="grant read permission (chmod u+r) or leave the file out",
        )
    if isinstance(e, FileNotFoundError):
        return HashError(
            f"cannot hash {path}: no such file or directory",
            hint="check the path; it may have been removed or be a dangling symlink",
        )
    return HashError(
        f"cannot {doing} {path}: {e.strerror or e}", hint="check the file and the disk it is on"
    )


def stat_regular(path: FsPath) -> os.stat_result:
    """``stat`` ``path`` (following symlinks); refuse anything but a regular file."""
    try:
        st = os.stat(path)
    except OSError as e:
        raise os_error(path, e, "stat") from e
    kind = special_kind(st.st_mode)
    if kind is not None:
        raise HashError(
            f"refusing to hash {os.fsdecode(path)}: it is {kind}",
            hint="only regular files (and directories, via digest_path) can be content-hashed",
        )
    return st


def _buffer() -> bytearray:
    buf: bytearray | None = getattr(_buffers, "buf", None)
    if buf is None:
        buf = _buffers.buf = bytearray(CHUNK)
    return buf


def _hash_fd(fd: int, algorithm: str, size: int, advance: Advance | None) -> tuple[str, int]:
    """Hash the open file ``fd`` of expected ``size``; return (hex, bytes read).

    Large files are mapped where that is safe (see ``_mapped``), else read in chunks; reading
    stops at end of file, or once more than ``size`` bytes came (the file grew).
    """
    hasher = new_hasher(algorithm, threads=size >= THREADED_MIN)
    total = 0
    if size < THREADED_MIN:
        while True:
            data = os.read(fd, size + 1 - total)
            if not data:
                break
            hasher.update(data)
            total += len(data)
            if total > size or total == size > 0:
                break
    else:
        total = hash_mapped(fd, hasher, size, advance) if size >= MAP_MIN else 0
        if total:
            os.lseek(fd, total, os.SEEK_SET)
        buf = _buffer()
        view = memoryview(buf)
        while total <= size:
            n = os.readv(fd, [buf])
            if n == 0:
                break
            hasher.update(view[:n])
            total += n
            if advance is not None:
                advance(n)
        return hasher.hexdigest(), total
    if advance is not None:
        advance(total)
    return hasher.hexdigest(), total


def hash_regular(
    path: FsPath,
    algorithm: str,
    advance: Advance | None = None,
    before: os.stat_result | Identity | None = None,
) -> tuple[str, os.stat_result]:
    """Hash the regular file at ``path``; return (hex, its stat), or raise :class:`HashError`.

    ``before`` is a fresh stat of ``path`` (or its :data:`Identity`) if the caller has one.
    The file is opened non-blocking (a FIFO swapped in cannot hang us); its stat before
    reading must equal the stat of the path after reading, else :class:`ChangedWhileHashing`
    is raised rather than a digest of a moving target.
    """
    if before is None:
        before = stat_regular(path)
    expected = identity(before) if isinstance(before, os.stat_result) else before
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as e:
        raise os_error(path, e, "open") from e
    try:
        opened = os.fstat(fd)
        if identity(opened) != expected or not stat.S_ISREG(opened.st_mode):
            raise _changed(path, "was replaced between stat and open")
        try:
            hexdigest, nread = _hash_fd(fd, algorithm, opened.st_size, advance)
        except OSError as e:
            raise os_error(path, e) from e
    finally:
        os.close(fd)
    try:
        after = os.stat(path)
    except OSError as e:
        raise _changed(path, f"was removed while being hashed ({e.strerror})") from e
    if nread != opened.st_size or identity(after) != identity(opened):
        raise _changed(path, f"changed while being hashed ({_what_changed(opened, after, nread)})")
    return hexdigest, opened


def _what_changed(before: os.stat_result, after: os.stat_result, nread: int) -> str:
    if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
        return "replaced by another file"
    if after.st_size != before.st_size:
        return f"size {before.st_size} -> {after.st_size}"
    if nread != before.st_size:
        return f"expected {before.st_size} bytes, read {nread}"
    return "modification time changed"


def _changed(path: FsPath, what: str) -> ChangedWhileHashing:
    return ChangedWhileHashing(
        f"{os.fsdecode(path)} {what}",
        hint="a writer is still busy with it; hash it again once the writer has finished",
    )
