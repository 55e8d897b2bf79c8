"""Marquez as a lineage store: the questions trace and receipt ask, answered from Marquez.

It fetches on demand and keeps what it fetched for the life of the object (one question):
a dataset's writers (its versions' ``createdByRun``, or the runs of the jobs with an edge into
it), each run (facets, and the dataset versions it read and wrote, whose facets carry the
digests). Content asked for by digest alone is found in Marquez's raw events, newest first,
up to ``[marquez] scan_events``. The lineage walk and the choice of run are the registry's own
(:mod:`tracline.lineage`), so both stores give the same answers for the same events.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any

from tracline._urls import display_url
from tracline.marquez import _parse
from tracline.marquez._client import MarquezClient
from tracline.marquez._settings import MarquezSettings
from tracline.registry import ArtifactRow, RunRow

__all__ = ["MarquezStore"]

Dataset = tuple[str, str]


class MarquezStore:
    """A :class:`tracline.registry.LineageStore` over one Marquez."""

    def __init__(self, settings: MarquezSettings, client: MarquezClient | None = None) -> None:
        self.client = client or MarquezClient(settings)
        self.settings = settings
        self.url = f"Marquez at {display_url(self.client.url)}"
        self._runs: dict[str, RunRow] = {}
        self._io: dict[str, list[ArtifactRow]] = {}
        self._writers_loaded: set[Dataset] = set()
        #: version UUID -> facets, per dataset
        self._versions: dict[Dataset, dict[str, dict[str, Any]]] = {}
        #: the versions list Marquez gave, per dataset
        self._listed: dict[Dataset, list[dict[str, Any]]] = {}
        #: where each digest was seen: the datasets whose writers answer for it
        self._seen: dict[str, set[Dataset]] = {}
        self._scanned: set[str] = set()

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[MarquezStore]:
        """Nothing to pin: answers are cached for the life of this object."""
        yield self

    # -- loading -------------------------------------------------------------------------------

    def _version_facets(self, dataset: Dataset, version: str | None) -> dict[str, Any] | None:
        known = self._load_versions(dataset)
        if version is None:
            return None
        if version not in known:
            answer = self.client.dataset_version(*dataset, version) or {}
            known[version] = dict(answer.get("facets") or {})
        return known[version]

    def _load_versions(self, dataset: Dataset) -> dict[str, dict[str, Any]]:
        if dataset not in self._versions:
            self._versions[dataset] = {}
            listed = self.client.dataset_versions(*dataset)
            self._listed[dataset] = listed
            for item in listed:
                facets = dict(item.get("facets") or {})
                for version in (item.get("version"), (item.get("id") or {}).get("version")):
                    if version:
                        self._versions[dataset][str(version)] = facets
        return self._versions[dataset]

    def _load_run(self, run_id: str, found: dict[str, Any] | None = None,
                  job: tuple[str, str] | None = None) -> RunRow | None:
        if run_id in self._runs:
            return self._runs[run_id]
        answer = found if found is not None and "facets" in found else self.client.run(run_id)
        if answer is None:
            return None
        row = _parse.run_row(answer, job)
        rows: list[ArtifactRow] = []
        for key, direction in (("inputDatasetVersions", "in"), ("outputDatasetVersions", "out")):
            for namespace, name, version in _parse.run_datasets(answer, key):
                facets = self._version_facets((namespace, name), version)
                item = _parse.artifact_row(row, direction, namespace, name, facets)
                rows.append(item)
                if item.digest:
                    self._seen.setdefault(item.digest, set()).add((namespace, name))
        self._runs[run_id] = row
        self._io[run_id] = sorted(rows, key=lambda r: (r.direction, r.name))
        return row

    def _load_writers(self, dataset: Dataset) -> None:
        """Every run Marquez says wrote ``dataset`` (its latest 100 versions' runs)."""
        if dataset in self._writers_loaded:
            return
        self._writers_loaded.add(dataset)
        self._load_versions(dataset)
        made_by = [v.get("createdByRun") or {} for v in self._listed.get(dataset, [])]
        run_ids = {str(run["id"]) for run in made_by if run.get("id")}
        for run_id in sorted(run_ids):
            self._load_run(run_id)
        if run_ids:
            return
        # No version names its run: the runs of the jobs with an edge into the dataset.
        graph = self.client.lineage(f"dataset:{dataset[0]}:{dataset[1]}", depth=1)
        for job in _parse.writer_jobs(graph, *dataset):
            for run in self.client.job_runs(*job):
                outputs = {(ns, name) for ns, name, _ in
                           _parse.run_datasets(run, "outputDatasetVersions")}
                if dataset in outputs:
                    self._load_run(str(run["id"]), run, job)

    def _find(self, digest: str, *, prefix: bool = False) -> None:
        """Look for content by digest in Marquez's raw events, newest first (bounded)."""
        if digest in self._scanned:
            return
        self._scanned.add(digest)
        offset, page = 0, 200
        while offset < self.settings.scan_events:
            events = self.client.events(limit=page, offset=offset)
            for namespace, name, found in _parse.event_datasets(events, digest, prefix=prefix):
                self._seen.setdefault(found, set()).add((namespace, name))
            if any(d.startswith(digest) if prefix else d == digest for d in self._seen) \
                    or len(events) < page:
                return
            offset += page

    def _datasets_of(self, digest: str) -> set[Dataset]:
        if digest not in self._seen:
            self._find(digest)
        for dataset in list(self._seen.get(digest, ())):
            self._load_writers(dataset)
        return self._seen.get(digest, set())

    def _rows(self) -> Iterator[ArtifactRow]:
        for rows in self._io.values():
            yield from rows

    def datasets_named(self, name: str, namespace: str | None = None) -> list[Dataset]:
        """The datasets of that name this store knows of (``file`` when asked for a path)."""
        known = {(r.namespace, r.name) for r in self._rows() if r.name == name}
        if namespace is not None:
            known.add((namespace, name))
        return sorted(d for d in known if namespace is None or d[0] == namespace)

    # -- LineageStore ----------------------------------------------------------------------------

    def runs_by_id(self, run_ids: Iterable[str], *, facets: bool = True) -> dict[str, RunRow]:
        found = {}
        for run_id in run_ids:
            row = self._load_run(run_id)
            if row is not None:
                found[run_id] = row
        return found

    def io(self, run_id: str) -> list[ArtifactRow]:
        return self.io_of([run_id]).get(run_id, [])

    def io_of(self, run_ids: Iterable[str], direction: str | None = None,
              ) -> dict[str, list[ArtifactRow]]:
        found: dict[str, list[ArtifactRow]] = {}
        for run_id in run_ids:
            if self._load_run(run_id) is None:
                continue
            rows = [r for r in self._io[run_id] if direction is None or r.direction == direction]
            if rows:
                found[run_id] = rows
        return found

    def producing_runs(self, digests: Iterable[str],
                       ) -> dict[str, list[tuple[ArtifactRow, RunRow]]]:
        found: dict[str, list[tuple[ArtifactRow, RunRow]]] = {}
        for digest in set(digests):
            self._datasets_of(digest)
            for row in self._rows():
                if row.direction == "out" and row.digest == digest:
                    run = self._runs[row.run_id]
                    found.setdefault(digest, []).append((row, run))
        return found

    def sightings(self, digest: str, limit: int = 100) -> list[ArtifactRow]:
        self._datasets_of(digest)
        rows = [r for r in self._rows() if r.digest == digest]
        return sorted(rows, key=lambda r: r.event_time or "", reverse=True)[:limit]

    def versions(self, name: str, namespace: str | None = None, limit: int = 50,
                 ) -> list[ArtifactRow]:
        for dataset in self.datasets_named(name, namespace or "file"):
            self._load_writers(dataset)
        rows = [r for r in self._rows() if r.name == name and r.digest
                and (namespace is None or r.namespace == namespace)]
        return sorted(rows, key=lambda r: r.event_time or "", reverse=True)[:limit]

    def writes(self, names: Iterable[str], *, digestless: bool = False,
               ) -> dict[tuple[str, str], list[ArtifactRow]]:
        wanted = set(names)
        for name in wanted:
            for dataset in self.datasets_named(name):
                self._load_writers(dataset)
        found: dict[tuple[str, str], list[ArtifactRow]] = {}
        for row in sorted(self._rows(), key=lambda r: r.event_time or ""):
            if row.direction == "out" and row.name in wanted and (
                    not digestless or row.digest is None):
                found.setdefault((row.namespace, row.name), []).append(row)
        return found

    def has_digestless_writes(self) -> bool:
        return any(r.direction == "out" and r.digest is None for r in self._rows())

    def digests_starting(self, prefix: str, limit: int = 2) -> list[str]:
        self._find(prefix, prefix=True)
        return sorted(d for d in self._seen if d.startswith(prefix))[:limit]

    def close(self) -> None:
        """Nothing to release (HTTP connections are per request)."""
