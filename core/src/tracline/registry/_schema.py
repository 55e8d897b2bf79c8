"""The registry's tables (SQLAlchemy Core): every event, and an index built from them."""

from __future__ import annotations

import zlib
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
)
from sqlalchemy.types import TypeEngine

metadata = MetaData()

#: Bumped whenever a table, column or index is added; stored in ``registry_meta``.
SCHEMA_VERSION = 3

#: Facts about the registry itself (its schema version).
meta = Table(
    "registry_meta",
    metadata,
    Column("key", String(32), primary_key=True),
    Column("value", Text, nullable=False),
)

#: Every event the registry took, once (keyed by the digest of its canonical JSON).
events = Table(
    "lineage_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_key", String(80), nullable=False, unique=True),
    Column("run_id", String(64), nullable=False),
    Column("event_type", String(16), nullable=False),
    Column("event_time", String(40), nullable=False),
    Column("job_namespace", Text, nullable=False),
    Column("job_name", Text, nullable=False),
    Column("payload", Text, nullable=False),
    Index("ix_lineage_events_run", "run_id"),
)

#: One row per run: its latest state and the merged run facets.
runs = Table(
    "runs",
    metadata,
    Column("run_id", String(64), primary_key=True),
    Column("job_namespace", Text, nullable=False),
    Column("job_name", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("started_at", String(40)),
    Column("ended_at", String(40)),
    Column("parent_run_id", String(64)),
    Column("facets", Text, nullable=False, default="{}"),
    Index("ix_runs_job", "job_namespace", "job_name"),
    Index("ix_runs_parent", "parent_run_id"),
    Index("ix_runs_started", "started_at"),
)

#: What each run read and wrote, with the content digest at that moment. Its indices serve the
#: lineage queries: a run's inputs (the primary key), the runs that read or wrote a digest
#: (``digest_key``) and the versions of a dataset by name (``name_key``). Those two are small
#: integer keys of the digest and the name (:func:`digest_key`, :func:`name_key`), always asked
#: together with the text itself: indices of the texts (80 and ~100 bytes an entry) took a page
#: of their own per dataset of a big run once they outgrew the cache — most of what ingesting a
#: 4,000-file run cost on a grown registry, and growing with it.
run_io = Table(
    "run_io",
    metadata,
    Column("run_id", String(64), nullable=False),
    Column("direction", String(3), nullable=False),  # "in" | "out"
    Column("namespace", Text, nullable=False),
    Column("name", Text, nullable=False),
    Column("digest", String(80)),
    Column("size", BigInteger),
    Column("file_count", Integer),
    Column("kind", String(16)),
    Column("event_time", String(40)),
    Column("name_key", BigInteger),
    Column("digest_key", BigInteger),
    PrimaryKeyConstraint("run_id", "direction", "namespace", "name"),
    Index("ix_run_io_digest_key", "digest_key"),
    Index("ix_run_io_name_key", "name_key"),
)

#: ``run_io``'s columns as lookups return them (its keys are the index's business).
RUN_IO_COLUMNS = tuple(c for c in run_io.c if not c.name.endswith("_key"))

_HEX = frozenset("0123456789abcdef")


def name_key(name: str) -> int:
    """The indexed key of a dataset name: its CRC-32."""
    return zlib.crc32(name.encode("utf-8", "surrogatepass"))


def digest_key(digest: str | None) -> int | None:
    """The indexed key of a digest: the number its first 8 hex digits after ``algorithm:``
    write (so that every digest starting with a prefix of 8 or more digits shares the
    prefix's key), or the text's CRC-32 when it is not written so (a version another
    producer gave a dataset)."""
    if digest is None:
        return None
    head = digest.partition(":")[2][:8]
    if len(head) == 8 and _HEX.issuperset(head):
        return int(head, 16)
    return zlib.crc32(digest.encode("utf-8", "surrogatepass"))


#: Columns added after the first release of a table: created on open when missing.
ADDED_COLUMNS: dict[str, list[tuple[str, TypeEngine[Any]]]] = {
    "run_io": [("kind", String(16)), ("event_time", String(40)), ("name_key", BigInteger()),
               ("digest_key", BigInteger())],
}

#: Indices of earlier schemas, dropped on open (their columns' keys replaced them).
DROPPED_INDICES: dict[str, list[str]] = {
    "run_io": ["ix_run_io_digest_dir", "ix_run_io_name_time"],
}
