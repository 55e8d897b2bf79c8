"""The audit log is tamper-evident: edits, deletions and reorderings are found by verify."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from request_helpers import docs_spec

from tracline.approvals import RequestService
from tracline.approvals import _schema as tables

audit = tables.audit


def history(service: RequestService) -> None:
    """Seven entries: three requests filed, two approved, one claimed, one cancelled."""
    a = service.file(docs_spec())
    b = service.file(docs_spec(title="Second try"))
    service.approve(a.id, "user:chris")
    service.claim(a.id, "run-1")
    service.approve(b.id, "user:chris")
    service.cancel(service.file(docs_spec()).id, "agent:trainer")


def tamper(service: RequestService, *statements: sa.Executable) -> None:
    """Run raw SQL against the store, as someone with database access would."""
    with service.store.engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


def _edit_actor(s: RequestService) -> None:
    tamper(s, sa.update(audit).where(audit.c.seq == 3).values(actor="user:dana"))


def _edit_details(s: RequestService) -> None:
    with s.store.engine.connect() as conn:
        details = json.loads(conn.execute(sa.select(audit.c.details)
                                          .where(audit.c.seq == 2)).scalar_one())
    details["title"] = "Something cheaper"
    tamper(s, sa.update(audit).where(audit.c.seq == 2).values(details=json.dumps(details)))


def _delete_middle(s: RequestService) -> None:
    tamper(s, sa.delete(audit).where(audit.c.seq == 4))


def _delete_tail(s: RequestService) -> None:
    tamper(s, sa.delete(audit).where(audit.c.seq >= 6))


def _reorder(s: RequestService) -> None:
    tamper(s, sa.update(audit).where(audit.c.seq == 3).values(seq=-3),
           sa.update(audit).where(audit.c.seq == 4).values(seq=3),
           sa.update(audit).where(audit.c.seq == -3).values(seq=4))


def _renumber_after_delete(s: RequestService) -> None:
    tamper(s, sa.delete(audit).where(audit.c.seq == 2),
           *(sa.update(audit).where(audit.c.seq == n).values(seq=n - 1) for n in range(3, 8)))


def _rehash_edit(s: RequestService) -> None:
    """Edit an entry and recompute its own hash: the next entry's link still breaks."""
    from tracline.approvals._audit import entry_hash

    with s.store.engine.connect() as conn:
        row = conn.execute(sa.select(audit).where(audit.c.seq == 3)).one()
    details = json.loads(row.details)
    forged = entry_hash(3, row.at, "user:dana", row.action, row.request_id, details,
                        row.prev_hash)
    tamper(s, sa.update(audit).where(audit.c.seq == 3).values(actor="user:dana", hash=forged))


CASES: list[tuple[Callable[[RequestService], None], int, str]] = [
    (_edit_actor, 3, "entry 3 was edited"),
    (_edit_details, 2, "entry 2 was edited"),
    (_delete_middle, 4, "entry 4 is missing"),
    (_delete_tail, 6, "head records entry 7"),
    (_reorder, 3, "entry 3 was edited"),
    (_renumber_after_delete, 2, "entry 2 does not follow"),
    (_rehash_edit, 4, "entry 4 does not follow"),
]


@pytest.mark.parametrize(("attack", "seq", "message"), CASES,
                         ids=[c[0].__name__.strip("_") for c in CASES])
def test_verify_names_the_tampered_entry(service: RequestService,
                                         attack: Callable[[RequestService], None], seq: int,
                                         message: str) -> None:
    """Each tampering is reported at the seq where it happened."""
    history(service)
    assert service.verify_audit().ok
    attack(service)
    report = service.verify_audit()
    assert not report.ok
    assert any(p.seq == seq and message in p.problem for p in report.problems), report.problems


def test_chain_links_each_entry_to_the_last(service: RequestService) -> None:
    """Every entry's prev_hash is its predecessor's hash and the head points at the last."""
    history(service)
    entries = service.audit()
    assert [e.seq for e in entries] == list(range(1, 8))
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(entries))
    report = service.verify_audit()
    assert (report.head_seq, report.head_hash, report.entries) == (7, entries[-1].hash, 7)
