"""Marquez 0.50's JSON answers as tracline's rows (pure functions, tested on recorded answers).

Marquez keeps runs, jobs and dataset *versions*; tracline's facts ride on them as facets it
stores unchanged: a run's ``facets`` hold ``tracline_execution``, ``tracline_gpuCost``,
``tracline_approval`` and ``parent``; a dataset version's ``facets`` hold
``tracline_contentHash`` and ``version`` (the digest). A run names the dataset versions it
read and wrote by Marquez's version UUID, so digests come from those versions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from tracline.registry import ArtifactRow, RunRow

__all__ = [
    "DatasetRef",
    "artifact_row",
    "dataset_fields",
    "event_datasets",
    "iso",
    "run_datasets",
    "run_row",
    "version_content",
    "writer_jobs",
]

#: Marquez's run states as OpenLineage event types (what the registry keeps).
STATES = {"COMPLETED": "COMPLETE", "FAILED": "FAIL", "ABORTED": "ABORT", "RUNNING": "START",
          "NEW": "START"}

#: (namespace, name, Marquez version UUID or None)
DatasetRef = tuple[str, str, str | None]


def iso(text: str | None) -> str | None:
    """A Marquez timestamp (``...Z``) as Python writes it (``...+00:00``), for comparisons."""
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).isoformat()
    except ValueError:
        return text


def run_row(run: Mapping[str, Any], job: tuple[str, str] | None = None) -> RunRow:
    """A run (``GET /api/v1/jobs/runs/{id}``, or a job's run list) as the registry's row."""
    facets = dict(run.get("facets") or {})
    version = run.get("jobVersion") or {}
    namespace = version.get("namespace") or (job[0] if job else "")
    name = version.get("name") or (job[1] if job else "")
    parent_facet = facets.get("parent") or {}
    parent = (parent_facet.get("run") or {}).get("runId")
    parent_job = (parent_facet.get("job") or {}).get("name")
    if parent_job and not name.startswith(f"{parent_job}."):
        # Marquez keeps a child job under its parent by its simple name: it strips exactly the
        # parent's name and a dot from the event's job name (``dag.task`` -> ``task``), and some
        # of its views show that simple name. The event's name is the parent's name, a dot,
        # and it (a name that never began with its parent's is not told apart).
        name = f"{parent_job}.{name}"
    return RunRow(run_id=str(run["id"]), job_namespace=namespace, job_name=name,
                  state=STATES.get(str(run.get("state")), str(run.get("state"))),
                  started_at=iso(run.get("startedAt")), ended_at=iso(run.get("endedAt")),
                  parent_run_id=parent, facets=facets)


def run_datasets(run: Mapping[str, Any], key: str) -> list[DatasetRef]:
    """The dataset versions a run read (``inputDatasetVersions``) or wrote (``output...``)."""
    refs: list[DatasetRef] = []
    for item in run.get(key) or []:
        ident = item.get("datasetVersionId") or {}
        if ident.get("namespace") and ident.get("name"):
            refs.append((ident["namespace"], ident["name"], ident.get("version")))
    return refs


def version_content(facets: Mapping[str, Any] | None) -> dict[str, Any]:
    """Digest, size, file count and kind from a dataset's (or version's) facets."""
    facets = facets or {}
    content = facets.get("tracline_contentHash") or {}
    digest = content.get("digest") or (facets.get("version") or {}).get("datasetVersion")
    if digest and ":" not in digest and content.get("algorithm"):
        digest = f"{content['algorithm']}:{digest}"
    return {"digest": digest, "size": content.get("size"),
            "file_count": content.get("fileCount"), "kind": content.get("kind")}


def artifact_row(run: RunRow, direction: str, namespace: str, name: str,
                 facets: Mapping[str, Any] | None) -> ArtifactRow:
    """What ``run`` read or wrote, with the content facts its dataset version carries."""
    when = run.ended_at if direction == "out" else (run.started_at or run.ended_at)
    return ArtifactRow(run_id=run.run_id, direction=direction, namespace=namespace, name=name,
                       event_time=when, **version_content(facets))


def writer_jobs(graph: Mapping[str, Any], namespace: str, name: str) -> list[tuple[str, str]]:
    """The jobs with an edge into ``dataset:namespace:name`` in a lineage graph answer."""
    node = f"dataset:{namespace}:{name}"
    jobs: list[tuple[str, str]] = []
    for item in graph.get("graph") or []:
        if item.get("id") != node:
            continue
        for edge in item.get("inEdges") or []:
            origin = str(edge.get("origin", ""))
            if origin.startswith("job:"):
                job_ns, _, job_name = origin[len("job:"):].partition(":")
                jobs.append((job_ns, job_name))
    return jobs


def event_datasets(events: Iterable[Mapping[str, Any]], digest: str, *, prefix: bool = False,
                   ) -> Iterator[tuple[str, str, str]]:
    """(namespace, name, digest) of every dataset in raw events whose content digest is
    ``digest`` (or starts with it, ``prefix``) — how content is found by digest alone."""
    for event in events:
        for dataset in [*(event.get("outputs") or []), *(event.get("inputs") or [])]:
            found = version_content(dataset.get("facets")).get("digest")
            if found and (found.startswith(digest) if prefix else found == digest):
                yield dataset["namespace"], dataset["name"], found


def dataset_fields(dataset: Mapping[str, Any]) -> list[tuple[str, str | None]]:
    """A dataset's columns as Marquez shows them (``fields``, from the ``schema`` facet)."""
    return [(str(f["name"]), f.get("type")) for f in dataset.get("fields") or [] if "name" in f]
