"""The gate of one orchestrator run on real SQLite and PostgreSQL stores: file or attach once
per run, decide, claim exactly once, settle with the run's cost — or an estimate, never left
claimed — with the run as the audit log's actor."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tracline.approvals import RequestService, State
from tracline.config import Config
from tracline.errors import ValidationError
from tracline.facets import TraclineGpuCostRunFacet
from tracline.gating import (
    Claim,
    Gate,
    GateClosed,
    Outcome,
    RunActor,
    Verdict,
    await_decision,
    wait_for_decision,
)
from tracline.testing import conformance_request

POLICY = {"reviewers": ["user:chris", "user:dana"], "approval_ttl": "72h"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock."""
    return Clock()


@pytest.fixture
def service(store_url: str, clock: Clock) -> Iterator[RequestService]:
    """A request service on SQLite and on PostgreSQL."""
    svc = RequestService(store_url, Config(sections={"policy": POLICY}), clock=clock)
    yield svc
    svc.close()


def gate(service: RequestService, key: str = "dag-run-1", step: str = "approve-try-1") -> Gate:
    """The gate of orchestrator run ``key``, acting as its step ``step``."""
    return Gate(service, key=key, actor=RunActor("tests", step, f"{key} {step}"))


def approved(service: RequestService, **changes: Any) -> str:
    """A filed and approved request's id."""
    request = service.file(conformance_request(**changes))
    service.approve(request.id, "user:chris")
    return request.id


def cost(seconds: float = 1800.0) -> TraclineGpuCostRunFacet:
    """A declared 1 × H100 GPU cost facet."""
    return TraclineGpuCostRunFacet(measurement="declared", gpuModel="H100", gpuCount=1,
                                   gpuSeconds=seconds, wallSeconds=seconds)


# -- file or attach ------------------------------------------------------------------------------


def test_a_retry_attaches_to_the_request_its_run_filed(service: RequestService) -> None:
    """A retry of the same orchestrator run finds its open request; another run files anew."""
    first = gate(service).file_or_attach(conformance_request())
    again = gate(service, step="approve-try-2").file_or_attach(conformance_request())
    other = gate(service, key="dag-run-2").file_or_attach(conformance_request())
    assert again.id == first.id
    assert other.id != first.id
    (filed,) = [e for e in service.audit(first.id) if e.action == "file"]
    assert filed.actor == "agent:trainer"
    assert filed.details["origin"] == "dag-run-1"
    assert filed.details["step"] == "dag-run-1 approve-try-1"


def test_a_retry_with_changed_content_files_a_new_request(service: RequestService) -> None:
    """An approval binds to content: a retry whose request changed never reuses the old one."""
    first = gate(service).file_or_attach(conformance_request())
    changed = gate(service).file_or_attach(conformance_request(budget=200))
    assert changed.id != first.id
    assert changed.budget.amount == 200


def test_a_retry_finds_its_claim_and_attach_by_id(service: RequestService) -> None:
    """A claimed request is found again by its run; an id attaches to exactly that request."""
    request_id = approved(service)
    gate(service).claim(request_id)
    again = gate(service, step="approve-try-2").file_or_attach(
        {"title": "Conformance of a gated run", "requester": "agent:trainer",
         "project": "conformance", "datasets": ["s3://conformance/data@sha256:" + "c" * 64],
         "gpu_model": "H100", "gpu_count": 1, "hours": "0.5", "budget": 100,
         "rationale": "Different text, but this run already claimed a request."})
    assert again.id == request_id
    assert gate(service, key="other").file_or_attach(request_id=f" {request_id} ").id == request_id


# -- decide --------------------------------------------------------------------------------------


def test_decisions_follow_the_request(service: RequestService, clock: Clock) -> None:
    """Pending waits; approved is claimed; claimed by this run goes on; anything else refuses."""
    mine, other = gate(service), gate(service, key="dag-run-2")
    pending = service.file(conformance_request())
    assert mine.decide(pending.id).verdict == Verdict.WAIT
    assert "waits for a reviewer (user:chris)" in mine.decide(pending.id).reason
    request_id = approved(service)
    assert mine.decide(request_id).verdict == Verdict.CLAIM
    mine.claim(request_id)
    assert mine.decide(request_id).verdict == Verdict.CLAIMED
    refused = other.decide(request_id)
    assert refused.verdict == Verdict.REFUSED
    assert "already claimed by run dag-run-1" in refused.reason
    rejected = service.file(conformance_request())
    service.reject(rejected.id, "user:chris", "Use the small model first.")
    assert mine.decide(rejected.id).reason == (
        f"training request {rejected.id} was rejected by user:chris: Use the small model first.")
    clock.now += dt.timedelta(days=30)
    lapsed = mine.decide(pending.id)
    assert (lapsed.verdict, lapsed.state) == (Verdict.REFUSED, "expired")


def test_pending_and_lapsed_requests_keep_the_gate_closed(service: RequestService,
                                                          clock: Clock) -> None:
    """Claiming a pending request, or one whose approval lapsed, is refused with what to do."""
    pending = service.file(conformance_request())
    with pytest.raises(GateClosed, match="waits for a reviewer") as caught:
        gate(service).claim(pending.id)
    assert caught.value.request.id == pending.id
    request_id = approved(service)
    clock.now += dt.timedelta(hours=73)
    with pytest.raises(GateClosed, match="approval expired") as lapsed:
        gate(service).claim(request_id)
    assert lapsed.value.hint and "renews it" in lapsed.value.hint
    assert service.get(request_id).state == State.APPROVED


# -- claim ---------------------------------------------------------------------------------------


def test_one_claim_however_many_runs_race(service: RequestService, clock: Clock) -> None:
    """Eight runs claim one approval at once: exactly one gets it, the others are refused."""
    request_id = approved(service)
    won: list[Claim] = []
    refused: list[str] = []
    start = threading.Barrier(8)

    def race(n: int) -> None:
        own = RequestService(service.url, service.config, clock=clock)
        try:
            start.wait()
            won.append(gate(own, key=f"run-{n}").claim(request_id))
        except GateClosed as e:
            refused.append(str(e))
        finally:
            own.close()

    threads = [threading.Thread(target=race, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and len(refused) == 7, refused
    assert service.get(request_id).run_id == won[0].run_id
    assert [e.action for e in service.audit(request_id)].count("claim") == 1


def test_tries_of_one_run_share_its_claim(service: RequestService, clock: Clock) -> None:
    """Tries of the same run claiming at once all get the one claim, recorded once."""
    request_id = approved(service)
    claims: list[Claim] = []
    start = threading.Barrier(4)

    def try_(n: int) -> None:
        own = RequestService(service.url, service.config, clock=clock)
        try:
            start.wait()
            claims.append(gate(own, step=f"approve-try-{n}").claim(request_id))
        finally:
            own.close()

    threads = [threading.Thread(target=try_, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(claims) == 4 and len(set(claims)) == 1
    assert [e.action for e in service.audit(request_id)].count("claim") == 1


def test_the_run_is_the_actor_and_the_requester_the_owner(service: RequestService) -> None:
    """Claim and completion name the steps that made them; the requester stays the owner."""
    request_id = approved(service)
    claim = gate(service).claim(request_id)
    gate(service, step="train-try-1").settle(claim, Outcome(succeeded=True, gpu_cost=cost()))
    request = service.get(request_id)
    entries = {e.action: e for e in service.audit(request_id)}
    assert request.requester == "agent:trainer"
    assert request.claimed_by == "run:tests/approve-try-1"
    assert entries["claim"].actor == "run:tests/approve-try-1"
    assert entries["claim"].details["step"] == "dag-run-1 approve-try-1"
    assert entries["complete"].actor == "run:tests/train-try-1"
    assert entries["complete"].details["run_id"] == "dag-run-1"
    assert request.state_actor == "run:tests/train-try-1"


def test_a_malformed_run_actor_is_refused(service: RequestService) -> None:
    """A run principal that breaks the form (or the store's length) is refused, naming it."""
    request_id = approved(service)
    with pytest.raises(ValidationError, match="is not run:<orchestrator>/<run id>"):
        Gate(service, key="k", actor=RunActor("Air Flow", "x")).claim(request_id)
    with pytest.raises(ValidationError, match="is not run:<orchestrator>/<run id>"):
        Gate(service, key="k", actor=RunActor("airflow", "r" * 61)).claim(request_id)
    assert service.get(request_id).state == State.APPROVED


def test_run_principals_never_review(service: RequestService) -> None:
    """A run may claim and settle, but never approve or reject."""
    request = service.file(conformance_request())
    with pytest.raises(ValidationError, match="is not user:NAME or agent:NAME"):
        service.approve(request.id, "run:tests/approve-try-1")
    with pytest.raises(ValidationError, match="is not user:NAME or agent:NAME"):
        service.reject(request.id, "run:tests/approve-try-1", "no")


# -- settle --------------------------------------------------------------------------------------


def test_settling_records_the_runs_cost(service: RequestService) -> None:
    """A completed run's recorded cost is its request's actual cost."""
    request_id = approved(service)
    claim = gate(service).claim(request_id)
    settled = gate(service).settle(claim, Outcome(succeeded=True, gpu_cost=cost(1800)))
    assert settled.note is None and settled.request is not None
    done = settled.request.completion
    assert settled.request.state == State.COMPLETED
    assert done is not None and done.measurement == "declared"
    assert float(done.gpu_hours) == pytest.approx(0.5)


def test_no_measured_cost_settles_with_an_estimate(service: RequestService,
                                                   clock: Clock) -> None:
    """Without a recorded cost the request still ends, at an estimate that says so."""
    request_id = approved(service)
    claim = gate(service).claim(request_id)
    settled = gate(service).settle(claim, Outcome(succeeded=True, wall_seconds=900.0))
    assert settled.request is not None and settled.request.state == State.COMPLETED
    done = settled.request.completion
    assert done is not None and done.measurement == "estimated"
    assert float(done.gpu_hours) == pytest.approx(0.25)
    assert settled.note and "no GPU cost was measured or declared" in settled.note
    other = approved(service)
    claim = gate(service, key="dag-run-2").claim(other)
    clock.now += dt.timedelta(minutes=12)
    late = gate(service, key="dag-run-2").settle(claim, Outcome(succeeded=False, error="boom"))
    assert late.request is not None and late.request.state == State.FAILED
    assert late.request.completion is not None
    assert float(late.request.completion.gpu_hours) == pytest.approx(0.2)
    assert late.note and "the time since the claim" in late.note


def test_failures_retries_and_repeats(service: RequestService) -> None:
    """A retried failure keeps the claim; a final one fails it; settling again changes nothing."""
    request_id = approved(service)
    claim = gate(service).claim(request_id)
    kept = gate(service).settle(claim, Outcome(succeeded=False, error="OOM", final=False))
    assert kept.request is None and service.get(request_id).state == State.CLAIMED
    over = Outcome(succeeded=False, gpu_cost=cost(1900), over_time=True)
    failed = gate(service, step="train-try-2").settle(claim, over)
    assert failed.request is not None and failed.request.state == State.FAILED
    assert (failed.request.state_note or "").startswith(
        "dag-run-1 train-try-2 ran past the approved time limit of 0:30:00")
    audit = len(service.audit(request_id))
    again = gate(service).settle(claim, Outcome(succeeded=True, gpu_cost=cost()))
    assert again.request is not None and again.request.state == State.FAILED
    assert len(service.audit(request_id)) == audit


def test_a_claim_travels_as_json(service: RequestService) -> None:
    """A claim survives the trip through an orchestrator's JSON (XCom, run tag)."""
    import json

    claim = gate(service).claim(approved(service))
    payload = json.loads(json.dumps(claim.to_payload()))
    assert Claim.from_payload(payload) == claim
    assert payload["time_limit_seconds"] == 1800.0
    assert payload["approved_by"] == ["user:chris"]
    with pytest.raises(ValidationError, match="expected a claim payload"):
        Claim.from_payload("req-1")
    with pytest.raises(ValidationError, match="malformed claim payload"):
        Claim.from_payload({"request_id": "req-1"})


# -- wait ----------------------------------------------------------------------------------------


def test_the_poll_loop_sees_a_decision_made_meanwhile(service: RequestService) -> None:
    """Polling waits while pending and returns the approval made between two looks."""
    request = service.file(conformance_request())
    looks: list[float] = []

    def approve_while_waiting(seconds: float) -> None:
        looks.append(seconds)
        if len(looks) == 2:
            service.approve(request.id, "user:chris")

    decision = wait_for_decision(service, request.id, "dag-run-1", poll_interval=0.01,
                                 sleep=approve_while_waiting)
    assert decision is not None and decision.verdict == Verdict.CLAIM
    assert len(looks) == 2
    assert gate(service).wait(service.file(conformance_request()).id, poll_interval=0.01,
                              timeout=0.05) is None


def test_the_async_wait_sees_a_rejection(service: RequestService) -> None:
    """The triggerer's wait returns a refusal with the reviewer's reason."""
    request = service.file(conformance_request())

    async def scenario() -> Any:
        waiting = asyncio.create_task(await_decision(service, request.id, "dag-run-1",
                                                     poll_interval=0.01))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        await asyncio.to_thread(service.reject, request.id, "user:chris", "not now")
        return await asyncio.wait_for(waiting, timeout=60)

    decision = asyncio.run(scenario())
    assert decision.verdict == Verdict.REFUSED
    assert decision.reason.endswith("was rejected by user:chris: not now")


def test_the_poll_loop_rides_out_an_unreachable_store(tmp_path: Any, clock: Clock,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    """A store that cannot be read for a while keeps the gate waiting (said once), not failed."""
    db, away = tmp_path / "requests.db", tmp_path / "away.db"
    service = RequestService(f"sqlite:///{db}", Config(sections={"policy": POLICY}), clock=clock)
    request = service.file(conformance_request())
    naps: list[float] = []

    def outage(seconds: float) -> None:
        naps.append(seconds)
        if len(naps) == 1:  # the database goes away: a folder stands in its place
            service.close()
            db.rename(away)
            db.mkdir()
        elif len(naps) == 3:  # it is back, and a reviewer approved meanwhile
            db.rmdir()
            away.rename(db)
            service.approve(request.id, "user:chris")

    try:
        decision = wait_for_decision(service, request.id, "dag-run-1", poll_interval=0,
                                     sleep=outage)
    finally:
        service.close()
    assert decision is not None and decision.verdict == Verdict.CLAIM
    assert len(naps) == 3
    assert caplog.text.count("cannot read training request") == 1
