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
#: A ``run_io`` row's values, in the order :func:`_io_row` gives them.
_COLUMNS = (*_KEY, "digest", "size", "file_count", "kind", "event_time", "name_key",
            "digest_key")
_IN_ORDER = tuple(range(len(_COLUMNS)))
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
    rows: dict[tuple[str, str, str], tuple[Any, ...]] = {}
    for direction, datasets in (("in", event.get("inputs")), ("out", event.get("outputs"))):
        for ds in datasets or []:
            item = _io_row(run_id, direction, ds, event_time)
            key = (direction, item[2], item[3])
            # One row per dataset and direction; a repeated one keeps a digest it has.
            if key not in rows or item[4]:
                rows[key] = item
    if rows:
        sql, order = _upsert_sql(conn.dialect)
        found = list(rows.values())
        conn.exec_driver_sql(sql, [dict(zip(_COLUMNS, r, strict=True)) for r in found]
                             if order is None else found if order == _IN_ORDER
                             else [tuple(r[i] for i in order) for r in found])


def _io_row(run_id: str, direction: str, ds: dict[str, Any], event_time: str,
            ) -> tuple[Any, ...]:
    """A dataset's ``run_io`` row, its values in the order of :data:`_COLUMNS`."""
    facets = ds.get("facets") or {}
    content = facets.get("tracline_contentHash") or {}
    digest = content.get("digest") or (facets.get("version") or {}).get("datasetVersion")
    name = ds["name"]
    if not isinstance(name, str) or not isinstance(digest, str | None):
        raise ValidationError("event", f"dataset {name!r}: its name and version must be text")
    return (run_id, direction, ds["namespace"], name, digest, content.get("size"),
            content.get("fileCount"), content.get("kind"), event_time, t.name_key(name),
            t.digest_key(digest))


@functools.cache
def _upsert_sql(dialect: Dialect) -> tuple[str, tuple[int, ...] | None]:
    """:func:`_upsert` as this driver's SQL, and where the driver takes its parameters by
    position (SQLite's ``?``) the index in :data:`_COLUMNS` of each (None: by name, as
    psycopg's ``%(name)s``).

    Its rows go straight to the driver's ``executemany``: SQLAlchemy's processing of each
    row's parameters was most of what ingesting a big run cost (a run with 3,000 inputs:
    SQLite 54 -> 33 ms, PostgreSQL 134 -> 77 ms), and these columns — text and integers —
    need none.
    """
    compiled = _upsert(dialect.name).compile(dialect=dialect)
    if not compiled.positional:
        return compiled.string, None
    return compiled.string, tuple(_COLUMNS.index(k) for k in compiled.positiontup or ())


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
