"""Property tests: random request inputs and random sequences of operations.

Invalid input always gives a ValidationError naming a field and writes nothing; no sequence of
operations, allowed or refused, reaches a state the lifecycle does not allow, and a refused
operation never writes anything.
"""

from __future__ import annotations

import shutil
import tempfile
from decimal import Decimal
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule
from request_helpers import DIGEST_A, Clock, docs_spec, make_config, snapshot
from test_request_lifecycle import gpu_cost

from tracline.approvals import AUTO_APPROVER, TRANSITIONS, DatasetRef, RequestService, State
from tracline.errors import RequestError, TraclineError, ValidationError

FIELDS = {"title", "requester", "project", "gpu_model", "gpu_count", "hours", "budget",
          "rationale", "currency", "code_ref", "reviewers", "min_approvals", "datasets",
          "over_estimate", "expires_at"}
TEXT = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(
    ["ok", "", " ", "x" * 300, "tab\tin", "bell\x07", "rtl\u202eoverride", "new\nline"])
NUMBERS = st.one_of(st.integers(-10, 10**6), st.floats(allow_nan=True, allow_infinity=True),
                    st.sampled_from(["3.2", "0", "-1", "1e3", "abc", "0.004", "984"]))
SPEC_CHANGES = st.fixed_dictionaries({}, optional={
    "title": TEXT,
    "requester": st.sampled_from(["agent:trainer", "user:alice", "alice", "group:ml-leads",
                                  "user:", "agent:a b"]),
    "project": TEXT,
    "gpu_model": st.sampled_from(["H100", "h100", "NVIDIA A100-SXM4-80GB", "K80", "", "T4"]),
    "gpu_count": st.one_of(st.integers(-2, 200_000), st.just(True), st.just(2.5)),
    "hours": NUMBERS,
    "budget": NUMBERS,
    "rationale": TEXT,
    "currency": st.sampled_from(["USD", "EUR", "usd", "", "DOLLARS"]),
    "code_ref": st.none() | TEXT,
    "reviewers": st.lists(st.sampled_from(["user:chris", "user:dana", "group:ml-leads",
                                           "group:nobody", "agent:bot", "user:mallory",
                                           "chris"]), max_size=3),
    "min_approvals": st.integers(-1, 4),
    "datasets": st.lists(st.sampled_from([DatasetRef("s3://a/b", DIGEST_A),
                                          DatasetRef("s3://a/b"),
                                          DatasetRef("s3://a/b", "md5:xyz"),
                                          DatasetRef("")]), max_size=2),
    "over_estimate": st.none() | TEXT,
})


@pytest.fixture(scope="module")
def shared_service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """One SQLite store for every generated input (each input is filed independently)."""
    path = tmp_path_factory.mktemp("props") / "requests.db"
    svc = RequestService(f"sqlite:///{path}", make_config(), clock=Clock())
    yield svc
    svc.close()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=SPEC_CHANGES)
def test_random_input_is_filed_whole_or_refused_cleanly(shared_service: RequestService,
                                                        changes: dict[str, Any]) -> None:
    """Any input is either stored exactly as validated, or refused naming a field, unwritten."""
    before = snapshot(shared_service)
    try:
        r = shared_service.file(attrs.evolve(docs_spec(), **changes))
    except ValidationError as e:
        assert e.field.split("[")[0].split(".")[0] in FIELDS | {"base_model"}, e.field
        assert str(e).startswith(e.field + ": ")
        assert snapshot(shared_service) == before
        return
    assert shared_service.get(r.id) == r
    assert r.budget.amount > 0 and r.estimate.amount > 0
    assert r.over_estimate is None or r.budget.amount < r.estimate.amount
    assert all(d.digest for d in r.datasets) and r.datasets
    assert shared_service.audit(r.id)[0].details["digest"] == r.digest


ACTORS = st.sampled_from(["user:chris", "user:dana", "user:alice", "agent:trainer", "agent:x"])
REQUESTERS = st.sampled_from(["user:alice", "user:chris", "agent:trainer"])
LEGAL = {(a, b) for a, targets in TRANSITIONS.items() for b in targets}


class Lifecycle(RuleBasedStateMachine):
    """Random operations on a few requests; the store must never leave the state machine."""

    requests = Bundle("requests")

    def __init__(self) -> None:
        super().__init__()
        self.folder = tempfile.mkdtemp()
        self.clock = Clock()
        policy = {"reviewers": ["group:ml-leads"], "two_approvals_above": 2000,
                  "auto_approve_below": 20, "groups": {"ml-leads": ["user:chris", "user:dana"]}}
        self.svc = RequestService(f"sqlite:///{self.folder}/r.db", make_config(policy),
                                  clock=self.clock)
        self.seen: dict[str, State] = {}

    def teardown(self) -> None:
        self.svc.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def attempt(self, call: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one operation; a refusal must be a request/validation error and write nothing."""
        before = snapshot(self.svc)
        try:
            return call(*args, **kwargs)
        except (RequestError, ValidationError) as e:
            assert e.hint is None or e.hint.strip()
            assert snapshot(self.svc) == before, f"refused {call.__name__} wrote: {e}"
            return None
        except TraclineError as e:
            raise AssertionError(f"unexpected {type(e).__name__}: {e}") from e

    @rule(target=requests, requester=REQUESTERS,
          budget=st.sampled_from([10, 400, 984, 3000]), two=st.booleans())
    def file(self, requester: str, budget: int, two: bool) -> str:
        spec = docs_spec(requester=requester, budget=budget, gpu_model="T4", gpu_count=1,
                         min_approvals=2 if two and requester != "user:chris" else 1,
                         reviewers=["group:ml-leads"], hours=1)
        r = self.svc.file(spec)
        return r.id

    @rule(rid=requests, actor=ACTORS, stale=st.booleans())
    def approve(self, rid: str, actor: str, stale: bool) -> None:
        self.attempt(self.svc.approve, rid, actor, digest=DIGEST_A if stale else None)

    @rule(rid=requests, actor=ACTORS)
    def reject(self, rid: str, actor: str) -> None:
        self.attempt(self.svc.reject, rid, actor, "not now")

    @rule(rid=requests, actor=ACTORS)
    def cancel(self, rid: str, actor: str) -> None:
        self.attempt(self.svc.cancel, rid, actor)

    @rule(rid=requests, actor=ACTORS, hours=st.sampled_from(["1", "2", "0", "1.5"]))
    def amend(self, rid: str, actor: str, hours: str) -> None:
        self.attempt(self.svc.amend, rid, actor, hours=hours)

    @rule(rid=requests, run=st.integers(0, 3))
    def claim(self, rid: str, run: int) -> None:
        self.attempt(self.svc.claim, rid, f"run-{run}")

    @rule(rid=requests, hours=st.floats(0, 10), ok=st.booleans())
    def finish(self, rid: str, hours: float, ok: bool) -> None:
        if ok:
            self.attempt(self.svc.complete, rid, gpu_cost(hours, count=1))
        else:
            self.attempt(self.svc.fail, rid, "crashed")

    @rule(hours=st.integers(1, 400))
    def wait(self, hours: int) -> None:
        self.clock.advance(hours=hours)

    @rule()
    def expire(self) -> None:
        self.svc.expire_overdue()

    @invariant()
    def only_legal_states(self) -> None:
        for r in self.svc.list():
            before = self.seen.get(r.id, State.PENDING)
            assert r.state == before or (before, r.state) in LEGAL, (r.id, before, r.state)
            self.seen[r.id] = r.state
            if r.state in {State.CLAIMED, State.COMPLETED, State.FAILED}:
                assert r.run_id and r.claimed_at
            if r.state in {State.COMPLETED} and r.completion:
                assert r.completion.overrun == (r.completion.actual.amount > r.budget.amount)
            deciders = {a.actor for a in r.approvals}
            assert not deciders & {r.requester}
            assert all(a.startswith("user:") or a == AUTO_APPROVER for a in deciders)
            if r.state == State.APPROVED and AUTO_APPROVER not in deciders:
                assert deciders, r
            claims = [e for e in self.svc.audit(r.id) if e.action == "claim"]
            assert len(claims) <= 1
            assert r.state != State.CLAIMED or len(claims) == 1
            assert r.budget.amount > Decimal(0)
        assert self.svc.verify_audit().ok


Lifecycle.TestCase.settings = settings(max_examples=60, stateful_step_count=30, deadline=None,
                                       suppress_health_check=[HealthCheck.too_slow])
test_random_operation_sequences_stay_legal = Lifecycle.TestCase
