"""The registry: an index of events by run, dataset name and content digest.

It consumes the same events the outbox delivers everywhere else; it holds no fact the events
do not carry, so it can always be rebuilt by replaying them.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, delete, func, insert, inspect, select, text
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tracline.db import display_url, make_engine
from tracline.errors import StoreError, ValidationError
from tracline.registry import _schema as t
from tracline.registry._ingest import index_event
from tracline.registry._lookups import ArtifactRow, Lookups, RunRow

__all__ = ["ArtifactRow", "Registry", "RunRow"]


class Registry(Lookups):
    """Open a registry at a SQLAlchemy URL; tables are created on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._local = threading.local()
        try:
            self._upgrade()
        except SQLAlchemyError as e:
            cause = getattr(e, "orig", None) or e
            raise StoreError(
                f"cannot open the registry at {display_url(url)}: {e.__class__.__name__}: "
                f"{display_url(str(cause))}",
                hint="check the registry url and that the database is reachable",
            ) from e

    def _schema_version(self) -> str | None:
        try:
            with self.engine.connect() as conn:
                return conn.execute(
                    select(t.meta.c.value).where(t.meta.c.key == "schema")).scalar()
        except SQLAlchemyError:  # a new database, or one from before the version was kept
            return None

    def _upgrade(self) -> None:
        """Create missing tables, columns and indices (added only, never changed or dropped)."""
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

    def ingest(self, event: dict[str, Any]) -> bool:
        """Index one run event; return False if it was already there (delivery is at least once)."""
        try:
            run_id = event["run"]["runId"]
            event_type = event.get("eventType") or "OTHER"
            job = event["job"]
            event_time = event["eventTime"]
        except (KeyError, TypeError) as e:
            raise ValidationError("event", f"not an OpenLineage run event (missing {e})") from e
        canonical = json.dumps(event, sort_keys=True, separators=(",", ":"))
        key = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
        try:
            with self._begin() as conn:
                conn.execute(insert(t.events).values(
                    event_key=key, run_id=run_id, event_type=event_type, event_time=event_time,
                    job_namespace=job["namespace"], job_name=job["name"], payload=canonical,
                ))
                index_event(conn, event, run_id, event_type, event_time)
        except IntegrityError:
            return False
        return True

    def event_count(self) -> int:
        """How many distinct events the registry took."""
        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()
