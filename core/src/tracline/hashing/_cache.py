"""The stat cache: digests of unchanged files served from SQLite for the price of a ``stat``."""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

__all__ = ["StatCache", "default_cache", "resolve_cache"]

log = logging.getLogger("tracline.hashing")

#: File timestamps move in ticks (a few ms on ext4/xfs, 1-2 s on some network and FAT file
#: systems). A file modified less than this before it was hashed could change again within
#: the same tick without its stat changing, so its digest is not cached.
SETTLE_NS = 2_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    path BLOB NOT NULL,
    algorithm TEXT NOT NULL,
    dev INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ctime_ns INTEGER NOT NULL,
    hex TEXT NOT NULL,
    PRIMARY KEY (path, algorithm)
) WITHOUT ROWID
"""
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26

Key = tuple[int, int, int, int, int]
T = TypeVar("T")


def stat_key(st: os.stat_result) -> Key:
    """The part of a stat that must be unchanged for a cached digest to hold."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class StatCache:
    """Digests keyed by path, (device, inode, size, mtime_ns, ctime_ns) and algorithm.

    Best effort by design: a corrupted database file is reported once, moved aside and
    rebuilt; a locked or unwritable one is skipped. No method raises to its caller.
    """

    def __init__(self, path: str | os.PathLike[str], *, settle_ns: int = SETTLE_NS) -> None:
        self.path = Path(path)
        self.settle_ns = settle_ns
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._broken = False
        self._reported = False

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None and not self._broken:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute(_SCHEMA)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _guarded(self, operation: str, default: T, body: Callable[[], T]) -> T:
        """Run ``body`` under the lock; on a database error recover and return ``default``."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._connect() is None:
                        return default
                    return body()
                except (sqlite3.Error, OSError) as e:
                    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                    corrupt = code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
                    if corrupt and attempt == 1 and self._rebuild(e):
                        continue
                    self._give_up(operation, e)
                    return default
            return default

    def _rebuild(self, error: Exception) -> bool:
        """Move the corrupted file aside for a fresh one; False if that is impossible."""
        self._close()
        aside = self.path.with_name(self.path.name + ".corrupt")
        try:
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            os.replace(self.path, aside)
        except OSError:
            return False
        if not self._reported:
            self._reported = True
            log.warning(
                "stat cache %s was corrupted (%s); moved it to %s and started a new one "
                "(files will be re-read once)", self.path, error, aside,
            )
        return True

    def _give_up(self, operation: str, error: Exception) -> None:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            log.debug("stat cache %s busy during %s; skipped", self.path, operation)
            return
        self._close()
        self._broken = True
        if not self._reported:
            self._reported = True
            log.warning(
                "stat cache %s unusable during %s (%s); hashing without it", self.path,
                operation, error,
            )

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the database connection (it reopens on next use)."""
        with self._lock:
            self._close()

    def lookup(self, path: str, st: os.stat_result, algorithm: str) -> str | None:
        """The cached hex digest of ``path`` (absolute) if its stat is unchanged, else None."""

        def body() -> str | None:
            assert self._conn is not None
            row = self._conn.execute(
                "SELECT dev, ino, size, mtime_ns, ctime_ns, hex FROM entries "
                "WHERE path = ? AND algorithm = ?",
                (os.fsencode(path), algorithm),
            ).fetchone()
            return row[5] if row is not None and row[:5] == stat_key(st) else None

        return self._guarded("lookup", None, body)

    def lookup_tree(
        self, root: str, files: Sequence[tuple[bytes, bytes, os.stat_result]], algorithm: str
    ) -> dict[bytes, str]:
        """Cached hex digests of the unchanged ``files`` (relative path, path, stat) under
        ``root`` (an absolute directory), read in one range scan; keyed by relative path."""
        prefix = os.fsencode(root.rstrip("/")) + b"/"
        cut = len(prefix)

        def body() -> dict[bytes, str]:
            assert self._conn is not None
            rows = self._conn.execute(
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, hex FROM entries "
                "WHERE algorithm = ? AND path >= ? AND path < ?",
                (algorithm, prefix, prefix[:-1] + b"0"),
            )
            table = {row[0][cut:]: row for row in rows}
            found: dict[bytes, str] = {}
            for rel, _path, st in files:
                row = table.get(rel)
                if row is not None and row[1:6] == (
                    st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
                ):
                    found[rel] = row[6]
            return found

        return self._guarded("lookup", {}, body)

    def store_many(
        self,
        entries: Iterable[tuple[str | bytes, os.stat_result, str]],
        algorithm: str,
        started_ns: int,
    ) -> int:
        """Record digests hashed since ``started_ns`` (``time.time_ns()``); return how many.

        Files modified within ``settle_ns`` of ``started_ns`` are left out (see SETTLE_NS).
        """
        limit = started_ns - self.settle_ns
        rows = [
            (os.fsencode(path), algorithm, *stat_key(st), hexdigest)
            for path, st, hexdigest in entries
            if max(st.st_mtime_ns, st.st_ctime_ns) < limit
        ]
        if not rows:
            return 0

        def body() -> int:
            assert self._conn is not None
            with self._conn:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows
                )
            return len(rows)

        return self._guarded("store", 0, body)


def now_ns() -> int:
    """The wall clock in ns, the reference for SETTLE_NS."""
    return time.time_ns()


@functools.cache
def _cache_at(path: Path) -> StatCache:
    return StatCache(path)


def default_cache() -> StatCache:
    """The process's stat cache at ``<config home>/statcache.db``."""
    from tracline.config import get_config

    return _cache_at(get_config().home.resolve() / "statcache.db")


def resolve_cache(cache: StatCache | bool | None) -> StatCache | None:
    """Turn the ``cache`` argument of the digest functions into a cache or None."""
    if isinstance(cache, StatCache):
        return cache
    if not cache:
        return None
    from tracline.config import get_config

    if str(get_config().section("hashing").get("stat_cache", True)).lower() in {"false", "0"}:
        return None
    return default_cache()
