"""Whether a training request lets a run through now: the decision and the ways to wait for it.

:func:`decide` is a pure function of the request, the run asking and the time; every front
door calls it (an Airflow trigger or gate, a Prefect flow resuming, a Dagster sensor tick, the
CLI). Waiting is the orchestrator's business — defer, suspend, a sensor's next tick — or,
where nothing better exists, the poll loops here: :func:`wait_for_decision` and its async
twin :func:`await_decision` (what a triggerer runs).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import logging
import time
from collections.abc import Callable

import attrs

from tracline.approvals import State, TrainingRequest
from tracline.errors import StoreError
from tracline.gating._access import RequestAccess

__all__ = ["Decision", "Verdict", "await_decision", "decide", "refusal", "wait_for_decision"]

log = logging.getLogger("tracline.gating")


class Verdict(enum.StrEnum):
    """What a gate does with a request now."""

    #: Pending and not expired: keep waiting for a reviewer.
    WAIT = "wait"
    #: Approved and unclaimed: claim it for this run and go on.
    CLAIM = "claim"
    #: Already claimed by this very run (a retry): go on under that claim.
    CLAIMED = "claimed"
    #: It cannot pay for this run: rejected, cancelled, expired, used by another run, or done.
    REFUSED = "refused"


@attrs.frozen
class Decision:
    """The verdict on one request for one run, with the reason in words."""

    verdict: Verdict
    request: TrainingRequest
    reason: str

    @property
    def decided(self) -> bool:
        """True once waiting is over (anything but :attr:`Verdict.WAIT`)."""
        return self.verdict != Verdict.WAIT

    @property
    def state(self) -> str:
        """The request's state as the gate sees it (``expired`` once a pending one lapsed)."""
        if self.verdict == Verdict.REFUSED and self.request.state == State.PENDING:
            return State.EXPIRED.value
        return self.request.state.value


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


def refusal(request: TrainingRequest, run_id: str | None = None) -> str:
    """Why ``request`` cannot pay for run ``run_id``, in the reviewer's words where there are."""
    rid, who, note = request.id, request.state_actor or "someone", request.state_note
    if request.state == State.REJECTED:
        return f"training request {rid} was rejected by {who}: {note or 'no reason given'}"
    if request.state == State.CANCELLED:
        return f"training request {rid} was cancelled by {who}" + (f": {note}" if note else "")
    if request.state in {State.EXPIRED, State.PENDING}:
        return (f"training request {rid} expired at {_iso(request.expires_at)} before it was "
                "approved; file it again")
    if request.run_id and request.run_id != run_id:
        return (f"training request {rid} was already claimed by run {request.run_id}; an "
                "approval pays for one run, file a new request")
    return (f"training request {rid} is {request.state} (used by this run); an approval pays "
            "for one run, file a new request")


def decide(request: TrainingRequest, run_id: str, now: dt.datetime) -> Decision:
    """The verdict on ``request`` for the run that claims under ``run_id``, at ``now``."""
    if request.state == State.PENDING and request.expires_at > now:
        reviewers = ", ".join(request.reviewers) or "the policy's reviewers"
        return Decision(Verdict.WAIT, request,
                        f"training request {request.id} waits for a reviewer ({reviewers}): "
                        f"tracline request approve {request.id}")
    if request.state == State.CLAIMED and request.run_id == run_id:
        return Decision(Verdict.CLAIMED, request,
                        f"training request {request.id} was claimed by this run before")
    if request.state == State.APPROVED and request.run_id is None:
        return Decision(Verdict.CLAIM, request, f"training request {request.id} is approved")
    return Decision(Verdict.REFUSED, request, refusal(request, run_id))


class _Watch:
    """Looks at one request for one run; a store error is logged and counts as no decision."""

    def __init__(self, requests: RequestAccess, request_id: str, run_id: str) -> None:
        self.requests, self.request_id, self.run_id = requests, request_id, run_id
        self.failures = 0

    def look(self) -> Decision | None:
        try:
            decision = decide(self.requests.get(self.request_id), self.run_id,
                              self.requests.now())
        except StoreError as e:
            # A store that is briefly locked or unreachable is retried; the gate stays closed
            # meanwhile. Said on the first failure, the tenth, then every hundredth.
            self.failures += 1
            if self.failures in {1, 10} or self.failures % 100 == 0:
                log.warning("tracline: cannot read training request %s (%d tries): %s",
                            self.request_id, self.failures, e)
            return None
        self.failures = 0
        return decision if decision.decided else None


def wait_for_decision(requests: RequestAccess, request_id: str, run_id: str, *,
                      poll_interval: float = 1.0, timeout: float | None = None,
                      sleep: Callable[[float], None] = time.sleep) -> Decision | None:
    """Poll the store until ``request_id`` is decided for ``run_id``; None after ``timeout``.

    Raises :class:`NotFound` if the request disappears; a store error is logged and retried.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    watch = _Watch(requests, request_id, run_id)
    while (decision := watch.look()) is None:
        if deadline is not None and time.monotonic() >= deadline:
            return None
        sleep(poll_interval)
    return decision


async def await_decision(requests: RequestAccess, request_id: str, run_id: str, *,
                         poll_interval: float = 1.0) -> Decision:
    """:func:`wait_for_decision` for an event loop (a triggerer): store calls run in a thread."""
    watch = _Watch(requests, request_id, run_id)
    while (decision := await asyncio.to_thread(watch.look)) is None:
        await asyncio.sleep(poll_interval)
    return decision
