"""The durable outbox: a local SQLite file (WAL) that holds every event until each sink has it.

A row is either an OpenLineage event (``kind = 'event'``, its JSON as :func:`tracline.emit`
got it) or a run's record of facts (``kind = 'record'``, :meth:`RunRecord.to_json`, with the
state of the event it stands for in ``event_type``), which the deliverer turns into that
event through :mod:`tracline.events` — `tracline run` commits records so that building the
event costs its command nothing.

``append()`` commits the event before it returns, so an event survives a crash of the emitting
process and an outage of every backend. Each sink keeps a cursor (the id of the last event it
took), so events reach a sink in the order they were emitted (hence in order per run), at
least once. Events a sink refused for good (HTTP 4xx) are set aside in ``rejected`` and
reported, never retried forever nor silently dropped.

The outbox is always a local file, so it uses the standard library's ``sqlite3`` directly:
the emit path is one INSERT and one commit.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TypeVar

import attrs

from tracline import statefiles
from tracline.errors import OutboxError

__all__ = ["Outbox", "OutboxEvent", "Rejection", "SinkState"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    run_id TEXT,
    event_type TEXT,
    job TEXT,
    only_sink TEXT,
    payload TEXT NOT NULL,
    kind TEXT NOT NULL DEFAULT 'event'
);
CREATE TABLE IF NOT EXISTS sinks (
    name TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL DEFAULT 0,
    delivered INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error TEXT,
    last_success_at REAL,
    last_seen_at REAL NOT NULL DEFAULT 0,
    lease_owner TEXT,
    lease_until REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS failures (
    event_id INTEGER NOT NULL,
    sink TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    error TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (event_id, sink)
);
CREATE TABLE IF NOT EXISTS rejected (
    event_id INTEGER NOT NULL,
    sink TEXT NOT NULL,
    status INTEGER,
    error TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (event_id, sink)
);
"""


#: The outbox's table layout (``PRAGMA user_version``); 1 added ``events.kind``.
_VERSION = 1


@attrs.frozen
class OutboxEvent:
    """One stored event."""

    id: int
    created_at: float
    run_id: str | None
    event_type: str | None
    job: str | None
    payload: str
    #: ``event`` (OpenLineage JSON) or ``record`` (a run's record, see the module doc).
    kind: str = "event"


@attrs.frozen
class SinkState:
    """Delivery progress of one sink."""

    name: str
    cursor: int
    pending: int
    delivered: int
    rejected: int
    attempts: int
    next_attempt_at: float
    last_error: str | None
    last_success_at: float | None


@attrs.frozen
class Rejection:
    """An event a sink refused for good, kept aside with the reason."""

    event_id: int
    sink: str
    status: int | None
    error: str
    at: float
    run_id: str | None
    event_type: str | None
    job: str | None


def _alive(owner: str) -> bool:
    """Whether the process named by a lease owner ``<pid>-<nonce>`` still runs."""
    try:
        pid = int(owner.split("-", 1)[0])
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (ValueError, PermissionError):
        return True
    return True


class Outbox:
    """A handle on the outbox file; safe to share between threads of one process.

    Every SQLite failure comes out as :class:`OutboxError` naming the outbox, what went wrong
    and what to do. A file SQLite finds damaged (or truncated to nothing) is moved aside
    intact (:mod:`tracline.statefiles`), reported loudly with how to recover what it holds
    (``tracline outbox recover``), and a new outbox takes its place; ``moved_aside`` lists
    what this handle moved.
    """

    def __init__(self, path: str | os.PathLike[str], *, checkpoint: bool = True,
                 mode: int | None = None) -> None:
        """``checkpoint=False``: this connection's commits never copy the write-ahead log
        into the database (SQLite's auto-checkpoint, once the log passes 4 MB); for a
        process on the user's clock, such as `tracline run` — delivery, which follows it,
        checkpoints. ``mode``: the permissions of a new outbox file (default ``[tracline]
        file_mode``)."""
        self.path = Path(path)
        self.mode = statefiles.configured_mode() if mode is None else mode
        self.moved_aside: list[str] = []
        self._checkpoint = checkpoint
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        with self._lock:
            self._open(again=True)

    def _open(self, *, again: bool) -> None:
        path = str(self.path)
        try:
            statefiles.make_dirs(self.path.parent, self.mode)
            if os.path.isfile(path) and os.path.getsize(path) == 0:
                self._damaged("it is empty (0 bytes): the file was truncated")
            statefiles.create_sqlite(path, _initialize, self.mode)
            db = sqlite3.connect(path, timeout=30.0, isolation_level=None,
                                 check_same_thread=False)
            try:
                # NORMAL in WAL mode: a commit survives the crash of this process (the WAL is
                # in the OS's page cache); only a power loss can take the last commits.
                db.execute("PRAGMA synchronous=NORMAL")
                if not self._checkpoint:
                    db.execute("PRAGMA wal_autocheckpoint=0")
                _migrate(db)
            except BaseException:
                db.close()
                raise
            self._db = db
        except sqlite3.DatabaseError as e:
            if again and statefiles.is_damage(e):
                self._damaged(str(e))
                self._open(again=False)
                return
            raise _error(self.path, "open", e) from e
        except OSError as e:
            raise _error(self.path, "open", e) from e

    def _damaged(self, reason: str) -> None:
        """Move the damaged file aside (intact), say so loudly; the caller opens a new one."""
        if self._db is not None:
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = None
        aside = statefiles.set_aside(
            self.path, "outbox", reason,
            "Events it held that were not delivered yet are still in that file; to deliver them")
        if aside is not None:
            self.moved_aside.append(aside)

    def _run(self, what: str, body: Callable[[sqlite3.Connection], T]) -> T:
        """``body`` on the connection, under the lock; a damaged file is replaced once.

        ``body`` must finish every statement it starts (``fetchall``, never a cursor left
        open): the connection is shared by threads, and a statement still in progress would
        keep another thread's transaction from committing."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._db is None:
                        self._open(again=False)
                    assert self._db is not None
                    result = body(self._db)
                    if isinstance(result, sqlite3.Cursor):
                        result.close()  # a statement's cursor, finished here under the lock
                    return result
                except sqlite3.Error as e:
                    if attempt == 1 and statefiles.is_damage(e):
                        self._damaged(str(e))
                        continue
                    raise _error(self.path, what, e) from e
                except OSError as e:
                    raise _error(self.path, what, e) from e
            raise AssertionError("unreachable")

    # -- writing -----------------------------------------------------------------------

    def append(
        self,
        payload: str,
        *,
        run_id: str | None = None,
        event_type: str | None = None,
        job: str | None = None,
        only_sink: str | None = None,
        kind: str = "event",
    ) -> int:
        """Commit one event (or run record, ``kind="record"``); return its id."""
        row = (time.time(), run_id, event_type, job, only_sink, payload, kind)

        def insert(db: sqlite3.Connection) -> int:
            cur = db.execute("INSERT INTO events (created_at, run_id, event_type, job,"
                             " only_sink, payload, kind) VALUES (?, ?, ?, ?, ?, ?, ?)", row)
            return int(cur.lastrowid or 0)

        return self._run("write to", insert)

    def register_sinks(self, names: Iterable[str]) -> None:
        """Make sure each sink has a cursor; a new sink starts with the events from now on."""
        rows = [(name, time.time()) for name in names]
        self._run("write to", lambda db: db.executemany(
            "INSERT INTO sinks (name, cursor, last_seen_at) VALUES"
            " (?, (SELECT COALESCE(MAX(id), 0) FROM events), ?)"
            " ON CONFLICT(name) DO UPDATE SET last_seen_at = excluded.last_seen_at", rows))

    # -- delivery bookkeeping --------------------------------------------------------------

    def acquire(self, sink: str, owner: str, lease: float = 30.0) -> bool:
        """Take (or renew) the right to deliver ``sink``; one deliverer per sink at a time.

        A lease is free when nobody holds it, when it ran out, or when the process holding
        it is gone (owners are ``<pid>-<nonce>``, one per drain: two threads of one process
        exclude each other too; the outbox is local to this host).
        """
        now = time.time()

        def take(db: sqlite3.Connection) -> bool:
            row = db.execute("SELECT lease_owner, lease_until FROM sinks WHERE name = ?",
                             (sink,)).fetchone()
            holder, until = row if row else (None, 0.0)
            if holder and holder != owner and until >= now and _alive(holder):
                return False  # held: decided by a read, without queueing for the write lock
            stale = holder if holder and holder != owner and not _alive(holder) else None
            cur = db.execute(
                "UPDATE sinks SET lease_owner = ?, lease_until = ? WHERE name = ? AND"
                " (lease_owner IS NULL OR lease_owner = ? OR lease_owner = ? OR lease_until < ?)",
                (owner, now + lease, sink, owner, stale, now))
            return cur.rowcount == 1

        return self._run("write to", take)

    def release(self, sink: str, owner: str) -> None:
        """Give the lease back (if ``owner`` still holds it)."""
        self._run("write to", lambda db: db.execute(
            "UPDATE sinks SET lease_owner = NULL, lease_until = 0"
            " WHERE name = ? AND lease_owner = ?", (sink, owner)))

    def pending(self, sink: str, limit: int) -> list[OutboxEvent]:
        """The next events ``sink`` has not taken, oldest first."""
        rows = self._run("read", lambda db: db.execute(
            "SELECT e.id, e.created_at, e.run_id, e.event_type, e.job, e.payload, e.kind"
            " FROM events e, sinks s WHERE s.name = ? AND e.id > s.cursor"
            " AND (e.only_sink IS NULL OR e.only_sink = ?) ORDER BY e.id LIMIT ?",
            (sink, sink, limit)).fetchall())
        return [OutboxEvent(*row) for row in rows]

    def advance(
        self,
        sink: str,
        cursor: int,
        delivered: int,
        rejections: Sequence[tuple[int, int | None, str]] = (),
        *,
        owner: str | None = None,
    ) -> bool:
        """Record that ``sink`` took every event up to ``cursor`` (those in ``rejections``
        set aside). With ``owner``, only while that deliverer still holds the sink's lease;
        returns False when it no longer does (nothing is recorded then)."""
        now = time.time()

        def record(db: sqlite3.Connection) -> bool:
            with _Transaction(db):
                cur = db.execute(
                    "UPDATE sinks SET cursor = MAX(cursor, ?), delivered = delivered + ?,"
                    " attempts = 0, next_attempt_at = 0, last_error = NULL,"
                    " last_success_at = ? WHERE name = ? AND (? IS NULL OR lease_owner = ?)",
                    (cursor, delivered, now, sink, owner, owner))
                if cur.rowcount != 1:
                    return False
                db.executemany(
                    "INSERT OR REPLACE INTO rejected (event_id, sink, status, error, at)"
                    " VALUES (?, ?, ?, ?, ?)",
                    [(event_id, sink, status, error, now)
                     for event_id, status, error in rejections])
                db.execute("DELETE FROM failures WHERE sink = ? AND event_id <= ?",
                           (sink, cursor))
                return True

        return self._run("write to", record)

    def failed(self, sink: str, event_id: int, error: str) -> int:
        """Count one more failed try of ``event_id`` at ``sink``; return how many so far."""

        def count(db: sqlite3.Connection) -> int:
            with _Transaction(db):
                db.execute(
                    "INSERT INTO failures (event_id, sink, attempts, error, at)"
                    " VALUES (?, ?, 1, ?, ?) ON CONFLICT(event_id, sink) DO UPDATE"
                    " SET attempts = attempts + 1, error = excluded.error, at = excluded.at",
                    (event_id, sink, error, time.time()))
                row = db.execute("SELECT attempts FROM failures WHERE event_id = ? AND sink = ?",
                                 (event_id, sink)).fetchone()
            return int(row[0])

        return self._run("write to", count)

    def defer(self, sink: str, error: str, max_backoff: float) -> float:
        """Record a failed attempt; return the delay before the next one (capped backoff)."""

        def back_off(db: sqlite3.Connection) -> float:
            with _Transaction(db):
                (attempts,) = db.execute("SELECT attempts FROM sinks WHERE name = ?",
                                         (sink,)).fetchone()
                delay = float(min(max_backoff, 0.25 * (2 ** min(int(attempts), 20))))
                db.execute("UPDATE sinks SET attempts = attempts + 1, next_attempt_at = ?,"
                           " last_error = ? WHERE name = ?", (time.time() + delay, error, sink))
            return delay

        return self._run("write to", back_off)

    def retry_now(self, sink: str | None = None) -> None:
        """Forget the backoff of one sink (or all), so the next delivery tries at once."""
        self._run("write to", lambda db: db.execute(
            "UPDATE sinks SET next_attempt_at = 0 WHERE ? IS NULL OR name = ?", (sink, sink)))

    def requeue_rejected(self, sink: str | None = None) -> int:
        """Put events set aside for ``sink`` (or every sink) back in line; return how many."""

        def requeue(db: sqlite3.Connection) -> int:
            with _Transaction(db):
                rows = db.execute(
                    "SELECT r.event_id, r.sink, e.run_id, e.event_type, e.job, e.payload, e.kind"
                    " FROM rejected r JOIN events e ON e.id = r.event_id"
                    " WHERE ? IS NULL OR r.sink = ? ORDER BY r.event_id", (sink, sink)).fetchall()
                for event_id, name, run_id, event_type, job, payload, kind in rows:
                    db.execute("INSERT INTO events (created_at, run_id, event_type, job,"
                               " only_sink, payload, kind) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               (time.time(), run_id, event_type, job, name, payload, kind))
                    db.execute("DELETE FROM rejected WHERE event_id = ? AND sink = ?",
                               (event_id, name))
            return len(rows)

        return self._run("write to", requeue)

    def prune(self, retention_seconds: float) -> int:
        """Delete events every active sink took more than ``retention_seconds`` ago."""
        now = time.time()

        def delete(db: sqlite3.Connection) -> int:
            row = db.execute("SELECT MIN(cursor) FROM sinks WHERE last_seen_at > ?",
                             (now - max(retention_seconds, 86400.0),)).fetchone()
            if row is None or row[0] is None:
                return 0
            cur = db.execute("DELETE FROM events WHERE id <= ? AND created_at < ?"
                             " AND id NOT IN (SELECT event_id FROM rejected)",
                             (row[0], now - retention_seconds))
            return cur.rowcount

        return self._run("write to", delete)

    # -- reporting ------------------------------------------------------------------------

    def sink_states(self) -> list[SinkState]:
        """Delivery progress of every sink the outbox knows."""
        rows = self._run("read", lambda db: db.execute(
            "SELECT s.name, s.cursor,"
            " (SELECT COUNT(*) FROM events e WHERE e.id > s.cursor"
            "   AND (e.only_sink IS NULL OR e.only_sink = s.name)),"
            " s.delivered, (SELECT COUNT(*) FROM rejected r WHERE r.sink = s.name),"
            " s.attempts, s.next_attempt_at, s.last_error, s.last_success_at"
            " FROM sinks s ORDER BY s.name").fetchall())
        return [SinkState(*row) for row in rows]

    def rejections(self, sink: str | None = None) -> list[Rejection]:
        """Events set aside (refused for good, or poison), oldest first."""
        rows = self._run("read", lambda db: db.execute(
            "SELECT r.event_id, r.sink, r.status, r.error, r.at, e.run_id, e.event_type,"
            " e.job FROM rejected r LEFT JOIN events e ON e.id = r.event_id"
            " WHERE ? IS NULL OR r.sink = ? ORDER BY r.event_id", (sink, sink)).fetchall())
        return [Rejection(*row) for row in rows]

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database where no reader needs it (best effort:
        a writer that opened the outbox with ``checkpoint=False`` relies on this)."""
        try:
            self._run("checkpoint",
                      lambda db: db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall())
        except OutboxError:
            pass  # busy or locked: the next delivery tries again

    def count(self) -> int:
        """How many events (and records) the outbox holds."""
        return int(self._run("read", lambda db: db.execute(
            "SELECT COUNT(*) FROM events").fetchone()[0]))

    def close(self) -> None:
        """Close the connection (the handle reopens on its next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


class _Transaction:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (``ROLLBACK`` on any exception) on an autocommit
    connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, tb: object) -> None:
        if kind is not None:
            self.db.execute("ROLLBACK")
            return
        try:
            self.db.execute("COMMIT")
        except sqlite3.Error:
            self.db.execute("ROLLBACK")  # never leave the shared connection in a transaction
            raise


def _initialize(db: sqlite3.Connection) -> None:
    """A new outbox file's settings and tables (run once, before it is linked into place)."""
    # A run's COMPLETE event with thousands of datasets is megabytes, and 16 KiB pages write
    # it in a quarter of the frames of the default 4 KiB.
    db.execute("PRAGMA page_size=16384")
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)
    db.execute(f"PRAGMA user_version = {_VERSION}")


def _migrate(db: sqlite3.Connection) -> None:
    """Bring an outbox made by an earlier version up to this one's tables."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    if version >= _VERSION:
        return
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_SCHEMA)
    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    if "kind" not in columns:
        try:
            db.execute("ALTER TABLE events ADD COLUMN kind TEXT NOT NULL DEFAULT 'event'")
        except sqlite3.OperationalError as e:  # another process added it meanwhile
            if "duplicate column" not in str(e):
                raise
    db.execute(f"PRAGMA user_version = {_VERSION}")


_CODES = {5: "busy", 6: "busy", 8: "readonly", 10: "io", 13: "full", 14: "cantopen"}
_HINTS = {
    "full": "the disk is full: free space there (events already committed are kept)",
    "readonly": "the file or its folder is read-only: make them writable, or set "
                "TRACLINE_OUTBOX (or [outbox] path) to a writable place",
    "cantopen": "make the folder writable, or set TRACLINE_OUTBOX (or [outbox] path in "
                "tracline.toml) to a file in a writable folder",
    "busy": "another process kept the outbox locked for 30 s; try again",
    "io": "the disk reported an error: check it (events already committed are kept)",
}


def _error(path: Path, what: str, error: BaseException) -> OutboxError:
    """The OutboxError for a failure to ``what`` (open, write to, read) the outbox."""
    kind = _CODES.get(getattr(error, "sqlite_errorcode", 0) & 0xFF)
    if isinstance(error, OSError):
        reason = error.strerror or str(error)
        kind = "full" if error.errno == 28 else "cantopen"
    else:
        reason = str(error)
    hint = _HINTS.get(kind or "", "see `tracline doctor`")
    if statefiles.is_damage(error):
        hint = ("the file is damaged and could not be replaced: move it away and run "
                "`tracline outbox recover` on it")
    return OutboxError(f"cannot {what} the outbox at {path}: {reason}", hint=hint)
