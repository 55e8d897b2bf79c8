"""The request store: rows ↔ :class:`TrainingRequest`, write transactions, the atomic claim.

Every change runs in one write transaction: on SQLite ``BEGIN IMMEDIATE`` (one writer at a
time, waiting up to the busy timeout), on PostgreSQL a row lock on the request
(``SELECT ... FOR UPDATE``) plus the audit head's lock. A check that fails raises inside the
transaction, so nothing of a refused change is written.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, event, insert, inspect, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError

from tracline.approvals import _audit
from tracline.approvals import _schema as t
from tracline.approvals._model import (
    Approval,
    State,
    TrainingRequest,
    canonical_json,
    completion_from_json,
    content_digest,
    content_fields,
    iso,
)
from tracline.db import display_url, make_engine
from tracline.errors import NotFound, StoreError

__all__ = ["Store"]


def _autocommit(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)


def _begin(conn: Connection) -> None:
    immediate = conn.get_execution_options().get("tracline_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


class Store:
    """Tables and transactions of the request store at a SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        #: The URL for messages: the password hidden.
        self.display_url = self.engine.url.render_as_string(hide_password=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _autocommit)
            event.listen(self.engine, "begin", _begin)
        for attempt in range(3):
            try:
                t.metadata.create_all(self.engine)
                self._add_columns()
                with self.write() as conn:
                    _audit.ensure_head(conn)
                break
            except (StoreError, IntegrityError, OperationalError) as e:
                if attempt == 2:  # another process creating the same tables at once
                    raise StoreError(f"cannot open the request store at {self.display_url}: "
                                     f"{display_url(str(e))}",
                                     hint="check the URL and that the database is reachable"
                                     ) from e

    def _add_columns(self) -> None:
        """Add the columns a store made by an older tracline lacks (added, never changed)."""
        inspector = inspect(self.engine)
        for table, columns in t.ADDED_COLUMNS.items():
            present = {c["name"] for c in inspector.get_columns(table)}
            missing = [(name, kind) for name, kind in columns if name not in present]
            if missing:
                with self.engine.begin() as conn:
                    for name, kind in missing:
                        ddl = kind.compile(dialect=self.engine.dialect)
                        conn.execute(text(f"ALTER TABLE {table} ADD COLUMN {name} {ddl}"))

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """One write transaction; commits on success, rolls back on any error."""
        try:
            with self.engine.connect() as conn:
                conn.execution_options(tracline_write=True)
                with conn.begin():
                    yield conn
        except (IntegrityError, DBAPIError, SQLAlchemyError) as e:
            raise StoreError(f"request store error: {e.__class__.__name__}: {e}",
                             hint="is the database reachable and writable?") from e

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """One read-only transaction."""
        try:
            with self.engine.connect() as conn, conn.begin():
                yield conn
        except SQLAlchemyError as e:
            raise StoreError(f"request store error: {e.__class__.__name__}: {e}",
                             hint="is the database reachable?") from e

    # -- rows ----------------------------------------------------------------------------------

    def load(self, conn: Connection, request_id: str, *, lock: bool = False) -> TrainingRequest:
        """The request ``request_id`` (locked for update when ``lock``), or :class:`NotFound`."""
        query = select(t.requests).where(t.requests.c.id == request_id)
        row = conn.execute(query.with_for_update() if lock else query).first()
        if row is None:
            raise NotFound(f"no training request {request_id!r} in the request store at "
                           f"{self.display_url}",
                           hint="list them with: tracline request list; whoever files, approves "
                           "and gates a request must use the same store ([requests] url, else "
                           "[registry] url, in the tracline.toml each of them reads)")
        return self._request(conn, row)

    def load_all(self, conn: Connection, **where: str | None) -> list[TrainingRequest]:
        """Every request matching the equality filters given, newest first."""
        query = select(t.requests).order_by(t.requests.c.created_at.desc(), t.requests.c.id)
        for column, value in where.items():
            if value is not None:
                query = query.where(t.requests.c[column] == value)
        return [self._request(conn, row) for row in conn.execute(query)]

    def _request(self, conn: Connection, row: Any) -> TrainingRequest:
        content = json.loads(row.content)
        approvals = tuple(
            Approval(a.actor, a.digest, dt.datetime.fromisoformat(a.decided_at),
                     dt.datetime.fromisoformat(a.expires_at), a.note, a.signature, a.via)
            for a in conn.execute(select(t.approvals)
                                  .where(t.approvals.c.request_id == row.id)
                                  .order_by(t.approvals.c.id))
        )
        return TrainingRequest(
            id=row.id, state=State(row.state), digest=content_digest(content),
            created_at=dt.datetime.fromisoformat(row.created_at),
            updated_at=dt.datetime.fromisoformat(row.updated_at),
            approvals=approvals, run_id=row.run_id, claimed_by=row.claimed_by,
            claimed_at=_time(row.claimed_at), state_actor=row.state_actor,
            state_note=row.state_note, completion=completion_from_json(row.completion),
            **content_fields(content),
        )

    def recorded_digest(self, conn: Connection, request_id: str) -> str:
        """The digest column as written when the content was last changed through tracline."""
        return str(conn.execute(select(t.requests.c.digest)
                                .where(t.requests.c.id == request_id)).scalar_one())

    def insert(self, conn: Connection, r: TrainingRequest) -> None:
        """Store a new request."""
        conn.execute(insert(t.requests).values(
            id=r.id, state=r.state.value, digest=r.digest, content=canonical_json(r.content()),
            requester=r.requester, project=r.project, created_at=iso(r.created_at),
            updated_at=iso(r.updated_at), expires_at=iso(r.expires_at),
            state_actor=r.state_actor, state_note=r.state_note,
        ))

    def set_content(self, conn: Connection, r: TrainingRequest) -> None:
        """Replace a request's content, digest and state (after an amendment)."""
        conn.execute(update(t.requests).where(t.requests.c.id == r.id).values(
            content=canonical_json(r.content()), digest=r.digest, state=r.state.value,
            expires_at=iso(r.expires_at), updated_at=iso(r.updated_at),
        ))

    def transition(self, conn: Connection, request_id: str, expected: State, new: State, *,
                   digest: str | None = None, **values: Any) -> bool:
        """``UPDATE ... WHERE state = expected [AND digest = ...]``; True when a row changed."""
        query = update(t.requests).where(t.requests.c.id == request_id,
                                         t.requests.c.state == expected.value)
        if digest is not None:
            query = query.where(t.requests.c.digest == digest)
        result = conn.execute(query.values(state=new.value, **values))
        return result.rowcount == 1

    def set_completion(self, conn: Connection, request_id: str, completion: str) -> None:
        """Replace a settled request's completion record (its measured cost arrived)."""
        conn.execute(update(t.requests).where(t.requests.c.id == request_id)
                     .values(completion=completion))

    def add_approval(self, conn: Connection, request_id: str, a: Approval) -> None:
        """Record one approval."""
        conn.execute(insert(t.approvals).values(
            request_id=request_id, actor=a.actor, digest=a.digest,
            decided_at=iso(a.decided_at), expires_at=iso(a.expires_at), note=a.note,
            signature=a.signature, via=a.via,
        ))
