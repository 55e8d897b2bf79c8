"""Validate every event a test session emitted, whichever process emitted it.

Each test's outbox lives under pytest's temporary directory; at the end of the session every
``outbox.db`` found there is read and each event validated against the official OpenLineage
schemas and tracline's facet schemas. Integrations call this from their ``conftest.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tracline.events import expand_record
from tracline.testing._schemas import EventValidator, find_openlineage_spec

__all__ = ["EXPECT_INVALID", "sweep_outboxes"]

#: A file next to an outbox whose test emits invalid events on purpose.
EXPECT_INVALID = "expect-invalid-events"


def sweep_outboxes(root: Path) -> tuple[int, list[str]]:
    """Validate the events in every outbox under ``root``; return (count, problems)."""
    spec = find_openlineage_spec()
    if spec is None:
        return 0, ["the OpenLineage spec folder was not found (shared/openlineage-spec)"]
    validator = EventValidator(spec)
    count, problems = 0, []
    for db in sorted(root.rglob("outbox.db")):
        if (db.parent / EXPECT_INVALID).exists():
            continue  # a test that emits invalid events on purpose says so
        try:
            rows = _rows(db)
        except sqlite3.Error:
            continue  # a test that corrupts or locks an outbox on purpose
        for event_id, payload, kind, event_type in rows:
            count += 1
            try:
                event = expand_record(event_type, payload) if kind == "record" \
                    else json.loads(payload)
            except Exception as e:  # noqa: BLE001 - reported as a problem of that event
                problems.append(f"{db} #{event_id}: cannot be read: {type(e).__name__}: {e}")
                continue
            problems += [f"{db.parent.name} #{event_id}: {p}" for p in validator.errors(event)]
    return count, problems


def _rows(db: Path) -> list[tuple[int, str, str, str]]:
    """(id, payload, kind, event type) of every row (outboxes before ``kind``: events)."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        columns = {row[1] for row in con.execute("PRAGMA table_info(events)")}
        kind = "kind" if "kind" in columns else "'event'"
        return con.execute(f"SELECT id, payload, {kind}, event_type FROM events").fetchall()
    finally:
        con.close()
