"""The request store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

Timestamps are stored as fixed-format UTC ISO text, so they compare as strings everywhere.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

#: Columns added after a table was first shipped: created on opening an older store.
ADDED_COLUMNS = {"request_approvals": (("signature", Text()), ("via", String(16)))}

#: One row per request: its content (canonical JSON), digest and lifecycle columns.
requests = Table(
    "training_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("state", String(16), nullable=False),
    Column("digest", String(80), nullable=False),
    Column("content", Text, nullable=False),
    Column("requester", String(80), nullable=False),
    Column("project", String(120), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("state_actor", String(80)),
    Column("state_note", Text),
    Column("run_id", String(128), unique=True),
    Column("claimed_by", String(80)),
    Column("claimed_at", String(40)),
    Column("completion", Text),
    Index("ix_training_requests_state", "state"),
    Index("ix_training_requests_requester", "requester"),
    Index("ix_training_requests_project", "project"),
)

#: Every approval, bound to the digest it approved and valid until ``expires_at``.
approvals = Table(
    "request_approvals",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(40), ForeignKey("training_requests.id"), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("digest", String(80), nullable=False),
    Column("decided_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("note", Text),
    Column("signature", Text),
    Column("via", String(16)),
    UniqueConstraint("request_id", "actor", "digest", "decided_at"),
    Index("ix_request_approvals_request", "request_id"),
)

#: The append-only audit log; each entry's hash covers its content and the previous hash.
audit = Table(
    "request_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", String(40), nullable=False),
    Column("actor", String(80), nullable=False),
    Column("action", String(32), nullable=False),
    Column("request_id", String(40)),
    Column("details", Text, nullable=False),
    Column("prev_hash", String(80), nullable=False),
    Column("hash", String(80), nullable=False),
    Index("ix_request_audit_request", "request_id"),
)

#: One row: the last entry's seq and hash. Appenders lock it, so the chain never forks,
#: and verification compares the chain's end with it, so a deleted tail shows.
audit_head = Table(
    "request_audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(80), nullable=False),
)
