"""Events from run records: a :class:`~tracline.record.RunRecord`'s facts as START,
COMPLETE or FAIL, and tracline's facets from facts (execution recipe, GPU cost).

Records reach this module at delivery, from the outbox (``tracline run`` stores its record
there without building anything), or from an integration that puts tracline's facets and
files on its orchestrator's own events.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
from openlineage.client.event_v2 import InputDataset, OutputDataset, RunEvent

from tracline.events._build import Artifact, run_event
from tracline.events._names import dataset_name
from tracline.events._serde import to_dict
from tracline.facets import (
    CodeVersion,
    Host,
    Interpreter,
    PackageRef,
    PackageSet,
    TaskCallable,
    TraclineExecutionRunFacet,
    TraclineGpuCostRunFacet,
    default_producer,
)
from tracline.record import FileRecord, RunRecord

if TYPE_CHECKING:
    from openlineage.client.facet_v2 import RunFacet

__all__ = [
    "execution_facet",
    "expand_record",
    "file_dataset",
    "gpu_cost_facet",
    "record_artifacts",
    "record_event",
    "record_facets",
]

_END_STATES = {"COMPLETE", "FAIL", "ABORT"}


def execution_facet(record: RunRecord, producer: str | None = None) -> TraclineExecutionRunFacet:
    """``tracline_execution``: the recipe the record observed."""
    packages = None
    if record.packages or record.package_digest:
        packages = PackageSet(lockDigest=record.package_digest, manager="python",
                              items=[PackageRef(name, version) for name, version in
                                     record.packages])
    return TraclineExecutionRunFacet(
        argv=[dataset_name(word) for word in record.argv],
        cwd=dataset_name(record.cwd),
        exitCode=record.exit_code,
        captureMode=record.capture_mode,
        code=CodeVersion(**record.code) if record.code else None,
        packages=packages,
        interpreter=Interpreter(**record.interpreter) if record.interpreter else None,
        host=Host(**record.host) if record.host else None,
        environment={k: dataset_name(v) for k, v in record.environment.items()} or None,
        callable=TaskCallable(**record.callable) if record.callable else None,
        producer=producer or record.producer or default_producer(),
    )


def gpu_cost_facet(fields: Mapping[str, Any],
                   producer: str | None = None) -> TraclineGpuCostRunFacet:
    """``tracline_gpuCost`` from its fields (as :func:`tracline.gpu.gpu_cost` gives them)."""
    return TraclineGpuCostRunFacet(**fields, producer=producer or default_producer())


def record_facets(record: RunRecord, producer: str | None = None) -> dict[str, RunFacet]:
    """The record's tracline run facets: ``tracline_execution`` and ``tracline_gpuCost``."""
    producer = producer or record.producer or default_producer()
    facets: dict[str, RunFacet] = {"tracline_execution": execution_facet(record, producer)}
    if record.gpu is not None:
        facets["tracline_gpuCost"] = gpu_cost_facet(record.gpu, producer)
    return facets


def _artifact(file: FileRecord) -> Artifact:
    return Artifact.file(file.path, file.digest, file.size, file.file_count, file.kind,
                         schema=file.schema)


def record_artifacts(record: RunRecord) -> tuple[list[Artifact], list[Artifact]]:
    """The files the record read and wrote, as ``run_event``'s ``inputs`` and ``outputs``."""
    return [_artifact(f) for f in record.inputs], [_artifact(f) for f in record.outputs]


def file_dataset(file: FileRecord, role: str,
                 producer: str | None = None) -> InputDataset | OutputDataset:
    """A file the record read (``role="input"``) or wrote (``"output"``) as a dataset."""
    artifact = _artifact(file)
    return artifact.as_input(producer) if role == "input" else artifact.as_output(producer)


def record_event(state: str, record: RunRecord, producer: str | None = None) -> RunEvent:
    """The record's START (its facts at the start) or COMPLETE / FAIL / ABORT event."""
    producer = producer or record.producer or default_producer()
    end = state in _END_STATES
    facets: dict[str, Any] = dict(record_facets(record, producer))
    if not end:
        facets.update(record.start_facets)
    inputs, outputs = record_artifacts(record) if end else ([], [])
    return run_event(
        state,
        run_id=record.run_id,
        job_name=record.job,
        namespace=record.namespace,
        inputs=inputs,
        outputs=outputs,
        run_facets=facets,
        error=record.error if state in ("FAIL", "ABORT") else None,
        event_time=(record.ended_at if end else None) or record.started_at,
        producer=producer,
    )


def expand_record(state: str, record_json: str, producer: str | None = None) -> dict[str, Any]:
    """The ``state`` event (as a dict) of a record stored as :meth:`RunRecord.to_json`:
    :func:`record_event`'s, its datasets written by :meth:`Artifact.to_dict`."""
    record = RunRecord.from_json(record_json)
    producer = producer or record.producer or default_producer()
    event = to_dict(record_event(state, attrs.evolve(record, inputs=[], outputs=[]), producer))
    if state in _END_STATES:
        inputs, outputs = record_artifacts(record)
        event["inputs"] = [a.to_dict("input", producer) for a in inputs]
        event["outputs"] = [a.to_dict("output", producer) for a in outputs]
    return event
