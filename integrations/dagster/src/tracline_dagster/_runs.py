"""Dagster runs as they start and end, read from the instance's event log with a cursor.

Both of tracline's sensors follow runs this way: the lineage sensor turns each start and end
into the run's OpenLineage event; the approval sensor settles the training request of each
gated run that ended. Dagster keeps these status changes in its event log in storage order,
so a sensor that resumes from its cursor sees every change once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

import attrs
import dagster as dg

__all__ = ["ENDED", "STARTED", "RunChange", "run_changes", "to_iso"]

STARTED = (dg.DagsterEventType.RUN_START,)
ENDED = (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE,
         dg.DagsterEventType.RUN_CANCELED)
#: The OpenLineage event type of each Dagster run status change.
STATES = {
    dg.DagsterEventType.RUN_START: "START", dg.DagsterEventType.RUN_SUCCESS: "COMPLETE",
    dg.DagsterEventType.RUN_FAILURE: "FAIL", dg.DagsterEventType.RUN_CANCELED: "ABORT",
}
_BATCH = 200


def to_iso(timestamp: float) -> str:
    """A Unix time as an ISO 8601 UTC time."""
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat()


@attrs.frozen
class RunChange:
    """One run started or ended."""

    run: Any  # dagster.DagsterRun
    kind: dg.DagsterEventType
    timestamp: float
    message: str | None

    @property
    def state(self) -> str:
        """The OpenLineage event type: START, COMPLETE, FAIL or ABORT."""
        return STATES[self.kind]

    @property
    def succeeded(self) -> bool:
        """True for a run that ended successfully."""
        return self.kind == dg.DagsterEventType.RUN_SUCCESS

    def started_at(self, instance: dg.DagsterInstance) -> float | None:
        """When the run started (None if it never did)."""
        record = instance.get_run_record_by_id(self.run.run_id)
        return getattr(record, "start_time", None) if record is not None else None


def run_changes(instance: dg.DagsterInstance, kinds: Iterable[dg.DagsterEventType],
                cursor: Mapping[str, str]) -> tuple[list[RunChange], dict[str, str]]:
    """The run status changes of ``kinds`` after ``cursor``, oldest first, and the new cursor."""
    changes: list[RunChange] = []
    after = dict(cursor)
    for kind in kinds:
        result = instance.fetch_run_status_changes(kind, limit=_BATCH,
                                                   cursor=after.get(kind.value), ascending=True)
        after[kind.value] = result.cursor
        for record in result.records:
            entry = record.event_log_entry
            run = instance.get_run_by_id(entry.run_id)
            if run is None:
                continue
            event = entry.dagster_event
            message = getattr(event, "message", None) or entry.user_message or None
            changes.append(RunChange(run, kind, entry.timestamp, message))
    changes.sort(key=lambda c: c.timestamp)
    return changes, after
