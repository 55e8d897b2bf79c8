"""Validate every event a test session emitted, whichever process emitted it.

Each test's outbox lives under pytest's temporary directory; at the end of the session every
``outbox.db`` found there is read and each event validated against the official OpenLineage
schemas and tracline's facet schemas. Integrations call this from their ``conftest.py``.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

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
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            rows = con.execute("SELECT id, payload FROM events").fetchall()
            con.close()
        except sqlite3.Error:
            continue  # a test that corrupts or locks an outbox on purpose
        for event_id, payload in rows:
            count += 1
            try:
                event = json.loads(payload)
            except ValueError:
                problems.append(f"{db} #{event_id}: not JSON")
                continue
            problems += [f"{db.parent.name} #{event_id}: {p}" for p in validator.errors(event)]
    return count, problems
