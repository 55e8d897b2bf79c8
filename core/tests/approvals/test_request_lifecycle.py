"""The request lifecycle on SQLite and PostgreSQL, and every refusal writing nothing."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
from openlineage.client.serde import Serde
from request_helpers import Clock, docs_spec, make_config, snapshot

from tracline.approvals import (
    AUTO_APPROVER,
    RequestService,
    State,
    approval_facet,
    approved_time_limit,
)
from tracline.approvals import _schema as tables
from tracline.errors import ApprovalInvalid, InvalidTransition, NotAuthorized, NotFound
from tracline.events import new_run_id, run_event
from tracline.facets import TraclineGpuCostRunFacet
from tracline.testing import assert_valid_events


def gpu_cost(hours_per_gpu: float, count: int = 8, **extra: object) -> TraclineGpuCostRunFacet:
    """A measured tracline_gpuCost facet for ``count`` H100s busy ``hours_per_gpu`` hours."""
    return TraclineGpuCostRunFacet(measurement="measured", gpuModel="NVIDIA H100 80GB HBM3",
                                   gpuCount=count, gpuSeconds=count * hours_per_gpu * 3600,
                                   **extra)  # type: ignore[arg-type]


def test_whole_lifecycle(service: RequestService, clock: Clock) -> None:
    """File → approve → claim → complete, with the audit chain intact and spend reported."""
    r = service.file(docs_spec())
    assert r.state == State.PENDING
    assert r.estimate.amount == Decimal("314.62")
    assert "8 × H100 × 3.2 h × $12.29/GPU-h (AWS EC2 on-demand" in r.estimate.arithmetic
    assert r.shortfall is None
    assert approved_time_limit(r).total_seconds() == pytest.approx(3.2 * 3600)

    clock.advance(hours=1)
    r = service.approve(r.id, "user:chris", note="go", digest=r.digest)
    assert r.state == State.APPROVED
    assert [a.actor for a in r.approvals] == ["user:chris"]

    run_id = new_run_id()
    r = service.claim(r.id, run_id)
    assert (r.state, r.run_id, r.claimed_by) == (State.CLAIMED, run_id, "agent:trainer")

    facet = approval_facet(r)
    assert (facet.requestId, facet.requestDigest, facet.approvedBy) == (
        r.id, r.digest, ["user:chris"])
    assert facet.approvedGpuHours == pytest.approx(25.6)
    event = run_event("START", run_id=run_id, job_name="train", namespace="tests",
                      run_facets={"tracline_approval": facet})
    assert_valid_events([json.loads(Serde.to_json(event))])

    r = service.complete(r.id, gpu_cost(3.0), run_id=run_id)
    assert r.state == State.COMPLETED
    assert r.completion is not None
    assert r.completion.actual.amount == Decimal("294.96")
    assert not r.completion.overrun and not r.completion.gpu_hours_over

    assert [e.action for e in service.audit(r.id)] == ["file", "approve", "claim", "complete"]
    assert service.verify_audit().ok
    (row,) = service.spend("project")
    assert (row.key, row.requests, row.estimate, row.actual) == (
        "vision", 1, Decimal("314.62"), Decimal("294.96"))
    (agent,) = service.spend("agent")
    assert agent.key == "agent:trainer"


def test_overrun_is_flagged(service: RequestService) -> None:
    """A run whose measured cost exceeds the budget is recorded with the overrun amount."""
    r = service.file(docs_spec(budget=400))
    service.approve(r.id, "user:chris")
    service.claim(r.id, "run-1")
    r = service.complete(r.id, gpu_cost(5.0, cost=512.5, currency="USD"))
    assert r.completion is not None
    assert r.completion.overrun and r.completion.gpu_hours_over
    assert r.completion.overrun_by.amount == Decimal("112.50")
    assert service.audit(r.id)[-1].details["overrun"] is True
    assert service.spend("request")[0].overruns == 1


def refused(service: RequestService, error: type[Exception], match: str, call: object,
            *args: object, **kwargs: object) -> None:
    """Assert ``call`` raises ``error`` matching ``match`` and leaves every table unchanged."""
    before = snapshot(service)
    with pytest.raises(error, match=match):
        call(*args, **kwargs)  # type: ignore[operator]
    assert snapshot(service) == before


def test_self_approval_is_refused(service: RequestService) -> None:
    """The requester cannot approve their own request, even when listed as a reviewer."""
    r = service.file(docs_spec(requester="user:chris", reviewers=["group:ml-leads"]))
    refused(service, NotAuthorized, "filed .* and may not approve", service.approve, r.id,
            "user:chris")
    assert service.approve(r.id, "user:dana").state == State.APPROVED


def test_agent_approval_is_refused(service: RequestService) -> None:
    """No agent approves or rejects, whatever it is called."""
    r = service.file(docs_spec())
    refused(service, NotAuthorized, "agents never approve", service.approve, r.id,
            "agent:reviewer")
    refused(service, NotAuthorized, "agents never approve", service.reject, r.id,
            "agent:reviewer", "no")


def test_non_reviewer_is_refused(service: RequestService) -> None:
    """A person who is not among the request's reviewers cannot decide it."""
    r = service.file(docs_spec())
    refused(service, NotAuthorized, "not a reviewer", service.approve, r.id, "user:dana")


def test_change_after_approval_voids_it(service: RequestService, clock: Clock) -> None:
    """Amending an approved request voids the approval: the claim is refused with the reason."""
    r = service.file(docs_spec())
    service.approve(r.id, "user:chris")
    clock.advance(minutes=5)
    amended = service.amend(r.id, "agent:trainer", hours="6")
    assert amended.state == State.PENDING and amended.digest != r.digest
    assert service.audit(r.id)[-1].details["voided_approvals"] == ["user:chris"]
    refused(service, ApprovalInvalid, "changed after user:chris approved", service.claim, r.id,
            "run-1")
    assert service.approve(amended.id, "user:chris").state == State.APPROVED
    assert service.claim(r.id, "run-1").state == State.CLAIMED


def test_amending_back_to_earlier_content_does_not_revive_its_approvals(
        service: RequestService) -> None:
    """Content A approved, amended to B and back to A: A's old approval stays void, and the
    reviewers approve again at the same instant without a clash."""
    r = service.file(docs_spec(reviewers=["user:chris", "user:dana"], min_approvals=2))
    service.approve(r.id, "user:chris")
    service.amend(r.id, "agent:trainer", hours="6")
    back = service.amend(r.id, "agent:trainer", hours="3.2")
    assert (back.compute, back.estimate, back.revision) == (r.compute, r.estimate, 2)
    assert back.digest not in {r.digest, service.audit(r.id)[-2].details["digest"]}
    assert service.in_force(back) == (set(), [])
    assert service.audit(r.id)[-1].details["voided_approvals"] == []

    assert service.approve(r.id, "user:dana").state == State.PENDING
    refused(service, ApprovalInvalid, "changed after user:chris approved", service.claim, r.id,
            "run-1")
    approved = service.approve(r.id, "user:chris")
    assert approved.state == State.APPROVED
    assert service.in_force(approved)[0] == {"user:chris", "user:dana"}
    assert service.claim(r.id, "run-1").state == State.CLAIMED
    assert service.verify_audit().ok


def test_auto_approval_after_amending_back_is_a_new_approval(store_url: str,
                                                             clock: Clock) -> None:
    """A policy-approved request amended to other content and back is approved anew, once per
    revision, at the same instant."""
    policy = {"reviewers": ["user:chris"], "auto_approve_below": 50}
    svc = RequestService(store_url, make_config(policy), clock=clock)
    r = svc.file(docs_spec(gpu_model="T4", gpu_count=1, hours=2, budget=10))
    svc.amend(r.id, "agent:trainer", hours=1)
    back = svc.amend(r.id, "agent:trainer", hours=2)
    assert back.state == State.APPROVED and back.digest != r.digest
    assert [a.digest for a in back.approvals][-1] == back.digest
    assert len({a.digest for a in back.approvals}) == 3
    assert svc.claim(r.id, "run-1").state == State.CLAIMED
    assert svc.verify_audit().ok
    svc.close()


def test_approving_a_stale_view_is_refused(service: RequestService) -> None:
    """Approving with the digest the reviewer saw fails once the request changed since."""
    r = service.file(docs_spec())
    service.amend(r.id, "agent:trainer", budget=1200)
    refused(service, ApprovalInvalid, "it is now", service.approve, r.id, "user:chris",
            digest=r.digest)


def test_content_edited_outside_tracline_voids_the_approval(service: RequestService) -> None:
    """A request whose stored content was edited by SQL after approval cannot be claimed."""
    r = service.file(docs_spec())
    service.approve(r.id, "user:chris")
    with service.store.engine.connect() as conn:
        content = json.loads(conn.execute(sa.select(tables.requests.c.content)).scalar_one())
    content["compute"]["gpu_count"] = 64
    with service.store.engine.begin() as conn:
        conn.execute(sa.update(tables.requests).values(content=json.dumps(content)))
    refused(service, ApprovalInvalid, "changed outside tracline", service.claim, r.id, "run-1")


def test_expired_approval_is_refused_and_can_be_renewed(service: RequestService,
                                                        clock: Clock) -> None:
    """An approval past its TTL cannot be claimed; a reviewer's renewal makes it claimable."""
    r = service.file(docs_spec())
    service.approve(r.id, "user:chris")
    clock.advance(hours=73)
    refused(service, ApprovalInvalid, "user:chris's approval expired", service.claim, r.id,
            "run-1")
    assert service.approve(r.id, "user:chris").state == State.APPROVED
    assert service.claim(r.id, "run-1").state == State.CLAIMED


def test_second_claim_is_refused(service: RequestService) -> None:
    """A request is claimed once; a second run is refused, naming the run that has it."""
    r = service.file(docs_spec())
    service.approve(r.id, "user:chris")
    service.claim(r.id, "run-1")
    refused(service, InvalidTransition, "already claimed by run run-1", service.claim, r.id,
            "run-2")
    other = service.file(docs_spec())
    service.approve(other.id, "user:chris")
    refused(service, InvalidTransition, "run run-1 already claimed", service.claim, other.id,
            "run-1")


def test_illegal_transitions_write_nothing(service: RequestService) -> None:
    """Claiming a pending request, approving a rejected one, completing an unclaimed one fail."""
    r = service.file(docs_spec())
    refused(service, InvalidTransition, "only an approved", service.claim, r.id, "run-1")
    refused(service, InvalidTransition, "only a claimed", service.complete, r.id, gpu_cost(1))
    service.reject(r.id, "user:chris", "use the smaller model first")
    refused(service, NotAuthorized, "did not file", service.cancel, r.id, "user:chris")
    refused(service, InvalidTransition, "is rejected", service.approve, r.id, "user:chris")
    refused(service, InvalidTransition, "is rejected", service.cancel, r.id, "agent:trainer")
    refused(service, InvalidTransition, "is rejected", service.amend, r.id, "agent:trainer",
            hours=1)
    refused(service, NotFound, "no training request", service.approve, "req-missing",
            "user:chris")
    assert service.get(r.id).state_note == "use the smaller model first"


def test_two_approvals_above_threshold(service: RequestService) -> None:
    """Above [policy] two_approvals_above one approval leaves the request pending; two approve."""
    r = service.file(docs_spec(budget=6000, reviewers=["group:ml-leads"]))
    assert service.approve(r.id, "user:chris").state == State.PENDING
    refused(service, NotAuthorized, "already approved", service.approve, r.id, "user:chris")
    assert service.approve(r.id, "user:dana").state == State.APPROVED
    assert approval_facet(service.get(r.id)).approvedBy == ["user:chris", "user:dana"]


def test_auto_approval_is_recorded_as_policy(store_url: str, clock: Clock) -> None:
    """Under [policy] auto_approve_below a request is approved at filing, by the policy."""
    policy = {"reviewers": ["user:chris"], "auto_approve_below": 50}
    svc = RequestService(store_url, make_config(policy), clock=clock)
    r = svc.file(docs_spec(gpu_model="T4", gpu_count=1, hours=2, budget=10))
    assert r.state == State.APPROVED
    assert r.approvals[0].actor == AUTO_APPROVER
    assert [e.actor for e in svc.audit(r.id)] == ["agent:trainer", AUTO_APPROVER]
    assert svc.file(docs_spec()).state == State.PENDING
    svc.close()


def test_cancel_and_expiry(service: RequestService, clock: Clock) -> None:
    """The requester cancels; an unreviewed request expires and can no longer be approved."""
    kept = service.file(docs_spec())
    gone = service.file(docs_spec())
    assert service.cancel(gone.id, "agent:trainer", "duplicate").state == State.CANCELLED
    clock.advance(days=15)
    refused(service, InvalidTransition, "expired at", service.approve, kept.id, "user:chris")
    assert service.expire_overdue() == [kept.id]
    assert service.get(kept.id).state == State.EXPIRED
    assert service.expire_overdue() == []
    assert service.verify_audit().ok


def test_failed_run_records_cost(service: RequestService) -> None:
    """A claimed run that fails is recorded as failed, with its cost if known."""
    r = service.file(docs_spec())
    service.approve(r.id, "user:chris")
    service.claim(r.id, "run-1")
    refused(service, NotAuthorized, "did not claim", service.fail, r.id, "oom", run_id="run-9")
    r = service.fail(r.id, "CUDA out of memory", gpu_cost=gpu_cost(0.5))
    assert r.state == State.FAILED and r.completion is not None
    assert r.completion.actual.amount == Decimal("49.16")
