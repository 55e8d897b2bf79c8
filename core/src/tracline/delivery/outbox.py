"""The durable outbox: a local SQLite file (WAL) that holds every event until each sink has it.

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
from collections.abc import Iterable, Sequence
from pathlib import Path

import attrs

from tracline.errors import OutboxError

__all__ = ["Outbox", "OutboxEvent", "Rejection", "SinkState"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at REAL NOT NULL,
    run_id TEXT,
    event_type TEXT,
    job TEXT,
    only_sink TEXT,
    payload TEXT NOT NULL
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
CREATE TABLE IF NOT EXISTS rejected (
    event_id INTEGER NOT NULL,
    sink TEXT NOT NULL,
    status INTEGER,
    error TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (event_id, sink)
);
"""


@attrs.frozen
class OutboxEvent:
    """One stored event."""

    id: int
    created_at: float
    run_id: str | None
    event_type: str | None
    job: str | None
    payload: str


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
    """A handle on the outbox file; safe to share between threads of one process."""

    def __init__(self, path: Path, *, checkpoint: bool = True) -> None:
        """``checkpoint=False``: this connection's commits never copy the write-ahead log
        into the database (SQLite's auto-checkpoint, ~10 ms once the log passes 4 MB); for a
        process on the user's clock, such as `tracline run` — delivery, which follows it,
        checkpoints."""
        self.path = Path(path)
        self._lock = threading.Lock()
        self._pid = os.getpid()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                self.path, timeout=10.0, isolation_level=None, check_same_thread=False
            )
            # Takes effect when the file is created: a run's COMPLETE event with thousands of
            # datasets is megabytes, and 16 KiB pages write it in a quarter of the frames
            # (2.6 MB committed in ~2.5 ms instead of ~5.7 ms with 4 KiB pages).
            self._db.execute("PRAGMA page_size=16384")
            self._db.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a commit survives the crash of this process (the WAL is in
            # the OS's page cache); only a power loss can take the last commits.
            self._db.execute("PRAGMA synchronous=NORMAL")
            if not checkpoint:
                self._db.execute("PRAGMA wal_autocheckpoint=0")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as e:
            reason = getattr(e, "strerror", None) or str(e)
            raise OutboxError(
                f"cannot open the outbox at {self.path}: {reason}",
                hint="set TRACLINE_OUTBOX (or [outbox] path in tracline.toml) to a writable file",
            ) from e

    # -- writing -----------------------------------------------------------------------

    def append(
        self,
        payload: str,
        *,
        run_id: str | None = None,
        event_type: str | None = None,
        job: str | None = None,
        only_sink: str | None = None,
    ) -> int:
        """Commit one event; return its id."""
        try:
            with self._lock:
                cur = self._db.execute(
                    "INSERT INTO events (created_at, run_id, event_type, job, only_sink, payload)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (time.time(), run_id, event_type, job, only_sink, payload),
                )
                return int(cur.lastrowid or 0)
        except sqlite3.Error as e:
            raise OutboxError(
                f"cannot write to the outbox at {self.path}: {e}",
                hint="check free disk space and the file's permissions",
            ) from e

    def register_sinks(self, names: Iterable[str]) -> None:
        """Make sure each sink has a cursor; a new sink starts with the events from now on."""
        now = time.time()
        with self._lock:
            for name in names:
                self._db.execute(
                    "INSERT INTO sinks (name, cursor, last_seen_at) VALUES"
                    " (?, (SELECT COALESCE(MAX(id), 0) FROM events), ?)"
                    " ON CONFLICT(name) DO UPDATE SET last_seen_at = excluded.last_seen_at",
                    (name, now),
                )

    # -- delivery bookkeeping --------------------------------------------------------------

    def acquire(self, sink: str, owner: str, lease: float = 30.0) -> bool:
        """Take (or renew) the right to deliver ``sink``; one deliverer per sink at a time.

        A lease is free when nobody holds it, when it ran out, or when the process holding
        it is gone (owners are ``<pid>-<nonce>``; the outbox is local to this host).
        """
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "SELECT lease_owner FROM sinks WHERE name = ?", (sink,)
            ).fetchone()
            holder = row[0] if row else None
            stale = holder if holder and holder != owner and not _alive(holder) else None
            cur = self._db.execute(
                "UPDATE sinks SET lease_owner = ?, lease_until = ? WHERE name = ? AND"
                " (lease_owner IS NULL OR lease_owner = ? OR lease_owner = ? OR lease_until < ?)",
                (owner, now + lease, sink, owner, stale, now),
            )
            return cur.rowcount == 1

    def release(self, sink: str, owner: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE sinks SET lease_owner = NULL, lease_until = 0"
                " WHERE name = ? AND lease_owner = ?",
                (sink, owner),
            )

    def pending(self, sink: str, limit: int) -> list[OutboxEvent]:
        """The next events ``sink`` has not taken, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.id, e.created_at, e.run_id, e.event_type, e.job, e.payload"
                " FROM events e, sinks s WHERE s.name = ? AND e.id > s.cursor"
                " AND (e.only_sink IS NULL OR e.only_sink = ?) ORDER BY e.id LIMIT ?",
                (sink, sink, limit),
            ).fetchall()
        return [OutboxEvent(*row) for row in rows]

    def advance(
        self,
        sink: str,
        cursor: int,
        delivered: int,
        rejections: Sequence[tuple[int, int | None, str]] = (),
    ) -> None:
        """Record that ``sink`` took every event up to ``cursor``."""
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                for event_id, status, error in rejections:
                    self._db.execute(
                        "INSERT OR REPLACE INTO rejected (event_id, sink, status, error, at)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (event_id, sink, status, error, now),
                    )
                self._db.execute(
                    "UPDATE sinks SET cursor = MAX(cursor, ?), delivered = delivered + ?,"
                    " attempts = 0, next_attempt_at = 0, last_error = NULL,"
                    " last_success_at = ? WHERE name = ?",
                    (cursor, delivered, now, sink),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def defer(self, sink: str, error: str, max_backoff: float) -> float:
        """Record a failed attempt; return the delay before the next one (capped backoff)."""
        with self._lock:
            (attempts,) = self._db.execute(
                "SELECT attempts FROM sinks WHERE name = ?", (sink,)
            ).fetchone()
            delay = float(min(max_backoff, 0.25 * (2 ** min(int(attempts), 20))))
            self._db.execute(
                "UPDATE sinks SET attempts = attempts + 1, next_attempt_at = ?, last_error = ?"
                " WHERE name = ?",
                (time.time() + delay, error, sink),
            )
        return delay

    def retry_now(self, sink: str | None = None) -> None:
        """Forget the backoff of one sink (or all), so the next delivery tries at once."""
        with self._lock:
            if sink is None:
                self._db.execute("UPDATE sinks SET next_attempt_at = 0")
            else:
                self._db.execute("UPDATE sinks SET next_attempt_at = 0 WHERE name = ?", (sink,))

    def requeue_rejected(self, sink: str | None = None) -> int:
        """Put events set aside for ``sink`` (or every sink) back in line; return how many."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                rows = self._db.execute(
                    "SELECT r.event_id, r.sink, e.run_id, e.event_type, e.job, e.payload"
                    " FROM rejected r JOIN events e ON e.id = r.event_id"
                    " WHERE ? IS NULL OR r.sink = ? ORDER BY r.event_id",
                    (sink, sink),
                ).fetchall()
                for event_id, name, run_id, event_type, job, payload in rows:
                    self._db.execute(
                        "INSERT INTO events (created_at, run_id, event_type, job, only_sink,"
                        " payload) VALUES (?, ?, ?, ?, ?, ?)",
                        (time.time(), run_id, event_type, job, name, payload),
                    )
                    self._db.execute(
                        "DELETE FROM rejected WHERE event_id = ? AND sink = ?", (event_id, name)
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return len(rows)

    def prune(self, retention_seconds: float) -> int:
        """Delete events every active sink took more than ``retention_seconds`` ago."""
        now = time.time()
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(cursor) FROM sinks WHERE last_seen_at > ?",
                (now - max(retention_seconds, 86400.0),),
            ).fetchone()
            if row is None or row[0] is None:
                return 0
            cur = self._db.execute(
                "DELETE FROM events WHERE id <= ? AND created_at < ?"
                " AND id NOT IN (SELECT event_id FROM rejected)",
                (row[0], now - retention_seconds),
            )
            return cur.rowcount

    # -- reporting ------------------------------------------------------------------------

    def sink_states(self) -> list[SinkState]:
        with self._lock:
            rows = self._db.execute(
                "SELECT s.name, s.cursor,"
                " (SELECT COUNT(*) FROM events e WHERE e.id > s.cursor"
                "   AND (e.only_sink IS NULL OR e.only_sink = s.name)),"
                " s.delivered, (SELECT COUNT(*) FROM rejected r WHERE r.sink = s.name),"
                " s.attempts, s.next_attempt_at, s.last_error, s.last_success_at"
                " FROM sinks s ORDER BY s.name"
            ).fetchall()
        return [SinkState(*row) for row in rows]

    def rejections(self, sink: str | None = None) -> list[Rejection]:
        with self._lock:
            rows = self._db.execute(
                "SELECT r.event_id, r.sink, r.status, r.error, r.at, e.run_id, e.event_type,"
                " e.job FROM rejected r LEFT JOIN events e ON e.id = r.event_id"
                " WHERE ? IS NULL OR r.sink = ? ORDER BY r.event_id",
                (sink, sink),
            ).fetchall()
        return [Rejection(*row) for row in rows]

    def checkpoint(self) -> None:
        """Copy the write-ahead log into the database where no reader needs it (best effort:
        a writer that opened the outbox with ``checkpoint=False`` relies on this)."""
        try:
            with self._lock:
                self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        except sqlite3.Error:
            pass  # busy or locked: the next delivery tries again

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
