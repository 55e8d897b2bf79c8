"""Taking back what a damaged outbox or registry still holds (``tracline outbox recover``).

The damaged file was moved aside untouched (:mod:`tracline.statefiles`). Recovery works on a
copy of it: every event that can still be read is put back — into the outbox (to be
delivered; from a damaged outbox, those its sinks had not all taken) or into the registry
(indexed again; from a damaged registry). Unreadable stretches are skipped, row by row.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import attrs

from tracline._urls import display_url
from tracline.config import Config
from tracline.errors import NotFound, TraclineError, ValidationError

__all__ = ["Recovery", "recover"]

#: Rows read at a time; a range that cannot be read is split down to single rows.
_CHUNK = 256


@attrs.frozen
class Recovery:
    """What a recovery took back from a damaged file."""

    source: str
    kind: str
    recovered: int
    unreadable: int
    target: str


def recover(config: Config, path: str | os.PathLike[str]) -> Recovery:
    """Put back every readable event of the damaged outbox or registry file ``path``."""
    import shutil
    import tempfile

    source = os.fspath(path)
    if not os.path.isfile(source):
        raise NotFound(f"{source} is not a file",
                       hint="give a file that `tracline outbox status` or doctor named")
    with tempfile.TemporaryDirectory(prefix="tracline-recover-") as tmp:
        copy = os.path.join(tmp, "copy.db")
        shutil.copyfile(source, copy)
        if os.path.exists(source + "-wal"):
            shutil.copyfile(source + "-wal", copy + "-wal")
        db = sqlite3.connect(copy)
        try:
            tables = _tables(db, source)
            if "events" in tables and "sinks" in tables:
                return _into_outbox(config, db, source)
            if "lineage_events" in tables:
                return _into_registry(config, db, source)
            raise ValidationError("file", f"{source} is neither an outbox nor a registry",
                                  hint="give a file moved aside as NAME.damaged-<time>")
        finally:
            db.close()


def _tables(db: sqlite3.Connection, source: str) -> set[str]:
    try:
        return {row[0] for row in db.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as e:
        raise ValidationError("file", f"nothing can be read from {source}: {e}",
                              hint="the file's first pages are gone; `sqlite3 FILE .recover` "
                                   "may still find rows") from None


def _rows(db: sqlite3.Connection, table: str, columns: str, after: int,
          ) -> Iterator[tuple[Any, ...]]:
    """Every readable row of ``table`` with ``id > after``; ``()`` for an unreadable one."""
    try:
        top = db.execute(f"SELECT MAX(id) FROM {table}").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        try:  # AUTOINCREMENT keeps the highest id apart
            top = db.execute("SELECT seq FROM sqlite_sequence WHERE name = ?",
                             (table,)).fetchone()[0]
        except (sqlite3.DatabaseError, TypeError):
            top = after
    start = after + 1
    while start <= top:
        yield from _range(db, table, columns, start, min(top, start + _CHUNK - 1))
        start += _CHUNK


def _range(db: sqlite3.Connection, table: str, columns: str, low: int, high: int,
           ) -> Iterator[tuple[Any, ...]]:
    """Rows ``low..high`` (ids are consecutive: an outbox prunes only below its cursors, a
    registry never deletes), each found by a scan or, where the scan fails or skips some,
    looked up by its id; ``()`` for each one that cannot be read."""
    try:
        rows = db.execute(f"SELECT id, {columns} FROM {table} WHERE id BETWEEN ? AND ?"
                          " ORDER BY id", (low, high)).fetchall()
    except sqlite3.DatabaseError:
        rows = []
    found = {row[0]: row[1:] for row in rows if isinstance(row[0], int)}
    for row_id in range(low, high + 1):
        if row_id in found:
            yield found[row_id]
            continue
        try:  # a damaged page can end a scan early: look the row up through the index
            row = db.execute(f"SELECT {columns} FROM {table} WHERE id = ?",
                             (row_id,)).fetchone()
        except sqlite3.DatabaseError:
            row = None
        yield tuple(row) if row else ()


def _count(rows: Iterator[tuple[Any, ...]],
           put: Callable[[tuple[Any, ...]], object]) -> tuple[int, int]:
    recovered = unreadable = 0
    for row in rows:
        if not row:
            unreadable += 1
            continue
        put(row)
        recovered += 1
    return recovered, unreadable


def _into_outbox(config: Config, db: sqlite3.Connection, source: str) -> Recovery:
    from tracline.delivery.outbox import Outbox

    try:
        after = db.execute("SELECT MIN(cursor) FROM sinks").fetchone()[0] or 0
    except sqlite3.DatabaseError:
        after = 0  # which events the sinks took is unknown: all go again
    columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
    kind = "kind" if "kind" in columns else "'event'"
    outbox = Outbox(config.outbox_path, mode=config.file_mode)
    outbox.register_sinks(s.name for s in config.sinks)
    try:
        recovered, unreadable = _count(
            _rows(db, "events", f"run_id, event_type, job, payload, {kind}", int(after)),
            lambda row: outbox.append(row[3], run_id=row[0], event_type=row[1], job=row[2],
                                      kind=row[4]))
    finally:
        outbox.close()
    return Recovery(source, "outbox", recovered, unreadable, str(config.outbox_path))


def _into_registry(config: Config, db: sqlite3.Connection, source: str) -> Recovery:
    from tracline.registry import Registry

    registry = Registry(config.registry_url, mode=config.file_mode)

    def index(row: tuple[Any, ...]) -> None:
        try:
            registry.ingest(json.loads(row[0]))
        except (ValueError, TraclineError):
            pass  # an event the registry cannot take: it never could

    try:
        recovered, unreadable = _count(_rows(db, "lineage_events", "payload", 0), index)
    finally:
        registry.close()
    return Recovery(source, "registry", recovered, unreadable, display_url(config.registry_url))
