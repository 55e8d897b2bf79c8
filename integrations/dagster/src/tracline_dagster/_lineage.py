"""The OpenLineage events of Dagster runs and steps, built by tracline's one event builder.

A Dagster run is one OpenLineage run (job: the Dagster job, run id: :func:`lineage_run_id`);
each op or asset step is a child run (job ``<dagster job>.<step key>``) whose ``parent`` facet
names it. Steps carry what capture observed: files with their digests, the recipe, the GPU
cost and, for a gated run, the approval. Events go to tracline's outbox, which delivers them
off the run's path.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import Mapping
from typing import Any

from tracline.capture import RunRecord
from tracline.config import Config
from tracline.delivery import Emitter
from tracline.events import ParentRun, record_artifacts, record_facets, run_event
from tracline_dagster import compat

__all__ = ["emit", "run_parent", "step_event"]

_emitters: dict[str, Emitter] = {}
_lock = threading.Lock()
ENGINE = ("dagster", compat.DAGSTER_VERSION)


def _forget() -> None:
    _emitters.clear()


os.register_at_fork(after_in_child=_forget)


def emit(config: Config, event: Any) -> None:
    """Commit ``event`` to the outbox of ``config`` (never raises; delivery runs off-path)."""
    key = str(config.outbox_path)
    with _lock:
        emitter = _emitters.get(key)
        if emitter is None:
            emitter = _emitters[key] = Emitter(config)
            atexit.register(emitter.close)
    emitter.emit(event)


def run_parent(config: Config, *, run_id: str, job_name: str) -> ParentRun:
    """The ``parent`` of a step: the Dagster run it belongs to."""
    return ParentRun(run_id=run_id, namespace=config.namespace, name=job_name)


def step_event(state: str, *, config: Config, run_id: str, job_name: str, parent: ParentRun,
               record: RunRecord | None = None, run_facets: Mapping[str, Any] | None = None,
               error: BaseException | str | None = None, event_time: str | None = None) -> Any:
    """A step's START (``record`` None) or COMPLETE / FAIL event."""
    facets = dict(run_facets or {})
    inputs, outputs = record_artifacts(record) if record is not None else ([], [])
    if record is not None:
        facets.update(record_facets(record))
    return run_event(
        state, run_id=run_id, job_name=job_name, namespace=config.namespace,
        inputs=inputs, outputs=outputs,
        run_facets=facets, parent=parent, job_type="TASK", integration="DAGSTER",
        engine=ENGINE, error=error, event_time=event_time,
    )


def dagster_run_event(state: str, *, config: Config, run_id: str, job_name: str,
                      run_facets: Mapping[str, Any] | None = None,
                      error: str | None = None, event_time: str | None = None) -> Any:
    """The START or COMPLETE / FAIL / ABORT event of a whole Dagster run."""
    return run_event(state, run_id=run_id, job_name=job_name, namespace=config.namespace,
                     run_facets=dict(run_facets or {}), job_type="JOB", integration="DAGSTER",
                     engine=ENGINE, error=error, event_time=event_time)
