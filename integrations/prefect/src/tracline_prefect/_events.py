"""Prefect's runs as OpenLineage runs, built by tracline's one event builder.

* a flow run is a run of the job named after the flow (``jobType`` ``FLOW``), its runId the
  flow run's id; a subflow run names the flow run that called it as its parent;
* a task run is a run of ``<flow>.<task>`` (``jobType`` ``TASK``), its runId the task run's
  id, its parent the flow run; it carries the files it read and wrote (content-hashed), the
  execution and GPU-cost facets of its capture, and, under an approval, ``tracline_approval``.

Events go through tracline's outbox (:func:`tracline.emit`): committed locally first,
delivered off the flow's path, so a lineage backend that is down never fails a flow.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracline.config import Config
from tracline.delivery import emit
from tracline.events import ParentRun, record_artifacts, record_facets, run_event
from tracline_prefect.compat import PREFECT_VERSION

__all__ = ["FLOW", "TASK", "emit_run", "flow_parent", "task_job"]

FLOW, TASK = "FLOW", "TASK"
_ENGINE = ("prefect", PREFECT_VERSION)


def task_job(flow_name: str, task_name: str) -> str:
    """The OpenLineage job name of a task of a flow: ``<flow>.<task>``."""
    return f"{flow_name}.{task_name}"


def flow_parent(config: Config, flow_run_id: str, flow_name: str,
                root: tuple[str, str] | None = None) -> ParentRun:
    """The parent facet naming a flow run (and the root flow run of a subflow)."""
    return ParentRun(run_id=flow_run_id, namespace=config.namespace, name=flow_name,
                     root_run_id=root[0] if root else None, root_name=root[1] if root else None)


def emit_run(state: str, *, config: Config, run_id: str, job: str, job_type: str,
             parent: ParentRun | None = None, record: Any | None = None,
             run_facets: Mapping[str, Any] | None = None, error: str | None = None,
             event_time: str | None = None) -> None:
    """Build one event of a Prefect run and commit it to the outbox (never raises for
    delivery: the outbox takes it or logs why not)."""
    facets = dict(run_facets or {})
    inputs: list[Any] = []
    outputs: list[Any] = []
    if record is not None:
        facets.update(record_facets(record))
        inputs, outputs = record_artifacts(record)
    event = run_event(state, run_id=run_id, job_name=job, namespace=config.namespace,
                      inputs=inputs, outputs=outputs, run_facets=facets, parent=parent,
                      job_type=job_type, integration="PREFECT", engine=_ENGINE, error=error,
                      event_time=event_time)
    emit(event)
