"""Indexing one run event: the ``runs`` row (state, times, merged facets) and ``run_io``.

A run's datasets go in as one batch through one prepared upsert statement, whatever their
number: the driver's own ``executemany`` (SQLite's loop in C, psycopg's pipeline) — not a
statement per file.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from sqlalchemy import Connection, Dialect, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite

from tracline.errors import ValidationError
from tracline.registry import _schema as t

__all__ = ["index_event"]

_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
_KEY = ("run_id", "direction", "namespace", "name")
_VALUES = ("digest", "digest_key", "size", "file_count", "kind", "event_time")


def index_event(conn: Connection, event: dict[str, Any], run_id: str, event_type: str,
                event_time: str) -> None:
    """Merge one event into the index tables (the raw event is stored by the caller)."""
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
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for direction, datasets in (("in", event.get("inputs")), ("out", event.get("outputs"))):
        for ds in datasets or []:
            item = _io_row(run_id, direction, ds, event_time)
            key = tuple(item[k] for k in _KEY)
            # One row per dataset and direction; a repeated one keeps a digest it has.
            if key not in rows or item["digest"]:
                rows[key] = item
    if rows:
        sql, names = _upsert_sql(conn.dialect)
        conn.exec_driver_sql(sql, [tuple(row[k] for k in names) for row in rows.values()]
                             if names is not None else list(rows.values()))


def _io_row(run_id: str, direction: str, ds: dict[str, Any], event_time: str) -> dict[str, Any]:
    facets = ds.get("facets") or {}
    content = facets.get("tracline_contentHash") or {}
    digest = content.get("digest") or (facets.get("version") or {}).get("datasetVersion")
    name = ds["name"]
    if not isinstance(name, str) or not isinstance(digest, str | None):
        raise ValidationError("event", f"dataset {name!r}: its name and version must be text")
    return {"run_id": run_id, "direction": direction, "namespace": ds["namespace"],
            "name": name, "digest": digest, "size": content.get("size"),
            "file_count": content.get("fileCount"), "kind": content.get("kind"),
            "event_time": event_time, "name_key": t.name_key(name),
            "digest_key": t.digest_key(digest)}


@functools.cache
def _upsert_sql(dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """:func:`_upsert` as this driver's SQL, and the order of its parameters where the driver
    takes them by position (SQLite's ``?``; None: by name, as psycopg's ``%(name)s``).

    Its rows go straight to the driver's ``executemany``: SQLAlchemy's processing of each
    row's parameters was most of what ingesting a big run cost (a run with 3,000 inputs:
    SQLite 54 -> 33 ms, PostgreSQL 134 -> 77 ms), and these columns — text and integers —
    need none.
    """
    compiled = _upsert(dialect.name).compile(dialect=dialect)
    return compiled.string, tuple(compiled.positiontup or ()) if compiled.positional else None


@functools.cache
def _upsert(dialect_name: str) -> Any:
    """The INSERT of a ``run_io`` row where a row already there takes the new values only when
    they carry a digest (a later event without one never erases what an earlier one had)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(t.run_io)
    return stmt.on_conflict_do_update(
        index_elements=[t.run_io.c[k] for k in _KEY],
        set_={k: stmt.excluded[k] for k in _VALUES},
        where=stmt.excluded.digest.is_not(None),
    )
