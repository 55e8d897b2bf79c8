"""A SQLite file that heals itself: the storage under the stat cache, which must never fail."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

from tracline import statefiles

__all__ = ["SelfHealingDb"]

log = logging.getLogger("tracline.hashing")

_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


class SelfHealingDb:
    """One SQLite connection, shared by threads, whose errors never reach the caller.

    A corrupted file is reported once, moved aside to ``<name>.corrupt`` and replaced by an
    empty one; a busy database skips the operation; any other failure disables the database
    for this object's life (reported once). Subclasses give ``SCHEMA`` and run SQL through
    :meth:`guarded`.
    """

    SCHEMA: tuple[str, ...] = ()

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._broken = False
        self._reported = False

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None and not self._broken:
            # Made whole and private before anyone opens it: processes starting together
            # never see a half-made file (tracline.statefiles).
            statefiles.create_sqlite(self.path, self._initialize)
            conn = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                for statement in self.SCHEMA:
                    conn.execute(statement)
            except BaseException:
                conn.close()
                raise
            self._conn = conn
        return self._conn

    def _initialize(self, conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        for statement in self.SCHEMA:
            conn.execute(statement)

    def guarded(self, operation: str, default: T, body: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``body`` under the lock; on a database error recover and return ``default``."""
        with self._lock:
            for attempt in (1, 2):
                try:
                    conn = self._connect()
                    return default if conn is None else body(conn)
                except (sqlite3.Error, OSError) as e:
                    code = getattr(e, "sqlite_errorcode", 0) & 0xFF
                    corrupt = code in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
                    if corrupt and attempt == 1 and self._rebuild(e):
                        continue
                    self._give_up(operation, e)
                    return default
            return default

    def report(self, message: str, *args: object) -> None:
        """Log a warning about this database, once per object."""
        if not self._reported:
            self._reported = True
            log.warning(message, *args)

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
        self.report(
            "stat cache %s was corrupted (%s); moved it to %s and started a new one "
            "(files will be re-read once)",
            self.path,
            error,
            aside,
        )
        return True

    def _give_up(self, operation: str, error: Exception) -> None:
        if isinstance(error, sqlite3.OperationalError) and "locked" in str(error):
            log.debug("stat cache %s busy during %s; skipped", self.path, operation)
            return
        self._close()
        self._broken = True
        self.report(
            "stat cache %s unusable during %s (%s); hashing without it",
            self.path,
            operation,
            error,
        )

    def _close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        """Close the database connection (it reopens on next use)."""
        with self._lock:
            self._close()
