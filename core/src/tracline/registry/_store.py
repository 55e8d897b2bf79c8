"""The registry: an index of events by run, dataset name and content digest.

It consumes the same events the outbox delivers everywhere else; it holds no fact the events
do not carry, so it can always be rebuilt by replaying them.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    bindparam,
    delete,
    func,
    insert,
    inspect,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy import event as sa_event
from sqlalchemy.exc import (
    DatabaseError,
    DataError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
    StatementError,
)

from tracline import statefiles
from tracline.db import display_url, make_engine
from tracline.errors import StoreError, ValidationError
from tracline.registry import _schema as t
from tracline.registry._ingest import index_event
from tracline.registry._lookups import ArtifactRow, Lookups, RunRow
from tracline.statefiles import sqlite_path

__all__ = ["ArtifactRow", "Registry", "RunRow"]

log = logging.getLogger(__name__)




def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")


def _damage(error: BaseException) -> bool:
    return isinstance(error, DatabaseError) and statefiles.is_damage(
        getattr(error, "orig", None) or error)


class Registry(Lookups):
    """Open a registry at a SQLAlchemy URL; tables are created on first use.

    A SQLite registry is created whole and private (``mode``, by default ``[tracline]
    file_mode``; see :mod:`tracline.statefiles`);
    one found damaged is moved aside intact, reported loudly with how to take its events
    back (``tracline outbox recover``), and a new one started.

    ``checkpoint=False`` (SQLite): this registry's commits never copy the write-ahead log into
    the database (SQLite's auto-checkpoint, once the log passes 4 MB, in the committing
    call); the owner calls :meth:`checkpoint` when it suits it — the deliverer, after it has
    recorded a delivery. A big run's event dirties thousands of index pages, and copying them
    back and syncing both files was half of what its ingest cost on a registry that had grown.
    """

    def __init__(self, url: str, *, mode: int | None = None, checkpoint: bool = True) -> None:
        self.url = url
        self.mode = mode
        self._checkpoint = checkpoint
        self.path = sqlite_path(url)
        self.moved_aside: list[str] = []
        self._local = threading.local()
        self.engine: Engine = self._open()

    def _open(self, again: bool = True) -> Engine:
        engine: Engine | None = None
        try:
            if self.path is not None:
                if os.path.isfile(self.path) and os.path.getsize(self.path) == 0:
                    self._move_aside("it is empty (0 bytes): the file was truncated")
                statefiles.create_sqlite(self.path, _initialize, self.mode)
            engine = make_engine(self.url, mode=self.mode)
            if self.path is not None and not self._checkpoint:
                sa_event.listen(engine, "connect", _no_autocheckpoint)
            self.engine = engine
            self._upgrade()
            return engine
        except SQLAlchemyError as e:
            if engine is not None:
                engine.dispose()
            if again and self.path is not None and _damage(e):
                self._move_aside(str(getattr(e, "orig", None) or e))
                return self._open(again=False)
            cause = getattr(e, "orig", None) or e
            raise StoreError(
                f"cannot open the registry at {display_url(self.url)}: {e.__class__.__name__}: "
                f"{display_url(str(cause))}",
                hint="check the registry url and that the database is reachable",
            ) from e
        except OSError as e:
            raise StoreError(f"cannot create the registry at {display_url(self.url)}: "
                             f"{e.strerror or e}",
                             hint="make its folder writable, or set TRACLINE_REGISTRY_URL "
                                  "(or [registry] url) to a writable place") from e

    def _move_aside(self, reason: str) -> None:
        """Move a damaged SQLite registry aside, untouched, and say so loudly."""
        assert self.path is not None
        engine = getattr(self, "engine", None)
        if engine is not None:
            engine.dispose()
        aside = statefiles.set_aside(
            self.path, "registry", reason, "To index again the events it still holds")
        if aside is not None:
            self.moved_aside.append(aside)

    def _schema_version(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(
                    select(t.meta.c.value).where(t.meta.c.key == "schema")).scalar()
        except SQLAlchemyError:  # a new database, or one from before the version was kept
            return None

    def _upgrade(self) -> None:
        """Bring an older registry to this schema: create missing tables, columns and indices,
        fill the keys of rows written before them, drop the indices they replaced. Several
        processes may do it at once: what one of them made meanwhile is no error."""
        for attempt in range(5):
            try:
                self._upgrade_once()
                return
            except (OperationalError, ProgrammingError, IntegrityError) as e:
                if attempt == 4 or _damage(e):
                    raise
                time.sleep(0.05 * (attempt + 1))

    def _upgrade_once(self) -> None:
        if self._schema_version() == str(t.SCHEMA_VERSION):
            return
        inspector = inspect(self.engine)
        if not set(t.metadata.tables) <= set(inspector.get_table_names()):
            t.metadata.create_all(self.engine)
        for table, columns in t.ADDED_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table)}
            with self.engine.begin() as conn:
                for name, type_ in columns:
                    if name not in present:
                        ddl = type_.compile(dialect=self.engine.dialect)
                        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))
        for table, names in t.DROPPED_INDICES.items():
            indexed = {i["name"] for i in inspector.get_indexes(table)}
            for name in names:
                if name in indexed:
                    with self.engine.begin() as conn:
                        conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        _fill_keys(self.engine)
        for schema_table in t.metadata.sorted_tables:
            indices = {i["name"] for i in inspector.get_indexes(schema_table.name)}
            for index in schema_table.indexes:
                if index.name not in indices:
                    index.create(self.engine, checkfirst=True)
        with self.engine.begin() as conn:
            conn.execute(delete(t.meta).where(t.meta.c.key == "schema"))
            conn.execute(insert(t.meta).values(key="schema", value=str(t.SCHEMA_VERSION)))

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise StoreError(f"registry error: {e}", hint="is the database reachable?") from e

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        """The connection of the current :meth:`snapshot`, or a transaction of its own."""
        bound = getattr(self._local, "conn", None)
        if bound is not None:
            yield bound
            return
        with self._begin() as conn:
            yield conn

    @contextmanager
    def snapshot(self) -> Iterator[Registry]:
        """Run the lookups inside on one connection and transaction (fewer round trips)."""
        if getattr(self._local, "conn", None) is not None:
            yield self
            return
        with self._begin() as conn:
            self._local.conn = conn
            try:
                yield self
            finally:
                self._local.conn = None

    # -- ingest --------------------------------------------------------------------------------

    def ingest(self, event: dict[str, Any], *, canonical: str | None = None) -> bool:
        """Index one run event; return False if it was already there (delivery is at least once).

        ``canonical`` is the event's :func:`~tracline.events.canonical_json` when the caller
        made it already (the deliverer makes it once for every sink); it is what is stored and
        keyed.
        """
        try:
            run_id = event["run"]["runId"]
            event_type = event.get("eventType") or "OTHER"
            job = event["job"]
            event_time = event["eventTime"]
        except (KeyError, TypeError) as e:
            raise ValidationError("event", f"not an OpenLineage run event (missing {e})") from e
        if canonical is None:
            from tracline.events import canonical_json

            canonical = canonical_json(event)
        key = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        for attempt in (1, 2):
            try:
                with self.engine.begin() as conn:
                    conn.execute(insert(t.events).values(
                        event_key=key, run_id=run_id, event_type=event_type,
                        event_time=event_time, job_namespace=job["namespace"],
                        job_name=job["name"], payload=canonical,
                    ))
                    index_event(conn, event, run_id, event_type, event_time)
            except IntegrityError:
                return False
            except DataError as e:  # a value this database cannot store (text with NUL, ...)
                raise ValidationError("event", f"cannot be stored: {e.orig}") from e
            except StatementError as e:
                if isinstance(e.orig, UnicodeError):  # text that is not valid Unicode
                    raise ValidationError("event", f"cannot be stored: {e.orig}") from e
                if attempt == 1 and self.path is not None and _damage(e):
                    self._move_aside(str(e.orig))
                    self.engine = self._open(again=False)
                    continue
                raise StoreError(f"registry error: {e}",
                                 hint="is the database reachable?") from e
            except UnicodeError as e:
                raise ValidationError("event", f"cannot be stored: {e}") from e
            except SQLAlchemyError as e:
                raise StoreError(f"registry error: {e}", hint="is the database reachable?") from e
            return True
        return False

    def event_count(self) -> int:
        """How many distinct events the registry took."""
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def checkpoint(self) -> None:
        """Copy a SQLite registry's write-ahead log into the database where no reader needs
        it (a passive checkpoint; nothing to do on other databases). Best effort: a busy
        registry is checkpointed by the next call, or by the last connection to close."""
        if self.path is None:
            return
        try:
            with self.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except SQLAlchemyError:
            pass

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()


def _fill_keys(engine: Engine, batch: int = 5000) -> None:
    """Set ``run_io``'s name and digest keys on the rows written before those columns, a batch
    a transaction in primary-key order (an upgrade stopped midway goes on where it was)."""
    c = t.run_io.c
    key = (c.run_id, c.direction, c.namespace, c.name)
    after: tuple[Any, ...] | None = None
    keyed, started = 0, time.monotonic()
    while True:
        query = select(*key, c.digest).where(c.name_key.is_(None)).order_by(*key).limit(batch)
        if after is not None:
            query = query.where(tuple_(*key) > tuple_(*after))
        with engine.begin() as conn:
            rows = conn.execute(query).all()
            if not rows:
                if keyed:
                    log.warning("tracline: registry upgraded: %d datasets of earlier runs keyed "
                                "in %.1f s", keyed, time.monotonic() - started)
                return
            if not keyed:
                log.warning("tracline: upgrading the registry at %s: keying the datasets of "
                            "earlier runs (once; it goes on where it stopped if interrupted)",
                            display_url(str(engine.url)))
            conn.execute(
                update(t.run_io).where(
                    (c.run_id == bindparam("r")) & (c.direction == bindparam("d"))
                    & (c.namespace == bindparam("ns")) & (c.name == bindparam("n")))
                .values(name_key=bindparam("nk"), digest_key=bindparam("dk")),
                [{"r": r[0], "d": r[1], "ns": r[2], "n": r[3], "nk": t.name_key(r[3]),
                  "dk": t.digest_key(r[4])} for r in rows])
        keyed += len(rows)
        after = tuple(rows[-1][:4])


def _initialize(db: Any) -> None:
    """A new SQLite registry's settings and tables (before it is linked into place)."""
    from sqlalchemy.dialects import sqlite
    from sqlalchemy.schema import CreateIndex, CreateTable

    dialect = sqlite.dialect()
    db.execute("PRAGMA journal_mode=WAL")
    for table in t.metadata.sorted_tables:
        db.execute(str(CreateTable(table).compile(dialect=dialect)))
        for index in table.indexes:
            db.execute(str(CreateIndex(index).compile(dialect=dialect)))
    db.execute("INSERT INTO registry_meta (key, value) VALUES ('schema', ?)",
               (str(t.SCHEMA_VERSION),))
