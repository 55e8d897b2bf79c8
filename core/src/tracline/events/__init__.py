"""The one place that builds OpenLineage events and facets, and the one that serializes them.

    from tracline.events import Artifact, run_event, to_json

    event = run_event("COMPLETE", run_id=new_run_id(), job_name="train", namespace="ml",
                      inputs=[Artifact.file("/data/raw.csv", digest, size)])
    to_json(event)                       # openlineage-python's Serde, keys sorted
    canonical_json(to_dict(event))       # what the registry stores and keys it by

Events are openlineage-python objects (``openlineage.client.event_v2``) carrying tracline's
facets (:mod:`tracline.facets`); :func:`record_event` builds them from a run's record of facts
(:class:`tracline.record.RunRecord`), which is how `tracline run`'s records become events when
the outbox delivers them. :func:`dataset_name` is how a file path becomes a dataset name
(paths that are not valid UTF-8 included).

Names load on first use: the dataset-name functions need nothing but the standard library,
while the builder imports openlineage-python.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from tracline.events._build import (
        Artifact,
        ParentRun,
        RunState,
        error_facet,
        new_run_id,
        run_event,
        utcnow,
    )
    from tracline.events._canonical import canonical_json
    from tracline.events._names import dataset_name, path_bytes, path_of
    from tracline.events._record import (
        execution_facet,
        expand_record,
        file_dataset,
        gpu_cost_facet,
        record_artifacts,
        record_event,
        record_facets,
    )
    from tracline.events._serde import to_dict, to_json

#: Public name -> the module defining it.
_EXPORTS = {
    "Artifact": "_build", "ParentRun": "_build", "RunState": "_build",
    "canonical_json": "_canonical",
    "dataset_name": "_names", "error_facet": "_build", "execution_facet": "_record",
    "expand_record": "_record", "file_dataset": "_record", "gpu_cost_facet": "_record",
    "new_run_id": "_build", "path_bytes": "_names", "path_of": "_names",
    "record_artifacts": "_record", "record_event": "_record", "record_facets": "_record",
    "run_event": "_build",
    "to_dict": "_serde", "to_json": "_serde", "utcnow": "_build",
}

__all__ = [
    "Artifact",
    "ParentRun",
    "RunState",
    "canonical_json",
    "dataset_name",
    "error_facet",
    "execution_facet",
    "expand_record",
    "file_dataset",
    "gpu_cost_facet",
    "new_run_id",
    "path_bytes",
    "path_of",
    "record_artifacts",
    "record_event",
    "record_facets",
    "run_event",
    "to_dict",
    "to_json",
    "utcnow",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"tracline.events.{module}"), name)
    globals()[name] = value
    return value
