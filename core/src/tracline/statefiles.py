"""tracline's state files (outbox, registry, request store, stat cache): made private,
made whole, and moved aside — never reset — when they are found damaged.

* **Private.** Files are created with ``[tracline] file_mode`` (0600 by default: the owner
  alone reads the request store, the registry and the outbox, whatever the umask); folders
  tracline creates for them get the matching search bits (0700).
* **Whole.** A new SQLite file is made under a temporary name, given its tables, and linked
  into place in one step, so a process never sees a half-made file, and two processes that
  create it at once both end up with the same complete one.
* **Moved aside.** A file SQLite reports as damaged (or one truncated to nothing) is renamed,
  with its write-ahead log, to ``NAME.damaged-<time>`` for recovery, and a new one is started;
  the caller says so loudly, with what to do.

Standard library only: the outbox uses this on `tracline run`'s path.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable

__all__ = [
    "DEFAULT_MODE",
    "configured_mode",
    "create_sqlite",
    "damaged_copies",
    "is_damage",
    "make_dirs",
    "move_aside",
    "set_aside",
    "sqlite_path",
]

log = logging.getLogger("tracline")

DEFAULT_MODE = 0o600
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
_SIDE_FILES = ("-wal", "-shm", "-journal")


def configured_mode() -> int:
    """``[tracline] file_mode`` of this process's configuration (0600 if it cannot be read)."""
    from tracline.config import get_config
    from tracline.errors import ConfigError

    try:
        return get_config().file_mode
    except ConfigError:
        return DEFAULT_MODE


def is_damage(error: BaseException) -> bool:
    """True when SQLite says the file is not a (sound) database."""
    code = getattr(error, "sqlite_errorcode", 0) & 0xFF
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return True
    text = str(error)
    return "malformed" in text or "not a database" in text


def make_dirs(folder: str | os.PathLike[str], mode: int = DEFAULT_MODE) -> None:
    """Create ``folder`` and its missing parents, searchable as far as ``mode`` is readable."""
    dir_mode = mode | (mode & 0o444) >> 2
    os.makedirs(folder, mode=dir_mode, exist_ok=True)


def create_sqlite(path: str | os.PathLike[str], init: Callable[[sqlite3.Connection], None],
                  mode: int | None = None) -> bool:
    """Make the SQLite file ``path`` whole (``init`` gives it its tables) if it does not exist
    yet, with permissions ``mode`` (default: :func:`configured_mode`); True if this call made
    it. Raises OSError / sqlite3.Error when it cannot."""
    target = os.fspath(path)
    if os.path.exists(target):
        return False
    if mode is None:
        mode = configured_mode()
    folder = os.path.dirname(target) or "."
    make_dirs(folder, mode)
    temp = f"{target}.new-{os.getpid()}-{time.monotonic_ns()}"
    os.close(os.open(temp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, mode))
    try:
        os.chmod(temp, mode)  # whatever the umask took away
        db = sqlite3.connect(temp, isolation_level=None)
        try:
            init(db)
        finally:
            db.close()  # checkpoints and removes the write-ahead log
        try:
            os.link(temp, target)
        except FileExistsError:
            return False  # another process made it first: theirs is whole too
        except OSError:  # no hard links here: a rename, which cannot tell who won
            if os.path.exists(target):
                return False
            os.rename(temp, target)
            return True
        return True
    finally:
        for name in (temp, *(temp + s for s in _SIDE_FILES)):
            try:
                os.unlink(name)
            except FileNotFoundError:
                pass


def move_aside(path: str | os.PathLike[str]) -> str:
    """Rename a damaged file (and its write-ahead log) to ``NAME.damaged-<time>``; the new
    name. The bytes are left exactly as they were, for recovery."""
    target = os.fspath(path)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    aside = f"{target}.damaged-{stamp}"
    n = 1
    while os.path.exists(aside):
        n += 1
        aside = f"{target}.damaged-{stamp}-{n}"
    os.rename(target, aside)
    for suffix in _SIDE_FILES:
        try:
            os.rename(target + suffix, aside + suffix)
        except FileNotFoundError:
            pass
    return aside


def set_aside(path: str | os.PathLike[str], what: str, reason: str, recover: str) -> str | None:
    """Move the damaged ``what`` (``"outbox"``, ``"registry"``) at ``path`` aside and say so
    loudly, with ``recover`` (what `tracline outbox recover` does with it); the new name, or
    None when another process moved it first. The caller then starts a new one."""
    try:
        aside = move_aside(path)
    except FileNotFoundError:
        return None
    log.error("tracline: the %s at %s is damaged (%s). It was moved, untouched, to %s and a "
              "new %s was started. %s: run `tracline outbox recover %s`.",
              what, os.fspath(path), reason, aside, what, recover, aside)
    return aside


def damaged_copies(path: str | os.PathLike[str]) -> list[str]:
    """The damaged copies of ``path`` moved aside so far, oldest first."""
    target = os.fspath(path)
    folder, name = os.path.split(target)
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return []
    prefix = f"{name}.damaged-"
    return sorted(os.path.join(folder, e) for e in entries
                  if e.startswith(prefix) and not e.endswith(_SIDE_FILES))


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL (None for other databases and ``:memory:``)."""
    if not url.startswith("sqlite:") or ":///" not in url:
        return None
    path = url.split(":///", 1)[1].split("?", 1)[0]
    return path if path and path != ":memory:" else None
