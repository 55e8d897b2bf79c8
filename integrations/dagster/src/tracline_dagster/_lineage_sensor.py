"""``lineage_sensor``: each Dagster run as an OpenLineage run, the parent of its steps' runs.

The steps report themselves from inside the run (``@traced``); the run as a whole has no
code of its own in Dagster, so this sensor reports it after the fact from Dagster's event
log: a START when it started, a COMPLETE, FAIL or ABORT when it ended, with the times Dagster
recorded. The events go to tracline's outbox like the steps'.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import dagster as dg

from tracline.errors import ConfigError, TraclineError
from tracline_dagster import _lineage, _runs, _tags, compat
from tracline_dagster._resource import TraclineResource

__all__ = ["lineage_sensor"]

log = logging.getLogger("tracline_dagster")


def _approval(resource: TraclineResource, tags: dict[str, str]) -> dict[str, Any]:
    claim = _tags.claim_of(tags)
    if claim is None:
        return {}
    service = resource.requests()
    try:
        return {"tracline_approval": service.approval_facet(claim.request_id)}
    finally:
        service.close()


def report_runs(context: dg.SensorEvaluationContext, resource: TraclineResource
                ) -> tuple[int, dict[str, str]]:
    """Emit the run events of every run start and end after the cursor; the new cursor."""
    cursor = json.loads(context.cursor) if context.cursor else {}
    changes, after = _runs.run_changes(context.instance, (*_runs.STARTED, *_runs.ENDED), cursor)
    config = resource.tracline_config()
    for change in changes:
        run = change.run
        tags = dict(run.tags)
        facets = _approval(resource, tags) if change.state == "START" else {}
        _lineage.emit(config, _lineage.dagster_run_event(
            change.state, config=config, run_id=_tags.lineage_run_id(run.run_id, tags),
            job_name=compat.job_name(run.job_name), run_facets=facets,
            error=(change.message or "the run failed") if change.state == "FAIL" else None,
            event_time=_runs.to_iso(change.timestamp)))
    return len(changes), after


def lineage_sensor(*, name: str = "tracline_lineage", minimum_interval_seconds: int = 30,
                   resource_key: str = "tracline",
                   default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
                   ) -> dg.SensorDefinition:
    """A sensor that reports each Dagster run's start and end as OpenLineage events."""
    if not isinstance(minimum_interval_seconds, int) or minimum_interval_seconds < 1:
        raise ConfigError(f"lineage_sensor {name!r}: minimum_interval_seconds must be a whole "
                          f"number of seconds ≥ 1, got {minimum_interval_seconds!r}",
                          hint="e.g. minimum_interval_seconds=30")

    @dg.sensor(name=name, minimum_interval_seconds=minimum_interval_seconds,
               default_status=default_status, required_resource_keys={resource_key},
               description="tracline: reports each run's start and end as OpenLineage events "
               "(the parent of its steps' events).")
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        resource: TraclineResource = getattr(context.resources, resource_key)
        try:
            count, after = report_runs(context, resource)
        except TraclineError as e:  # lineage off for now: the cursor stays, nothing is lost
            log.warning("tracline: run events not reported: %s", e)
            return dg.SensorResult(skip_reason=f"tracline: run events not reported: {e}")
        return dg.SensorResult(skip_reason=f"tracline: reported {count} run start(s)/end(s)",
                               cursor=json.dumps(after, sort_keys=True))

    return _sensor
