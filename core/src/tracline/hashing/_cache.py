"""The stat cache: digests of unchanged files served from SQLite for the price of a ``stat``.

Two tables. ``entries`` holds one row per file: path, algorithm, (device, inode, size,
mtime_ns, ctime_ns) and the hex digest. ``snapshots`` holds, per directory digested as a
whole, a small checksummed head (the fingerprint of the walk that found its files, see
``_tree.Listing``, and the directory's digest) and a body with the same facts as ``entries``
for all its files. Re-digesting a large unchanged directory is a ``stat`` per file, one read
of a ~150-byte head and one comparison of 32 bytes; the body is read only when something
changed, to serve the files that did not.
"""

from __future__ import annotations

import collections
import functools
import marshal
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import blake3

from tracline.hashing._file import Identity, identity
from tracline.hashing._sqlite import SelfHealingDb, log

TYPE_CHECKING = False  # neither typing nor the walker is loaded at run time
if TYPE_CHECKING:  # `tracline run` uses this module without the walker
    from typing import Any, Final, Literal, NamedTuple

    from tracline.hashing._tree import Listing

    class _HeadFields(NamedTuple):
        fingerprint: bytes
        hex: str
        size: int
        body_digest: bytes

    #: (device, inode, size, mtime_ns, ctime_ns, hex)
    Row = tuple[Any, ...]
else:
    _HeadFields = collections.namedtuple("_HeadFields", "fingerprint hex size body_digest")

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
#: A rowid table on purpose: in a WITHOUT ROWID table the record is the index key, and
#: finding a row reads all of it, megabytes of body included; here the lookup walks a small
#: index, and reading ``head`` stops before ``body``.
_SNAPSHOTS = """CREATE TABLE IF NOT EXISTS snapshots (
    root BLOB NOT NULL, algorithm TEXT NOT NULL, head BLOB NOT NULL, body BLOB NOT NULL,
    UNIQUE (root, algorithm))"""
#: Snapshots of format 1 (head and body in one blob of a WITHOUT ROWID table, so each lookup
#: read it all): dropped. Their directories are served from ``entries`` once, which writes
#: a snapshot of the current format.
_DROP_TREES = "DROP TABLE IF EXISTS trees"
#: Files per query of :meth:`StatCache.lookup_many` (well under SQLite's parameter limit).
_BATCH = 500
_SELECT_MANY = ("SELECT path, dev, ino, size, mtime_ns, ctime_ns, hex FROM entries "
                "WHERE algorithm=? AND path IN")
_SELECT_ONE = (
    "SELECT dev, ino, size, mtime_ns, ctime_ns, hex FROM entries WHERE path=? AND algorithm=?"
)

#: A dangling symlink: (relative path, target).
Link = tuple[bytes, bytes]
#: A snapshot body: the file rows by relative path, and the sorted dangling links.
Body = tuple[dict[bytes, "Row"], tuple[Link, ...]]

#: The first field of a head. A head of another format is a plain miss, not damage.
_HEAD_FORMAT = 2


class Head(_HeadFields):
    """The head of a directory snapshot: all that re-digesting an unchanged directory reads.

    ``fingerprint``: the walk fingerprint (``Listing.fingerprint``), empty when some file was
    too recently modified to be cached (see SETTLE_NS), so that it can never match; ``hex``
    and ``size``: the directory's hex digest and total size; ``body_digest``: the blake3
    digest of the body (a body is used only with the head written with it).
    """

    __slots__ = ()


def _encode_head(head: Head) -> bytes:
    payload = marshal.dumps((_HEAD_FORMAT, *head), 4)
    return blake3.blake3(payload).digest() + payload


#: What :func:`_decode_head` makes of a blob without a usable head: intact but of another
#: format (written by another version of tracline: a plain miss), or damaged (reported).
_STALE: Final = "stale"
_DAMAGED: Final = "damaged"


def _decode_head(blob: object) -> Head | Literal["stale", "damaged"]:
    """The head in ``blob`` (its checksum verified), or why there is none."""
    if not isinstance(blob, bytes):
        return _DAMAGED
    payload = blob[32:]
    if blake3.blake3(payload).digest() != blob[:32]:
        return _DAMAGED
    try:
        value = marshal.loads(payload)
    except (ValueError, EOFError, TypeError):
        return _DAMAGED
    if not isinstance(value, tuple) or not value or value[0] != _HEAD_FORMAT:
        return _STALE
    shape = (int, bytes, str, int, bytes)
    if len(value) == len(shape) and all(map(isinstance, value, shape)):
        return Head(*value[1:])
    return _DAMAGED


def _decode_body(head: Head, blob: object) -> Body | None:
    """The body in ``blob`` if it is the one written with ``head``, else None (damage)."""
    if not isinstance(blob, bytes) or blake3.blake3(blob).digest() != head.body_digest:
        return None
    try:
        table, links = marshal.loads(blob)
    except (ValueError, EOFError, TypeError):
        return None
    return (table, links) if isinstance(table, dict) and isinstance(links, tuple) else None


def _tree_key(root: str) -> bytes:
    """The ``snapshots`` key of a directory, also the prefix of its files' ``entries`` paths."""
    return os.fsencode(root.rstrip("/")) + b"/"


class StatCache(SelfHealingDb):
    """Digests keyed by path, (device, inode, size, mtime_ns, ctime_ns) and algorithm.

    Best effort by design: no method raises. ``settle_ns``: see :data:`SETTLE_NS`.
    """

    SCHEMA = (_ENTRIES, _SNAPSHOTS, _DROP_TREES)

    def __init__(self, path: str | os.PathLike[str], *, settle_ns: int = SETTLE_NS) -> None:
        super().__init__(path)
        self.settle_ns = settle_ns

    def _settled(self, ident: Identity, started_ns: int) -> bool:
        return max(ident[3], ident[4]) < started_ns - self.settle_ns

    def lookup(self, path: str, st: os.stat_result, algorithm: str) -> str | None:
        """The cached hex digest of ``path`` (absolute) if its stat is unchanged, else None."""

        def body(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(_SELECT_ONE, (os.fsencode(path), algorithm)).fetchone()
            return row[5] if row is not None and row[:5] == identity(st) else None

        return self.guarded("lookup", None, body)

    def lookup_many(self, files: Sequence[tuple[str, os.stat_result]],
                    algorithm: str) -> dict[str, str]:
        """:meth:`lookup` of many files (absolute path, stat) in a query per 500: the cached
        hex digest of each one whose stat is unchanged, by path."""

        def body(conn: sqlite3.Connection) -> dict[str, str]:
            found: dict[str, str] = {}
            for at in range(0, len(files), _BATCH):
                wanted = {os.fsencode(path): (path, st) for path, st in files[at:at + _BATCH]}
                marks = ",".join("?" * len(wanted))
                for row in conn.execute(f"{_SELECT_MANY} ({marks})", (algorithm, *wanted)):
                    path, st = wanted[row[0]]
                    if row[1:6] == identity(st):
                        found[path] = row[6]
            return found

        return self.guarded("lookup", {}, body) if files else {}

    def lookup_tree(
        self, root: str, listing: Listing, algorithm: str
    ) -> tuple[dict[bytes, str], tuple[str, int] | None]:
        """The directory's (hex, size) when the snapshot of ``root`` (absolute) is entirely
        current (then the dict may be empty); else None, with the cached digests of the
        unchanged files of ``listing`` (the walk of ``root``) by relative path."""
        key = _tree_key(root)
        reordered: list[tuple[Head, bytes]] = []

        def body(conn: sqlite3.Connection) -> tuple[dict[bytes, str], tuple[str, int] | None]:
            row = conn.execute(
                "SELECT head FROM snapshots WHERE root = ? AND algorithm = ?", (key, algorithm)
            ).fetchone()
            head = _decode_head(row[0]) if row is not None else _STALE
            if isinstance(head, Head):
                if head.fingerprint == listing.fingerprint:
                    # Every file has the stat it had then, in the same order: nothing to unpack.
                    return {}, (head.hex, head.size)
                compared = self._compare(conn, key, listing, algorithm)
                if compared is not None:
                    found, unchanged = compared
                    if unchanged is None:
                        return found, None
                    reordered.append(unchanged)
                    return found, (unchanged[0].hex, unchanged[0].size)
                head = _DAMAGED
            if head == _DAMAGED:
                self.report("stat cache %s: a directory snapshot failed its checksum", self.path)
            return self._from_entries(conn, key, listing, algorithm), None

        nothing: tuple[dict[bytes, str], tuple[str, int] | None] = ({}, None)
        result = self.guarded("lookup", nothing, body)
        if reordered:
            # The same files, listed in another order (a directory's order can change as
            # entries come and go): record this order, so that the next lookup is the fast one.
            self._refresh(key, algorithm, *reordered[0], listing.fingerprint)
        return result

    def _compare(
        self, conn: sqlite3.Connection, key: bytes, listing: Listing, algorithm: str
    ) -> tuple[dict[bytes, str], tuple[Head, bytes] | None] | None:
        """Match ``listing`` file by file against the snapshot of ``key`` (the rows of files
        it lacks are looked up one by one), with the snapshot's head (decoded and as stored)
        if only the order of the files changed; None if the snapshot is damaged."""
        row = conn.execute(
            "SELECT head, body FROM snapshots WHERE root = ? AND algorithm = ?", (key, algorithm)
        ).fetchone()
        head = _decode_head(row[0]) if row is not None else _DAMAGED
        if not isinstance(head, Head) or (unpacked := _decode_body(head, row[1])) is None:
            return None
        table, stored_links = unpacked
        files, links = listing.leaves()
        found: dict[bytes, str] = {}
        for rel, _path, ident in files:
            cached = table.get(rel)
            if cached is not None and cached[:5] == ident:
                found[rel] = cached[5]
        if len(found) == len(files) == len(table) and stored_links == tuple(sorted(links)):
            return found, (head, row[0])
        for rel, path, ident in files:
            if rel not in found:
                one = conn.execute(_SELECT_ONE, (path, algorithm)).fetchone()
                if one is not None and one[:5] == ident:
                    found[rel] = one[5]
        return found, None

    def _from_entries(
        self, conn: sqlite3.Connection, key: bytes, listing: Listing, algorithm: str
    ) -> dict[bytes, str]:
        """The cached digests of the unchanged files of ``listing``, from their own rows."""
        cut = len(key)
        table = {
            r[0][cut:]: r[1:]
            for r in conn.execute(
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, hex FROM entries "
                "WHERE algorithm = ? AND path >= ? AND path < ?",
                (algorithm, key, key[:-1] + b"0"),
            )
        }
        found: dict[bytes, str] = {}
        for rel, _path, ident in listing.leaves()[0]:
            cached = table.get(rel)
            if cached is not None and cached[:5] == ident:
                found[rel] = cached[5]
        return found

    def _refresh(
        self, key: bytes, algorithm: str, head: Head, old: bytes, fingerprint: bytes
    ) -> None:
        """Give the snapshot whose head is ``head`` (stored as ``old``) a new walk
        ``fingerprint``, unless another writer has replaced it meanwhile."""
        new = _encode_head(head._replace(fingerprint=fingerprint))

        def body(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "UPDATE snapshots SET head = ? WHERE root = ? AND algorithm = ? AND head = ?",
                    (new, key, algorithm, old),
                )

        self.guarded("store", None, body)

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
            (os.fsencode(path), algorithm, *ident, hexdigest)
            for path, st, hexdigest in entries
            if self._settled(ident := identity(st), started_ns)
        ]

        def body(conn: sqlite3.Connection) -> int:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO entries VALUES (?,?,?,?,?,?,?,?)", rows)
            return len(rows)

        return self.guarded("store", 0, body) if rows else 0

    def store_tree(
        self,
        root: str,
        files: Iterable[tuple[bytes, Identity, str]],
        links: Sequence[Link],
        algorithm: str,
        *,
        started_ns: int,
        tree: tuple[str, int],
        fingerprint: bytes,
    ) -> None:
        """Record the snapshot of ``root``: (relative path, identity, hex) of its settled
        files, its dangling links, its (hex, size) and the ``fingerprint`` of the walk that
        found exactly these ``files`` and ``links``."""
        table: dict[bytes, Row] = {}
        complete = True
        for rel, ident, hexdigest in files:
            if self._settled(ident, started_ns):
                table[rel] = (*ident, hexdigest)
            else:
                complete = False
        body = marshal.dumps((table, tuple(sorted(links))), 4)
        # A file left out could change unseen: then the fingerprint must never match.
        head = Head(fingerprint if complete else b"", *tree, blake3.blake3(body).digest())
        key, blob = _tree_key(root), _encode_head(head)

        def write(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute(
                    "INSERT OR REPLACE INTO snapshots VALUES (?, ?, ?, ?)",
                    (key, algorithm, blob, body),
                )

        self.guarded("store", None, write)


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
