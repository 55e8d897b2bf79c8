"""The gate of one orchestrator run: file or attach, decide, claim once, settle.

Every front door drives the same object::

    gate = Gate(open_requests(config), key=run_id, actor=RunActor("airflow", try_run_id, name))
    request = gate.file_or_attach(spec)            # or request_id=...; a retry finds its own
    decision = gate.decide(request)                # WAIT → the orchestrator waits its way
    claim = gate.claim(request)                    # exactly once; a retry gets the same claim
    ...                                            # the work, capped at claim.time_limit
    gate.settle(claim, Outcome.of_record(record))  # complete or fail, with the run's cost

Only the request service's public methods are used, so the same code runs against the local
store and against the team server's client.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import attrs

from tracline.approvals import RequestSpec, State, TrainingRequest, validate_request
from tracline.config import Config, get_config
from tracline.errors import InvalidTransition, RequestError
from tracline.facets import TraclineApprovalRunFacet, TraclineGpuCostRunFacet
from tracline.gating._access import RequestAccess
from tracline.gating._claim import Claim, Outcome, RunActor
from tracline.gating._decision import Decision, Verdict, decide, wait_for_decision
from tracline.gating._spec import spec_from_mapping

__all__ = ["Gate", "GateClosed", "Settlement"]

_LIVE = {State.PENDING, State.APPROVED}
#: What a requester chose; a retry re-attaches to its own open request only if these match.
_CHOSEN = ("title", "requester", "project", "datasets", "base_model", "code_ref", "compute",
           "budget", "rationale", "reviewers", "min_approvals", "over_estimate")


class GateClosed(RequestError):
    """The gate stays closed: the training request cannot pay for this run."""

    def __init__(self, decision: Decision, *, hint: str | None = None) -> None:
        super().__init__(decision.reason, hint=hint)
        self.decision = decision

    @property
    def request(self) -> TrainingRequest:
        """The request as the gate last read it."""
        return self.decision.request


@attrs.frozen
class Settlement:
    """What settling a claimed run recorded."""

    #: The request after settling (None when the run will be retried under its claim).
    request: TrainingRequest | None
    #: Set when no cost was measured or declared and an estimate was recorded instead.
    note: str | None = None


class Gate:
    """One orchestrator run's way through the lifecycle of its training request.

    :param requests: the request service (``tracline.approvals.open_requests(config)``: the
        local store or the team server's client; see :class:`RequestAccess`).
    :param key: the run id the request is claimed under — the same for every retry of the
        orchestrator run (Airflow: the DAG run's OpenLineage run id; ``tracline run``: its
        run id), so a retry finds its own claim.
    :param actor: the step acting now; its principal is the audit log's actor.
    """

    def __init__(self, requests: RequestAccess, *, key: str, actor: RunActor,
                 config: Config | None = None) -> None:
        self.requests = requests
        self.key = key
        self.actor = actor
        self.config = config or requests.config or get_config()

    # -- file or attach --------------------------------------------------------------------------

    def file_or_attach(self, request: RequestSpec | Mapping[str, Any] | None = None, *,
                       request_id: str | None = None) -> TrainingRequest:
        """The request this run goes through: ``request_id`` if given, else the one this
        orchestrator run already filed or claimed (a retry), else ``request`` filed now."""
        if request_id:
            return self.requests.get(request_id.strip())
        if request is None:
            raise RequestError("no training request to file or attach to",
                               hint="give the request's fields, or the id of a filed request")
        spec = request if isinstance(request, RequestSpec) else spec_from_mapping(request)
        return self._own(spec) or self.requests.file(spec, origin=self.key, step=self.actor.step)

    def _own(self, spec: RequestSpec) -> TrainingRequest | None:
        candidates = self.requests.list(project=spec.project, requester=spec.requester)
        for earlier in candidates:
            if earlier.run_id == self.key:
                return earlier
        mine = [r for r in candidates
                if r.state in _LIVE and r.run_id is None and self._origin(r) == self.key]
        if not mine:
            return None
        fields = validate_request(spec, self.config, self.requests.now())
        return next((r for r in mine if all(getattr(r, k) == fields[k] for k in _CHOSEN)),
                    None)

    def _origin(self, request: TrainingRequest) -> str | None:
        for entry in self.requests.audit(request.id):
            if entry.action == "file":
                origin = entry.details.get("origin")
                return str(origin) if origin is not None else None
        return None

    # -- decide and wait -------------------------------------------------------------------------

    def decide(self, request: TrainingRequest | str) -> Decision:
        """The verdict on ``request`` (re-read from the store when given by id) for this run."""
        if isinstance(request, str):
            request = self.requests.get(request)
        return decide(request, self.key, self.requests.now())

    def wait(self, request_id: str, *, poll_interval: float = 1.0,
             timeout: float | None = None) -> Decision | None:
        """Poll until the request is decided (None after ``timeout`` seconds)."""
        return wait_for_decision(self.requests, request_id, self.key,
                                 poll_interval=poll_interval, timeout=timeout)

    # -- claim -----------------------------------------------------------------------------------

    def claim(self, request: TrainingRequest | str) -> Claim:
        """Claim the approved request for this run, exactly once; a retry gets its own claim.

        Raises :class:`GateClosed` when the request cannot pay for this run (still pending,
        rejected, expired, claimed by another run, its approval void or lapsed).
        """
        decision = self.decide(request)
        if decision.verdict == Verdict.CLAIMED:
            return Claim.of(decision.request)
        if decision.verdict != Verdict.CLAIM:
            raise GateClosed(decision)
        try:
            claimed = self.requests.claim(decision.request.id, self.key, self.actor.principal,
                                          step=self.actor.step)
        except InvalidTransition as e:
            again = self.decide(decision.request.id)
            if again.verdict == Verdict.CLAIMED:  # another try of this run won the race
                return Claim.of(again.request)
            raise GateClosed(attrs.evolve(again, reason=e.message), hint=e.hint) from e
        except RequestError as e:
            raise GateClosed(attrs.evolve(decision, verdict=Verdict.REFUSED, reason=e.message),
                             hint=e.hint) from e
        return Claim.of(claimed)

    def approval_facet(self, claim: Claim) -> TraclineApprovalRunFacet:
        """The ``tracline_approval`` facet for the claimed run's events."""
        return self.requests.approval_facet(claim.request_id)

    # -- settle ----------------------------------------------------------------------------------

    def settle(self, claim: Claim, outcome: Outcome) -> Settlement:
        """Record how the claimed run ended: completed or failed, with the run's cost.

        The cost is the ``tracline_gpuCost`` the run recorded. When it recorded none (no GPU
        was measured, none declared, or capture failed), the request is settled all the same,
        with an *estimated* cost — the approved GPUs over the run's wall time — and the
        settlement's ``note`` says so: a request never stays claimed for want of a figure.
        Settling twice is harmless; a run the orchestrator retries (``final=False``) keeps
        its claim.
        """
        if not outcome.final:
            return Settlement(None)
        current = self.requests.get(claim.request_id)
        if current.run_id == claim.run_id and current.state in {State.COMPLETED, State.FAILED}:
            return Settlement(current)
        cost, note = outcome.gpu_cost, None
        if cost is None:
            cost, note = self._estimate(claim, outcome)
        who = {"run_id": claim.run_id, "actor": self.actor.principal, "step": self.actor.step}
        if outcome.succeeded and not outcome.over_time:
            return Settlement(self.requests.complete(claim.request_id, cost, **who), note)
        reason = outcome.error or (claim.overrun_reason(self.actor.step or f"run {claim.run_id}")
                                   if outcome.over_time else "the run failed")
        return Settlement(self.requests.fail(claim.request_id, reason[:2000], gpu_cost=cost,
                                             **who), note)

    def _estimate(self, claim: Claim, outcome: Outcome) -> tuple[TraclineGpuCostRunFacet, str]:
        from tracline.events import gpu_cost_facet
        from tracline.gpu import gpu_cost

        wall, basis = outcome.wall_seconds, "the run's wall time"
        if wall is None:
            since = dt.datetime.fromisoformat(claim.claimed_at) if claim.claimed_at else None
            wall = max(0.0, (self.requests.now() - since).total_seconds()) if since else 0.0
            basis = "the time since the claim"
        figures = gpu_cost(None, wall_seconds=wall, declared_gpus=claim.gpu_count,
                           declared_model=claim.gpu_model, config=self.config)
        facet = TraclineGpuCostRunFacet(
            measurement="estimated", gpuModel=claim.gpu_model, gpuCount=claim.gpu_count,
            gpuSeconds=round(claim.gpu_count * wall, 3), wallSeconds=round(wall, 3),
        ) if figures is None else gpu_cost_facet({**figures, "measurement": "estimated"})
        note = (f"no GPU cost was measured or declared for {claim.request_id}; recorded an "
                f"estimate: {claim.gpu_count} × {claim.gpu_model} for {wall:.0f} s "
                f"(the approved GPUs over {basis})")
        return facet, note
