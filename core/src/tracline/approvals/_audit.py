"""The append-only, hash-chained audit log of request changes.

Entry ``n`` stores ``prev_hash`` = the hash of entry ``n-1`` and ``hash`` = sha256 over its own
canonical content (seq, at, actor, action, request_id, details, prev_hash). Entries are
appended in the same transaction as the change they record, under a lock on the head row.
:func:`verify` recomputes the chain and names the first seq at which it breaks: an edited
entry no longer matches its hash, a deleted one leaves a gap in seq or breaks the link, a
reordered one breaks the link, and a deleted tail no longer reaches the head.

The chain also covers the tables it describes: every request row must have been filed, and
its state, digest and claiming run must be the last ones the log records for it; every
approval row must have its ``approve`` entry. A row inserted or updated by hand shows.
``expect_head`` checks the chain against a head hash kept elsewhere (a rewritten chain, even a
consistent one, no longer contains it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import attrs

from tracline.approvals._model import canonical_json

TYPE_CHECKING = False  # the entries' types without SQLAlchemy: the server's client needs no SQL
if TYPE_CHECKING:
    from sqlalchemy import Connection

__all__ = ["GENESIS", "AuditEntry", "AuditProblem", "AuditReport", "append", "entries",
           "verify"]

GENESIS = "sha256:" + "0" * 64


@attrs.frozen
class AuditEntry:
    """One recorded change: who did what to which request, when, chained to the last."""

    seq: int
    at: str
    actor: str
    action: str
    request_id: str | None
    details: dict[str, Any]
    prev_hash: str
    hash: str


@attrs.frozen
class AuditProblem:
    """Where the chain breaks and how."""

    seq: int
    problem: str


@attrs.frozen
class AuditReport:
    """The result of verifying the whole chain."""

    ok: bool
    entries: int
    head_seq: int
    head_hash: str
    problems: tuple[AuditProblem, ...] = ()


def entry_hash(seq: int, at: str, actor: str, action: str, request_id: str | None,  # noqa: PLR0917
               details: dict[str, Any], prev_hash: str) -> str:
    """The hash of one entry's content and its predecessor's hash."""
    body = {"seq": seq, "at": at, "actor": actor, "action": action,
            "request_id": request_id, "details": details, "prev_hash": prev_hash}
    return "sha256:" + hashlib.sha256(canonical_json(body).encode()).hexdigest()


def ensure_head(conn: Connection) -> None:
    """Create the head row of an empty log (idempotent)."""
    from sqlalchemy import insert, select

    from tracline.approvals import _schema as t

    if conn.execute(select(t.audit_head.c.id).where(t.audit_head.c.id == 1)).first() is None:
        conn.execute(insert(t.audit_head).values(id=1, seq=0, hash=GENESIS))


def append(conn: Connection, *, at: str, actor: str, action: str, request_id: str | None,
           details: dict[str, Any]) -> AuditEntry:
    """Append one entry inside the caller's transaction (locks the head until commit)."""
    from sqlalchemy import insert, select, update

    from tracline.approvals import _schema as t

    head = conn.execute(
        select(t.audit_head.c.seq, t.audit_head.c.hash)
        .where(t.audit_head.c.id == 1)
        .with_for_update()
    ).one()
    seq = int(head.seq) + 1
    details = json.loads(canonical_json(details))
    digest = entry_hash(seq, at, actor, action, request_id, details, head.hash)
    conn.execute(insert(t.audit).values(
        seq=seq, at=at, actor=actor, action=action, request_id=request_id,
        details=canonical_json(details), prev_hash=head.hash, hash=digest,
    ))
    conn.execute(update(t.audit_head).where(t.audit_head.c.id == 1).values(seq=seq, hash=digest))
    return AuditEntry(seq, at, actor, action, request_id, details, head.hash, digest)


def _entry(row: Any) -> AuditEntry:
    try:
        details = json.loads(row.details)
    except ValueError:
        details = {"unparseable": row.details}
    return AuditEntry(int(row.seq), row.at, row.actor, row.action, row.request_id,
                      details if isinstance(details, dict) else {"value": details},
                      row.prev_hash, row.hash)


def entries(conn: Connection, request_id: str | None = None) -> list[AuditEntry]:
    """All entries in seq order, or those of one request."""
    from sqlalchemy import select

    from tracline.approvals import _schema as t

    query = select(t.audit).order_by(t.audit.c.seq)
    if request_id is not None:
        query = query.where(t.audit.c.request_id == request_id)
    return [_entry(row) for row in conn.execute(query)]


#: The state each action leaves a request in, for actions whose entry does not say.
_STATE_OF = {"file": "pending", "claim": "claimed", "complete": "completed", "fail": "failed",
             "reject": "rejected", "cancel": "cancelled", "expire": "expired"}


def _reconcile(conn: Connection, rows: list[AuditEntry], last_seq: int) -> list[AuditProblem]:
    """Problems where the request tables say something the log does not."""
    from sqlalchemy import select

    from tracline.approvals import _schema as t

    state: dict[str, str] = {}
    digest: dict[str, str] = {}
    run: dict[str, str] = {}
    approved: set[tuple[str, str, str, str]] = set()
    for e in rows:
        rid = e.request_id
        if rid is None:
            continue
        new_state = e.details.get("state") or _STATE_OF.get(e.action)
        if isinstance(new_state, str):
            state[rid] = new_state
        if e.action in ("file", "amend") and isinstance(e.details.get("digest"), str):
            digest[rid] = e.details["digest"]
        if e.action == "claim":
            run[rid] = str(e.details.get("run_id"))
        if e.action == "approve":
            approved.add((rid, e.actor, str(e.details.get("digest")),
                          str(e.details.get("decided_at") or e.at)))
    problems = []
    for row in conn.execute(select(t.requests).order_by(t.requests.c.id)):
        if row.id not in state:
            problems.append(AuditProblem(last_seq, f"request {row.id} has no audit entry: it "
                                         "was inserted outside tracline"))
            continue
        if row.state != state[row.id]:
            problems.append(AuditProblem(last_seq, f"request {row.id} is {row.state} but the "
                                         f"log last records it {state[row.id]}: its state was "
                                         "changed outside tracline"))
        if row.digest != digest.get(row.id):
            problems.append(AuditProblem(last_seq, f"request {row.id}'s digest {row.digest} is "
                                         "not the one the log records: its content was changed "
                                         "outside tracline"))
        if (row.run_id or None) != run.get(row.id):
            problems.append(AuditProblem(last_seq, f"request {row.id}'s claiming run "
                                         f"{row.run_id} is not the one the log records "
                                         f"({run.get(row.id)})"))
    for a in conn.execute(select(t.approvals).order_by(t.approvals.c.id)):
        if (a.request_id, a.actor, a.digest, a.decided_at) not in approved:
            problems.append(AuditProblem(last_seq, f"the approval of {a.request_id} by {a.actor} "
                                         f"at {a.decided_at} has no audit entry: it was "
                                         "inserted outside tracline"))
    return problems


def verify(conn: Connection, expect_head: str | None = None) -> AuditReport:
    """Recompute the chain; report each seq where it was edited, cut or reordered, each row
    of the request tables the log does not account for, and a missing ``expect_head``."""
    from sqlalchemy import select

    from tracline.approvals import _schema as t

    problems: list[AuditProblem] = []
    prev_hash, expected = GENESIS, 1
    rows = entries(conn)
    for e in rows:
        if e.seq != expected:
            span = f"{expected}" if e.seq == expected + 1 else f"{expected}–{e.seq - 1}"
            problems.append(AuditProblem(expected, f"entry {span} is missing (deleted); the "
                                         f"log jumps to {e.seq}"))
        if e.prev_hash != prev_hash:
            problems.append(AuditProblem(e.seq, f"entry {e.seq} does not follow the entry "
                                         "before it (an entry was removed, inserted or "
                                         "reordered here)"))
        recomputed = entry_hash(e.seq, e.at, e.actor, e.action, e.request_id, e.details,
                                e.prev_hash)
        if recomputed != e.hash:
            problems.append(AuditProblem(e.seq, f"entry {e.seq} was edited: its content no "
                                         "longer matches its hash"))
        prev_hash, expected = e.hash, e.seq + 1
    head = conn.execute(select(t.audit_head.c.seq, t.audit_head.c.hash)
                        .where(t.audit_head.c.id == 1)).first()
    head_seq, head_hash = (int(head.seq), head.hash) if head else (0, GENESIS)
    last = rows[-1].seq if rows else 0
    if head is None:
        problems.append(AuditProblem(last, "the head record is missing"))
    elif last != head_seq or prev_hash != head_hash:
        where = last + 1 if last < head_seq else last
        problems.append(AuditProblem(where, f"the log ends at entry {last} but its head "
                                     f"records entry {head_seq}: entries were deleted from "
                                     "the end or the head was altered"))
    if expect_head and expect_head != GENESIS and expect_head not in {e.hash for e in rows}:
        problems.append(AuditProblem(0, f"the expected head {expect_head} is not in the log: "
                                     "the log was rewritten or cut since that head was noted"))
    problems += _reconcile(conn, rows, last)
    return AuditReport(not problems, len(rows), head_seq, head_hash, tuple(problems))
