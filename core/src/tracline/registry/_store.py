"""The registry: an index of events by run, dataset name and content digest.

It consumes the same events the outbox delivers everywhere else; it holds no fact the events
do not carry, so it can always be rebuilt by replaying them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import attrs
from sqlalchemy import Connection, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from tracline.db import make_engine
from tracline.errors import NotFound, StoreError, ValidationError
from tracline.registry import _schema as t

__all__ = ["ArtifactRow", "Registry", "RunRow"]

_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


@attrs.frozen
class RunRow:
    """A run as the registry knows it."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started_at: str | None
    ended_at: str | None
    parent_run_id: str | None
    facets: dict[str, Any]


@attrs.frozen
class ArtifactRow:
    """A dataset a run read (``in``) or wrote (``out``), with its digest then."""

    run_id: str
    direction: str
    namespace: str
    name: str
    digest: str | None
    size: int | None
    file_count: int | None


class Registry:
    """Open a registry at a SQLAlchemy URL; tables are created on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        try:
            t.metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise StoreError(
                f"cannot open the registry at {url}: {e.__class__.__name__}: {e.orig or e}",
                hint="check the registry url and that the database is reachable",
            ) from e

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise StoreError(f"registry error: {e}", hint="is the database reachable?") from e

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
            with self._tx() as conn:
                conn.execute(insert(t.events).values(
                    event_key=key, run_id=run_id, event_type=event_type, event_time=event_time,
                    job_namespace=job["namespace"], job_name=job["name"], payload=canonical,
                ))
                self._index(conn, event, run_id, event_type, event_time)
        except IntegrityError:
            return False
        return True

    def _index(self, conn: Connection, event: dict[str, Any], run_id: str, event_type: str,
               event_time: str) -> None:
        facets = (event.get("run") or {}).get("facets") or {}
        parent = (facets.get("parent") or {}).get("run", {}).get("runId")
        job = event["job"]
        row = conn.execute(select(t.runs).where(t.runs.c.run_id == run_id)).mappings().first()
        if row is None:
            conn.execute(insert(t.runs).values(
                run_id=run_id, job_namespace=job["namespace"], job_name=job["name"],
                state=event_type, parent_run_id=parent, facets=json.dumps(facets),
                started_at=event_time if event_type == "START" else None,
                ended_at=event_time if event_type in _TERMINAL else None,
            ))
        else:
            merged = {**json.loads(row["facets"]), **facets}
            values: dict[str, Any] = {"facets": json.dumps(merged)}
            # A terminal state is never overwritten by a late START or RUNNING event.
            if row["state"] not in _TERMINAL or event_type in _TERMINAL:
                values["state"] = event_type
            if event_type == "START":
                values["started_at"] = event_time
            if event_type in _TERMINAL:
                values["ended_at"] = event_time
            if parent:
                values["parent_run_id"] = parent
            conn.execute(update(t.runs).where(t.runs.c.run_id == run_id).values(**values))
        for direction, datasets in (("in", event.get("inputs")), ("out", event.get("outputs"))):
            for ds in datasets or []:
                self._upsert_io(conn, run_id, direction, ds)

    def _upsert_io(self, conn: Connection, run_id: str, direction: str, ds: dict[str, Any]) -> None:
        facets = ds.get("facets") or {}
        content = facets.get("tracline_contentHash") or {}
        digest = content.get("digest") or (facets.get("version") or {}).get("datasetVersion")
        values = {"digest": digest, "size": content.get("size"),
                  "file_count": content.get("fileCount")}
        key = (t.run_io.c.run_id == run_id) & (t.run_io.c.direction == direction) & (
            t.run_io.c.namespace == ds["namespace"]) & (t.run_io.c.name == ds["name"])
        if conn.execute(select(t.run_io.c.run_id).where(key)).first() is None:
            conn.execute(insert(t.run_io).values(
                run_id=run_id, direction=direction, namespace=ds["namespace"], name=ds["name"],
                **values))
        elif digest:
            conn.execute(update(t.run_io).where(key).values(**values))

    # -- queries -------------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRow:
        with self._tx() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.run_id == run_id)).mappings().first()
        if row is None:
            raise NotFound(f"no run {run_id} in the registry at {self.url}",
                           hint="check the id with `tracline outbox status` or list runs")
        return RunRow(**{**row, "facets": json.loads(row["facets"])})

    def runs(self, limit: int = 100) -> list[RunRow]:
        with self._tx() as conn:
            rows = conn.execute(
                select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit)
            ).mappings().all()
        return [RunRow(**{**r, "facets": json.loads(r["facets"])}) for r in rows]

    def io(self, run_id: str) -> list[ArtifactRow]:
        with self._tx() as conn:
            rows = conn.execute(
                select(t.run_io).where(t.run_io.c.run_id == run_id)
                .order_by(t.run_io.c.direction, t.run_io.c.name)
            ).mappings().all()
        return [ArtifactRow(**r) for r in rows]

    def producers(self, digest: str) -> list[ArtifactRow]:
        """The runs that wrote content with this digest."""
        with self._tx() as conn:
            rows = conn.execute(
                select(t.run_io).where((t.run_io.c.digest == digest)
                                       & (t.run_io.c.direction == "out"))
            ).mappings().all()
        return [ArtifactRow(**r) for r in rows]

    def event_count(self) -> int:
        from sqlalchemy import func

        with self._tx() as conn:
            return int(conn.execute(select(func.count()).select_from(t.events)).scalar_one())

    def close(self) -> None:
        self.engine.dispose()
