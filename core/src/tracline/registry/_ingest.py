"""Indexing one run event: the ``runs`` row (state, times, merged facets) and ``run_io``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert, select, update

from tracline.registry import _schema as t

__all__ = ["index_event"]

_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}


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
    for direction, datasets in (("in", event.get("inputs")), ("out", event.get("outputs"))):
        for ds in datasets or []:
            _upsert_io(conn, run_id, direction, ds, event_time)


def _upsert_io(conn: Connection, run_id: str, direction: str, ds: dict[str, Any],
               event_time: str) -> None:
    facets = ds.get("facets") or {}
    content = facets.get("tracline_contentHash") or {}
    digest = content.get("digest") or (facets.get("version") or {}).get("datasetVersion")
    values = {"digest": digest, "size": content.get("size"),
              "file_count": content.get("fileCount"), "kind": content.get("kind"),
              "event_time": event_time}
    key = (t.run_io.c.run_id == run_id) & (t.run_io.c.direction == direction) & (
        t.run_io.c.namespace == ds["namespace"]) & (t.run_io.c.name == ds["name"])
    if conn.execute(select(t.run_io.c.run_id).where(key)).first() is None:
        conn.execute(insert(t.run_io).values(
            run_id=run_id, direction=direction, namespace=ds["namespace"], name=ds["name"],
            **values))
    elif digest:
        conn.execute(update(t.run_io).where(key).values(**values))
