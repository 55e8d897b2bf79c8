"""The registry's read side: runs and artifacts by id, digest and name, in batches.

Every lookup takes many keys at once (one query per 500), so a lineage walk costs a few
queries per level whatever the size of the registry; each is served by an index.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager
from typing import Any, Protocol

import attrs
from sqlalchemy import Connection, select

from tracline.db import display_url
from tracline.errors import NotFound, ValidationError
from tracline.registry import _schema as t

__all__ = ["ArtifactRow", "LineageStore", "Lookups", "RunRow"]

#: Ids per ``IN (...)`` list, well under SQLite's and PostgreSQL's parameter limits.
_CHUNK = 500
#: The character after each hex digit in every collation (``9`` → ``a``, ``f`` → ``g``).
_NEXT_HEX = {**{c: chr(ord(c) + 1) for c in "012345678abcde"}, "9": "a", "f": "g"}


@attrs.frozen
class RunRow:
    """A run as the registry knows it."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started_at: str | None
    ended_at: str | None
    parent_run_id: str | None
    facets: dict[str, Any]


@attrs.frozen
class ArtifactRow:
    """A dataset a run read (``in``) or wrote (``out``), with its digest then."""

    run_id: str
    direction: str
    namespace: str
    name: str
    digest: str | None
    size: int | None
    file_count: int | None
    kind: str | None = None
    event_time: str | None = None


class LineageStore(Protocol):
    """What the lineage views ask of a store of runs and artifacts: the registry, or a view of
    another backend (Marquez) answering the same questions."""

    #: Where the answers come from, for messages.
    url: str

    def snapshot(self) -> AbstractContextManager[Any]: ...

    def runs_by_id(self, run_ids: Iterable[str], *, facets: bool = True,
                   ) -> dict[str, RunRow]: ...

    def io(self, run_id: str) -> list[ArtifactRow]: ...

    def io_of(self, run_ids: Iterable[str], direction: str | None = None,
              ) -> dict[str, list[ArtifactRow]]: ...

    def producing_runs(self, digests: Iterable[str],
                       ) -> dict[str, list[tuple[ArtifactRow, RunRow]]]: ...

    def sightings(self, digest: str, limit: int = 100) -> list[ArtifactRow]: ...

    def versions(self, name: str, namespace: str | None = None, limit: int = 50,
                 ) -> list[ArtifactRow]: ...

    def writes(self, names: Iterable[str], *, digestless: bool = False,
               ) -> dict[tuple[str, str], list[ArtifactRow]]: ...

    def has_digestless_writes(self) -> bool: ...

    def digests_starting(self, prefix: str, limit: int = 2) -> list[str]: ...


def _digest_in(digests: list[str]) -> Any:
    """``digest IN digests``, asked through the digest's indexed key."""
    c = t.run_io.c
    return c.digest_key.in_(sorted({t.digest_key(d) for d in digests})) & c.digest.in_(digests)


def _name_in(names: list[str]) -> Any:
    """``name IN names``, asked through the name's indexed key."""
    c = t.run_io.c
    return c.name_key.in_(sorted({t.name_key(n) for n in names})) & c.name.in_(names)


def _chunks(items: Iterable[str]) -> Iterator[list[str]]:
    unique = sorted(set(items))
    for i in range(0, len(unique), _CHUNK):
        yield unique[i : i + _CHUNK]


def _run_row(row: Any) -> RunRow:
    raw = row.get("facets")
    return RunRow(**{**row, "facets": json.loads(raw) if raw else {}})


class Lookups:
    """Queries over the index tables (mixed into :class:`~tracline.registry.Registry`)."""

    url: str

    def _tx(self) -> AbstractContextManager[Connection]:
        raise NotImplementedError

    # -- runs ----------------------------------------------------------------------------------

    def run(self, run_id: str) -> RunRow:
        """The run with this exact id; :class:`NotFound` if there is none."""
        with self._tx() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.run_id == run_id)).mappings().first()
        if row is None:
            raise NotFound(f"no run {run_id} in the registry at {display_url(self.url)}",
                           hint="check the id with `tracline outbox status` or list runs")
        return _run_row(row)

    def find_run(self, ref: str) -> RunRow:
        """The run whose id is ``ref``, or starts or ends with it (4+ characters, unambiguous)."""
        ref = ref.strip()
        if len(ref) < 4:
            raise ValidationError("run", f"{ref!r} is too short to name a run",
                                  hint="give the run id, or at least its first 8 characters")
        c = t.runs.c
        with self._tx() as conn:
            rows = conn.execute(
                select(t.runs).where(c.run_id.startswith(ref, autoescape=True)).limit(3)
            ).mappings().all()
            if not rows:  # the random tail shown in trees: a scan, fine for a command line
                rows = conn.execute(
                    select(t.runs).where(c.run_id.endswith(ref, autoescape=True)).limit(3)
                ).mappings().all()
        exact = [r for r in rows if r["run_id"] == ref]
        if exact or len(rows) == 1:
            return _run_row((exact or rows)[0])
        if not rows:
            raise NotFound(f"no run {ref} in the registry at {display_url(self.url)}",
                           hint="copy the run id from `tracline receipt` or `tracline trace`")
        raise ValidationError("run", f"{ref!r} matches several runs",
                              hint="give more characters of the run id")

    def runs(self, limit: int = 100) -> list[RunRow]:
        """The most recently started runs."""
        with self._tx() as conn:
            rows = conn.execute(
                select(t.runs).order_by(t.runs.c.started_at.desc()).limit(limit)
            ).mappings().all()
        return [_run_row(r) for r in rows]

    def children(self, run_id: str) -> list[RunRow]:
        """The runs whose parent run is ``run_id`` (a DAG run's task tries)."""
        with self._tx() as conn:
            rows = conn.execute(select(t.runs).where(t.runs.c.parent_run_id == run_id)
                                .order_by(t.runs.c.run_id)).mappings().all()
        return [_run_row(r) for r in rows]

    def runs_by_id(self, run_ids: Iterable[str], *, facets: bool = True) -> dict[str, RunRow]:
        """Runs by id, in one query per 500 ids; ``facets=False`` skips the facet documents."""
        columns = list(t.runs.c) if facets else [c for c in t.runs.c if c.name != "facets"]
        found: dict[str, RunRow] = {}
        with self._tx() as conn:
            for chunk in _chunks(run_ids):
                for row in conn.execute(
                    select(*columns).where(t.runs.c.run_id.in_(chunk))
                ).mappings():
                    found[row["run_id"]] = _run_row(row)
        return found

    # -- artifacts -----------------------------------------------------------------------------

    def io(self, run_id: str) -> list[ArtifactRow]:
        """What one run read and wrote."""
        return self.io_of([run_id]).get(run_id, [])

    def io_of(self, run_ids: Iterable[str], direction: str | None = None,
              ) -> dict[str, list[ArtifactRow]]:
        """What each run read (``in``), wrote (``out``) or both, ordered by direction and name."""
        c = t.run_io.c
        found: dict[str, list[ArtifactRow]] = {}
        with self._tx() as conn:
            for chunk in _chunks(run_ids):
                query = select(*t.RUN_IO_COLUMNS).where(c.run_id.in_(chunk))
                if direction is not None:
                    query = query.where(c.direction == direction)
                for row in conn.execute(query.order_by(c.direction, c.name)).mappings():
                    found.setdefault(row["run_id"], []).append(ArtifactRow(**row))
        return found

    def producers(self, digest: str) -> list[ArtifactRow]:
        """The runs that wrote content with this digest."""
        return self.producers_of([digest]).get(digest, [])

    def producers_of(self, digests: Iterable[str]) -> dict[str, list[ArtifactRow]]:
        """For each digest, the runs that wrote content with it."""
        c = t.run_io.c
        found: dict[str, list[ArtifactRow]] = {}
        with self._tx() as conn:
            for chunk in _chunks(digests):
                for row in conn.execute(select(*t.RUN_IO_COLUMNS).where(
                    _digest_in(chunk) & (c.direction == "out"))
                ).mappings():
                    found.setdefault(row["digest"], []).append(ArtifactRow(**row))
        return found

    def producing_runs(self, digests: Iterable[str],
                       ) -> dict[str, list[tuple[ArtifactRow, RunRow]]]:
        """For each digest, the writes of it with their runs (without facets), in one query."""
        io, runs = t.run_io.c, t.runs.c
        run_columns = [c.label(f"run_{c.name}") for c in t.runs.c if c.name != "facets"]
        query = (select(*t.RUN_IO_COLUMNS, *run_columns)
                 .join(t.runs, runs.run_id == io.run_id)
                 .where(io.direction == "out"))
        found: dict[str, list[tuple[ArtifactRow, RunRow]]] = {}
        with self._tx() as conn:
            for chunk in _chunks(digests):
                for row in conn.execute(query.where(_digest_in(chunk))).mappings():
                    artifact = ArtifactRow(**{c.name: row[c.name] for c in t.RUN_IO_COLUMNS})
                    run = RunRow(**{c.name: row[f"run_{c.name}"] for c in t.runs.c
                                    if c.name != "facets"}, facets={})
                    found.setdefault(artifact.digest or "", []).append((artifact, run))
        return found

    def sightings(self, digest: str, limit: int = 100) -> list[ArtifactRow]:
        """Every time a run read or wrote content with this digest, newest first."""
        c = t.run_io.c
        with self._tx() as conn:
            rows = conn.execute(
                select(*t.RUN_IO_COLUMNS).where(_digest_in([digest]))
                .order_by(c.event_time.desc()).limit(limit)
            ).mappings().all()
        return [ArtifactRow(**r) for r in rows]

    def versions(self, name: str, namespace: str | None = None, limit: int = 50,
                 ) -> list[ArtifactRow]:
        """The dataset ``name`` as runs read or wrote it, newest first."""
        c = t.run_io.c
        query = select(*t.RUN_IO_COLUMNS).where(_name_in([name]) & c.digest.is_not(None))
        if namespace is not None:
            query = query.where(c.namespace == namespace)
        with self._tx() as conn:
            rows = conn.execute(query.order_by(c.event_time.desc()).limit(limit)).mappings().all()
        return [ArtifactRow(**r) for r in rows]

    def last_writer(self, namespace: str, name: str, before: str | None = None,
                    ) -> ArtifactRow | None:
        """The latest write of a dataset by name, at or before ``before`` (an ISO time)."""
        c = t.run_io.c
        query = select(*t.RUN_IO_COLUMNS).where(
            _name_in([name]) & (c.namespace == namespace) & (c.direction == "out"))
        if before is not None:
            query = query.where(c.event_time <= before)
        with self._tx() as conn:
            row = conn.execute(query.order_by(c.event_time.desc()).limit(1)).mappings().first()
        return ArtifactRow(**row) if row else None

    def writes(self, names: Iterable[str], *, digestless: bool = False,
               ) -> dict[tuple[str, str], list[ArtifactRow]]:
        """Every write of each dataset name, oldest first (``digestless``: without a digest)."""
        c = t.run_io.c
        found: dict[tuple[str, str], list[ArtifactRow]] = {}
        with self._tx() as conn:
            for chunk in _chunks(names):
                query = select(*t.RUN_IO_COLUMNS).where(
                    _name_in(chunk) & (c.direction == "out"))
                if digestless:
                    query = query.where(c.digest.is_(None))
                for row in conn.execute(query.order_by(c.event_time)).mappings():
                    found.setdefault((row["namespace"], row["name"]), []).append(
                        ArtifactRow(**row))
        return found

    def has_digestless_writes(self) -> bool:
        """True when some run wrote a dataset without recording its digest."""
        c = t.run_io.c
        with self._tx() as conn:
            return conn.execute(select(c.run_id).where(
                c.digest_key.is_(None) & c.digest.is_(None) & (c.direction == "out")
            ).limit(1)).first() is not None

    def digests_starting(self, prefix: str, limit: int = 2) -> list[str]:
        """Distinct known digests that start with ``prefix`` (``algorithm:hex``)."""
        hex_part = prefix.partition(":")[2]
        if not hex_part or any(ch not in _NEXT_HEX for ch in hex_part):
            raise ValidationError("digest", f"{prefix!r} is not a digest prefix",
                                  hint="write it as blake3:<hex> (at least 8 hex digits)")
        upper = prefix[:-1] + _NEXT_HEX[prefix[-1]]
        c = t.run_io.c
        query = select(c.digest).where((c.digest >= prefix) & (c.digest < upper)
                                       & c.digest.startswith(prefix, autoescape=True))
        if len(hex_part) >= 8:  # every digest with this prefix has its key
            query = query.where(c.digest_key == t.digest_key(prefix))
        query = query.distinct().limit(limit)
        with self._tx() as conn:
            return [r[0] for r in conn.execute(query)]
