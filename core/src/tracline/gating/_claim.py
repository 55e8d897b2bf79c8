"""What a claimed run carries, what acts for it, and how it ended.

A :class:`Claim` is plain JSON-able data (:meth:`Claim.to_payload`), so it travels wherever
an orchestrator passes values between processes — an Airflow XCom, a Prefect result or
parameter, a Dagster run tag — and the step that settles the request rebuilds it with
:meth:`Claim.from_payload`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from tracline.approvals import TrainingRequest, approved_time_limit, run_principal
from tracline.errors import ValidationError

if TYPE_CHECKING:
    from tracline.capture import RunRecord
    from tracline.facets import TraclineGpuCostRunFacet

__all__ = ["Claim", "Outcome", "RunActor"]


@attrs.frozen
class RunActor:
    """The automated step that acts on a request: recorded as the actor in the audit log.

    ``orchestrator`` is a short name (``airflow``, ``prefect``, ``dagster``, ``tracline``),
    ``run_id`` the run that acts (e.g. the OpenLineage run id of an Airflow task try), and
    ``step`` that step in words (``train_pipeline.approve_train manual__… try 1``).
    """

    orchestrator: str
    run_id: str
    step: str | None = None

    @property
    def principal(self) -> str:
        """``run:<orchestrator>/<run id>``: the actor written to the audit log."""
        return run_principal(self.orchestrator, self.run_id)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


@attrs.frozen
class Claim:
    """An approved request claimed by one orchestrator run: what that run may spend."""

    request_id: str
    digest: str
    #: The claim key: the run the request is bound to (stable across the run's retries).
    run_id: str
    approved_by: tuple[str, ...]
    gpu_model: str
    gpu_count: int
    approved_gpu_hours: float
    time_limit_seconds: float
    budget: str
    currency: str
    claimed_at: str | None = None

    @classmethod
    def of(cls, request: TrainingRequest) -> Claim:
        """The claim a request in state ``claimed`` records."""
        if request.run_id is None:
            raise ValidationError("request", f"{request.id} is {request.state}, not claimed",
                                  hint="claim it first")
        return cls(
            request_id=request.id, digest=request.digest, run_id=request.run_id,
            approved_by=tuple(sorted({a.actor for a in request.approvals
                                      if a.digest == request.digest})),
            gpu_model=request.compute.gpu_model, gpu_count=request.compute.gpu_count,
            approved_gpu_hours=float(request.gpu_hours),
            time_limit_seconds=approved_time_limit(request).total_seconds(),
            budget=str(request.budget.amount), currency=request.budget.currency,
            claimed_at=_iso(request.claimed_at) if request.claimed_at else None,
        )

    @property
    def time_limit(self) -> dt.timedelta:
        """The wall-clock time the approval pays for: approved GPU-hours ÷ GPU count."""
        return dt.timedelta(seconds=self.time_limit_seconds)

    def overrun_reason(self, step: str) -> str:
        """Why ``step`` was stopped: it ran past the time its approval pays for."""
        return (f"{step} ran past the approved time limit of {self.time_limit} "
                f"({self.approved_gpu_hours} GPU-hours on {self.gpu_count} × "
                f"{self.gpu_model} approved in {self.request_id}) and was stopped")

    def to_payload(self) -> dict[str, Any]:
        """JSON values only (no store credentials): what the orchestrator hands downstream."""
        payload = attrs.asdict(self)
        payload["approved_by"] = list(self.approved_by)
        return payload

    @classmethod
    def from_payload(cls, value: object) -> Claim:
        """Rebuild a claim from :meth:`to_payload`'s output; ValidationError if malformed."""
        if not isinstance(value, Mapping) or "request_id" not in value:
            raise ValidationError("claim", f"expected a claim payload, got {type(value).__name__}",
                                  hint="pass on what the gate returned")
        names = {f.name for f in attrs.fields(cls)}
        try:
            fields = {k: v for k, v in value.items() if k in names}
            fields["approved_by"] = tuple(fields.get("approved_by", ()))
            claim = cls(**fields)
            return attrs.evolve(claim, gpu_count=int(claim.gpu_count),
                                approved_gpu_hours=float(claim.approved_gpu_hours),
                                time_limit_seconds=float(claim.time_limit_seconds))
        except (TypeError, ValueError) as e:
            raise ValidationError("claim", f"malformed claim payload: {e}",
                                  hint="pass on what the gate returned") from e


@attrs.frozen
class Outcome:
    """How a gated run ended, as its front door saw it."""

    succeeded: bool
    #: The ``tracline_gpuCost`` facet the run recorded (measured or declared), if any.
    gpu_cost: TraclineGpuCostRunFacet | None = None
    wall_seconds: float | None = None
    #: Why it failed, in words (default: the approved time ran out, or "the run failed").
    error: str | None = None
    #: Stopped because it ran past the approved time limit.
    over_time: bool = False
    #: False when the orchestrator will retry it under the same claim: nothing is settled.
    final: bool = True

    @classmethod
    def of_record(cls, record: RunRecord, *, over_time: bool = False,
                  final: bool = True) -> Outcome:
        """The outcome of a captured run (``tracline.capture``'s :class:`RunRecord`).

        A run stopped at the time limit is failed for that reason, not for the signal that
        stopped it.
        """
        from tracline.events import gpu_cost_facet

        return cls(succeeded=record.succeeded and not over_time,
                   gpu_cost=gpu_cost_facet(record.gpu) if record.gpu is not None else None,
                   wall_seconds=record.wall_seconds,
                   error=None if over_time else record.error, over_time=over_time, final=final)
