"""The registry's tables (SQLAlchemy Core): every event, and an index built from them."""

from __future__ import annotations

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
SCHEMA_VERSION = 2

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
#: lineage queries: producers of a digest (``digest, direction``), a run's inputs (the primary
#: key) and the versions of a dataset by name, newest first (``name, namespace, event_time``).
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
    PrimaryKeyConstraint("run_id", "direction", "namespace", "name"),
    Index("ix_run_io_digest_dir", "digest", "direction"),
    Index("ix_run_io_name_time", "name", "namespace", "event_time"),
)

#: Columns added after the first release of a table: created on open when missing.
ADDED_COLUMNS: dict[str, list[tuple[str, TypeEngine[Any]]]] = {
    "run_io": [("kind", String(16)), ("event_time", String(40))],
}
