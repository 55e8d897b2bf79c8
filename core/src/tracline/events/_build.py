"""Build OpenLineage run events with tracline's facets (openlineage-python's classes).

A run is a START and one of COMPLETE / FAIL / ABORT with the same ``runId``. Every event
carries the standard ``processing_engine`` run facet and ``jobType`` job facet (Marquez needs
the latter in practice); a task's events carry a ``parent`` facet naming its DAG/flow/job run.
Datasets carry the standard ``version`` facet set to their content digest, so Marquez versions
them by content, plus ``tracline_contentHash``, and tabular files the standard ``schema`` facet.
Every facet built here carries tracline's producer (``Config.producer``) unless the caller
names another.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import traceback
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import (
    DatasetFacet,
    JobFacet,
    RunFacet,
    dataset_version_dataset,
    error_message_run,
    job_type_job,
    parent_run,
    processing_engine_run,
    schema_dataset,
)
from openlineage.client.uuid import generate_new_uuid

from tracline._version import __version__
from tracline.events._names import dataset_name
from tracline.facets import TraclineContentHashDatasetFacet, default_producer

__all__ = [
    "Artifact",
    "ParentRun",
    "RunState",
    "error_facet",
    "new_run_id",
    "run_event",
    "utcnow",
]


def new_run_id() -> str:
    """A new time-ordered (UUIDv7) run id, as OpenLineage recommends."""
    return str(generate_new_uuid())


def utcnow() -> str:
    """The current time as an ISO-8601 UTC timestamp."""
    return dt.datetime.now(dt.UTC).isoformat()


@attrs.frozen
class Artifact:
    """A dataset as OpenLineage names it, plus the digest of its content at that moment."""

    namespace: str
    name: str
    digest: str | None = None
    size: int | None = None
    file_count: int = 1
    kind: str | None = None
    #: The columns of a tabular dataset, (name, type): the standard ``schema`` facet.
    schema: Sequence[tuple[str, str]] | None = None

    @classmethod
    def file(
        cls,
        path: str | bytes,
        digest: str | None = None,
        size: int | None = None,
        file_count: int = 1,
        kind: str | None = None,
        *,
        schema: Sequence[tuple[str, str]] | None = None,
    ) -> Artifact:
        """A local file or directory: namespace ``file``, name the absolute path (a path that
        is not valid UTF-8 is named as :func:`~tracline.events.dataset_name` says)."""
        return cls("file", dataset_name(path), digest, size, file_count, kind, schema)

    def facets(self, producer: str | None = None) -> dict[str, DatasetFacet]:
        """``schema`` for a tabular dataset; ``version`` and ``tracline_contentHash`` when the
        digest is known."""
        facets: dict[str, DatasetFacet] = {}
        producer = producer or default_producer()
        if self.schema:
            facets["schema"] = schema_dataset.SchemaDatasetFacet(
                fields=[schema_dataset.SchemaDatasetFacetFields(name=n, type=t, fields=None)
                        for n, t in self.schema],
                producer=producer,
            )
        if self.digest:
            facets["version"] = dataset_version_dataset.DatasetVersionDatasetFacet(
                datasetVersion=self.digest, producer=producer
            )
            facets["tracline_contentHash"] = TraclineContentHashDatasetFacet(
                algorithm=self.digest.split(":", 1)[0],
                digest=self.digest,
                size=self.size or 0,
                fileCount=self.file_count,
                kind=self.kind,  # type: ignore[arg-type]
                producer=producer,
            )
        return facets

    def to_dict(self, role: str, producer: str | None = None) -> dict[str, Any]:
        """The dataset as JSON: what :func:`~tracline.events.to_dict` makes of
        :meth:`as_input` (``role="input"``) or :meth:`as_output` (``"output"``), written
        directly. A run's COMPLETE event holds a dataset per file; building four
        openlineage-python objects per file and walking them again was most of what building a
        big run's event cost at delivery (4,015 files: 35 -> 5 ms). A test holds the two
        equal for every kind of artifact."""
        producer = producer or default_producer()
        facets: dict[str, Any] = {}
        if self.schema:
            facets["schema"] = {"_producer": producer, "_schemaURL": _SCHEMA_URLS["schema"],
                                "fields": [{"name": n, "type": t} for n, t in self.schema]}
        if self.digest:
            facets["version"] = {"_producer": producer, "_schemaURL": _SCHEMA_URLS["version"],
                                 "datasetVersion": self.digest}
            content = facets["tracline_contentHash"] = {
                "_producer": producer, "_schemaURL": _SCHEMA_URLS["tracline_contentHash"],
                "algorithm": self.digest.split(":", 1)[0], "digest": self.digest,
                "size": self.size or 0, "fileCount": self.file_count}
            if self.kind is not None:
                content["kind"] = self.kind
        own = "inputFacets" if role == "input" else "outputFacets"
        return {"namespace": self.namespace, "name": self.name, "facets": facets, own: {}}

    def as_input(self, producer: str | None = None) -> InputDataset:
        return InputDataset(namespace=self.namespace, name=self.name,
                            facets=self.facets(producer))

    def as_output(self, producer: str | None = None) -> OutputDataset:
        return OutputDataset(namespace=self.namespace, name=self.name,
                             facets=self.facets(producer))


#: The schema URL of each dataset facet :meth:`Artifact.to_dict` writes (the classes' own).
_SCHEMA_URLS = {
    "schema": schema_dataset.SchemaDatasetFacet._get_schema(),
    "version": dataset_version_dataset.DatasetVersionDatasetFacet._get_schema(),
    "tracline_contentHash": TraclineContentHashDatasetFacet._get_schema(),
}


@attrs.frozen
class ParentRun:
    """The run this run belongs to (a DAG run for a task), and optionally the root run."""

    run_id: str
    namespace: str
    name: str
    root_run_id: str | None = None
    root_namespace: str | None = None
    root_name: str | None = None

    def facet(self, producer: str | None = None) -> parent_run.ParentRunFacet:
        root = None
        if self.root_run_id and self.root_name:
            root = parent_run.Root(
                run=parent_run.RootRun(runId=self.root_run_id),
                job=parent_run.RootJob(
                    namespace=self.root_namespace or self.namespace, name=self.root_name
                ),
            )
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=self.run_id),
            job=parent_run.Job(namespace=self.namespace, name=self.name),
            root=root,
            producer=producer or default_producer(),
        )


def error_facet(error: BaseException | str,
                producer: str | None = None) -> error_message_run.ErrorMessageRunFacet:
    """The standard ``errorMessage`` facet for an exception (or a message)."""
    if isinstance(error, BaseException):
        message = f"{type(error).__name__}: {error}"
        stack = "".join(traceback.format_exception(error))
    else:
        message, stack = error, None
    return error_message_run.ErrorMessageRunFacet(
        message=message, programmingLanguage="python", stackTrace=stack,
        producer=producer or default_producer(),
    )


def run_event(
    state: RunState | str,
    *,
    run_id: str,
    job_name: str,
    namespace: str,
    inputs: Iterable[Artifact] = (),
    outputs: Iterable[Artifact] = (),
    run_facets: Mapping[str, RunFacet | dict[str, Any]] | None = None,
    job_facets: Mapping[str, JobFacet] | None = None,
    parent: ParentRun | None = None,
    job_type: str = "JOB",
    integration: str = "TRACLINE",
    processing_type: str = "BATCH",
    engine: tuple[str, str] | None = None,
    error: BaseException | str | None = None,
    event_time: str | None = None,
    producer: str | None = None,
) -> RunEvent:
    """One OpenLineage ``RunEvent`` for a run's transition, with tracline's standard facets.

    ``engine`` is ``(name, version)`` of the system that ran the job (e.g. ``("Airflow",
    "3.3.2")``); it defaults to tracline itself. ``run_facets`` may hold facets already
    serialized (dicts), e.g. an approval facet a caller kept; they are sent as they are.
    """
    state = RunState(state) if isinstance(state, str) else state
    producer = producer or default_producer()
    name, version = engine or ("tracline", __version__)
    facets: dict[str, Any] = {
        "processing_engine": processing_engine_run.ProcessingEngineRunFacet(
            version=version, name=name, openlineageAdapterVersion=__version__, producer=producer
        ),
    }
    if parent is not None:
        facets["parent"] = parent.facet(producer)
    if error is not None:
        facets["errorMessage"] = error_facet(error, producer)
    facets.update(run_facets or {})
    jfacets: dict[str, JobFacet] = {
        "jobType": job_type_job.JobTypeJobFacet(
            processingType=processing_type,
            integration=integration,
            jobType=job_type,
            producer=producer,
        ),
    }
    jfacets.update(job_facets or {})
    with _producer_checked_by_the_event():
        datasets = ([a.as_input(producer) for a in inputs],
                    [a.as_output(producer) for a in outputs])
    return RunEvent(
        eventType=state,
        eventTime=event_time or utcnow(),
        run=Run(runId=run_id, facets=facets),
        job=Job(namespace=namespace, name=job_name, facets=jfacets),
        inputs=datasets[0],
        outputs=datasets[1],
        producer=producer,
    )


@contextlib.contextmanager
def _producer_checked_by_the_event() -> Iterator[None]:
    """Build the datasets without attrs validators, when this process runs no other thread.

    The only validators of a dataset and its facets are openlineage-python's facet-base checks
    that the producer and the schema URL parse as URLs (``urlparse``), three per facet: for a
    run's thousands of files, most of what building its event costs. Here every facet's
    producer is the event's, which the ``RunEvent`` built right after checks the same way, and
    the schema URLs are the facet classes' own. attrs' switch is process-wide, so it is turned
    off only when no other thread could build objects meanwhile (the long-lived deliverer, a
    flush from the command line), and put back as it was.
    """
    if threading.active_count() != 1 or attrs.validators.get_disabled():
        yield
        return
    attrs.validators.set_disabled(True)
    try:
        yield
    finally:
        attrs.validators.set_disabled(False)
