"""The stat cache: digests of unchanged files served from SQLite for the price of a ``stat``.

Two tables. ``entries`` holds one row per file: path, algorithm, (device, inode, size,
mtime_ns, ctime_ns) and the hex digest. ``trees`` holds, per directory digested as a whole, a
snapshot of the same facts for all its files in one checksummed blob, so that re-digesting a
large unchanged directory is one row read plus a ``stat`` per file.
"""

from __future__ import annotations

import functools
import marshal
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import blake3

from tracline.hashing._sqlite import SelfHealingDb, log

__all__ = ["SETTLE_NS", "StatCache", "default_cache", "now_ns", "resolve_cache"]

#: File timestamps move in ticks (a few ms on ext4/xfs, 1-2 s on some network and FAT file
#: systems). A file modified less than this before it was hashed could change again within
#: the same tick without its stat changing, so its digest is not cached.
SETTLE_NS = 2_000_000_000

_ENTRIES = """CREATE TABLE IF NOT EXISTS entries (
    path BLOB NOT NULL, algorithm TEXT NOT NULL,
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, hex TEXT NOT NULL,
    PRIMARY KEY (path, algorithm)) WITHOUT ROWID"""
_TREES = """CREATE TABLE IF NOT EXISTS trees (
    root BLOB NOT NULL, algorithm TEXT NOT NULL, snapshot BLOB NOT NULL,
    PRIMARY KEY (root, algorithm)) WITHOUT ROWID"""
_SELECT_ONE = (
    "SELECT dev, ino, size, mtime_ns, ctime_ns, hex FROM entries WHERE path=? AND algorithm=?"
)

#: A file as the tree walk sees it: (relative path, path, stat).
File = tuple[bytes, bytes, os.stat_result]
#: A dangling symlink: (relative path, target).
Link = tuple[bytes, bytes]
#: (device, inode, size, mtime_ns, ctime_ns, hex)
Row = tuple[Any, ...]
#: What a directory snapshot holds: its files' rows, its dangling links, its digest and size.
Snapshot = tuple[dict[bytes, Row], tuple[Link, ...], str, int]


def _key(st: os.stat_result) -> tuple[int, int, int, int, int]:
    """The part of a stat that must be unchanged for a cached digest to hold."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def _encode(snapshot: Snapshot) -> bytes:
    payload = marshal.dumps(snapshot, 4)
    return blake3.blake3(payload).digest() + payload


def _decode(blob: object) -> Snapshot | None:
    """The snapshot in ``blob``, or None if its type, checksum or shape is wrong."""
    if not isinstance(blob, bytes):
        return None
    payload = blob[32:]
    if blake3.blake3(payload).digest() != blob[:32]:
        return None
    try:
        value = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return None
    shape = (dict, tuple, str, int)
    if isinstance(value, tuple) and len(value) == 4 and all(map(isinstance, value, shape)):
        return value
    return None


class StatCache(SelfHealingDb):
    """Digests keyed by path, (device, inode, size, mtime_ns, ctime_ns) and algorithm.

    Best effort by design: no method raises. ``settle_ns``: see :data:`SETTLE_NS`.
    """

    SCHEMA = (_ENTRIES, _TREES)

    def __init__(self, path: str | os.PathLike[str], *, settle_ns: int = SETTLE_NS) -> None:
        super().__init__(path)
        self.settle_ns = settle_ns

    def _settled(self, st: os.stat_result, started_ns: int) -> bool:
        return max(st.st_mtime_ns, st.st_ctime_ns) < started_ns - self.settle_ns

    def lookup(self, path: str, st: os.stat_result, algorithm: str) -> str | None:
        """The cached hex digest of ``path`` (absolute) if its stat is unchanged, else None."""

        def body(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(_SELECT_ONE, (os.fsencode(path), algorithm)).fetchone()
            return row[5] if row is not None and row[:5] == _key(st) else None

        return self.guarded("lookup", None, body)

    def lookup_tree(
        self, root: str, files: Sequence[File], links: Sequence[Link], algorithm: str
    ) -> tuple[dict[bytes, str], tuple[str, int] | None]:
        """Cached digests of the unchanged ``files`` under ``root`` (absolute), by relative
        path; and the directory's (hex, size) when its snapshot is entirely current."""
        prefix = os.fsencode(root.rstrip("/")) + b"/"

        def body(conn: sqlite3.Connection) -> tuple[dict[bytes, str], tuple[str, int] | None]:
            row = conn.execute(
                "SELECT snapshot FROM trees WHERE root = ? AND algorithm = ?",
                (prefix, algorithm),
            ).fetchone()
            snapshot = _decode(row[0]) if row is not None else None
            if row is not None and snapshot is None:
                self.report("stat cache %s: a directory snapshot failed its checksum", self.path)
            found: dict[bytes, str] = {}
            if snapshot is not None:
                table, stored_links, tree_hex, size = snapshot
                for rel, _path, st in files:
                    cached = table.get(rel)
                    if cached is not None and cached[:5] == (
                        st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns
                    ):
                        found[rel] = cached[5]
                if len(found) == len(files) == len(table) and stored_links == tuple(sorted(links)):
                    return found, (tree_hex, size)
                for rel, path, st in files:
                    if rel not in found:
                        one = conn.execute(_SELECT_ONE, (path, algorithm)).fetchone()
                        if one is not None and one[:5] == _key(st):
                            found[rel] = one[5]
                return found, None
            cut = len(prefix)
            table = {
                r[0][cut:]: r[1:]
                for r in conn.execute(
                    "SELECT path, dev, ino, size, mtime_ns, ctime_ns, hex FROM entries "
                    "WHERE algorithm = ? AND path >= ? AND path < ?",
                    (algorithm, prefix, prefix[:-1] + b"0"),
                )
            }
            for rel, _path, st in files:
                cached = table.get(rel)
                if cached is not None and cached[:5] == _key(st):
                    found[rel] = cached[5]
            return found, None

        nothing: tuple[dict[bytes, str], tuple[str, int] | None] = ({}, None)
        return self.guarded("lookup", nothing, body)

    def store_many(
        self,
        entries: Iterable[tuple[str | bytes, os.stat_result, str]],
        algorithm: str,
        started_ns: int,
    ) -> int:
        """Record digests hashed since ``started_ns`` (``time.time_ns()``); return how many.

        Files modified within ``settle_ns`` of ``started_ns`` are left out (see SETTLE_NS).
        """
        rows = [
            (os.fsencode(path), algorithm, *_key(st), hexdigest)
            for path, st, hexdigest in entries
            if self._settled(st, started_ns)
        ]

        def body(conn: sqlite3.Connection) -> int:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?)", rows)
            return len(rows)

        return self.guarded("store", 0, body) if rows else 0

    def store_tree(
        self,
        root: str,
        files: Iterable[tuple[bytes, os.stat_result, str]],
        links: Sequence[Link],
        algorithm: str,
        *,
        started_ns: int,
        tree: tuple[str, int],
    ) -> None:
        """Record the snapshot of ``root``: (relative path, stat, hex) of its settled files,
        its dangling links and its (hex, size)."""
        prefix = os.fsencode(root.rstrip("/")) + b"/"
        table = {
            rel: (*_key(st), hexdigest)
            for rel, st, hexdigest in files
            if self._settled(st, started_ns)
        }
        blob = _encode((table, tuple(sorted(links)), *tree))

        def body(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO trees VALUES (?, ?, ?)", (prefix, algorithm, blob)
                )

        self.guarded("store", None, body)


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
        log.debug("stat cache disabled by [hashing] stat_cache")
        return None
    return default_cache()
