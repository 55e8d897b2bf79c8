"""Budgets: actual cost from a run's ``tracline_gpuCost`` facet, spend reports, run caps."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import attrs

from tracline.approvals._estimate import CENT
from tracline.approvals._model import Completion, Money, State, TrainingRequest, iso
from tracline.config import Config
from tracline.errors import ValidationError
from tracline.facets import Estimate as FacetEstimate
from tracline.facets import Money as FacetMoney
from tracline.facets import TraclineApprovalRunFacet, TraclineGpuCostRunFacet
from tracline.gpu import normalize_model, price_for

__all__ = ["GROUPS", "SpendRow", "approval_facet", "approved_time_limit", "completion", "spend"]

#: What ``spend`` can group by.
GROUPS = ("requester", "agent", "kind", "project", "request")
_COMMITTED = {State.APPROVED, State.CLAIMED, State.COMPLETED, State.FAILED}


def _number(field: str, value: object) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        number = Decimal("nan")
    if not number.is_finite() or number < 0:
        raise ValidationError(f"gpu_cost.{field}", f"{value!r} is not a non-negative number")
    return number


def completion(request: TrainingRequest, facet: TraclineGpuCostRunFacet, run_id: str,
               config: Config, now: dt.datetime) -> Completion:
    """The actual cost of the run that claimed ``request``, compared with its budget."""
    if not isinstance(facet, TraclineGpuCostRunFacet):
        raise ValidationError("gpu_cost", f"expected a TraclineGpuCostRunFacet, got "
                              f"{type(facet).__name__}")
    gpu_hours = _number("gpuSeconds", facet.gpuSeconds) / 3600
    currency = facet.currency or request.budget.currency
    source = facet.priceSource
    if facet.cost is not None:
        actual = _number("cost", facet.cost)
    else:
        if facet.pricePerGpuHour is not None:
            per_hour = _number("pricePerGpuHour", facet.pricePerGpuHour)
        else:
            price = price_for(facet.gpuModel, config)
            per_hour, currency, source = price.per_gpu_hour, price.currency, price.source
        actual = gpu_hours * per_hour
    if currency != request.budget.currency:
        raise ValidationError("gpu_cost.currency", f"the run's cost is in {currency} but the "
                              f"budget of {request.id} is in {request.budget.currency}",
                              hint="price the run in the budget's currency")
    actual = actual.quantize(CENT, ROUND_HALF_UP)
    over = actual - request.budget.amount
    return Completion(
        run_id=run_id, measurement=facet.measurement, gpu_model=normalize_model(facet.gpuModel),
        gpu_count=int(facet.gpuCount),
        gpu_hours=gpu_hours.quantize(Decimal("0.000001"), ROUND_HALF_UP),
        actual=Money(actual, currency), price_source=source, overrun=over > 0,
        overrun_by=Money(max(over, Decimal(0)), currency),
        gpu_hours_over=gpu_hours > request.gpu_hours, recorded_at=now,
    )


def approved_time_limit(request: TrainingRequest) -> dt.timedelta:
    """The wall-clock cap of the run: approved GPU-hours ÷ GPU count."""
    return dt.timedelta(hours=float(request.gpu_hours / request.compute.gpu_count))


def approval_facet(request: TrainingRequest) -> TraclineApprovalRunFacet:
    """The ``tracline_approval`` run facet for the START event of the run that claimed it."""
    approvals = [a for a in request.approvals if a.digest == request.digest]
    if request.state not in {State.APPROVED, State.CLAIMED, State.COMPLETED, State.FAILED} or (
        not approvals
    ):
        raise ValidationError("request", f"{request.id} is {request.state} and carries no "
                              "approval of its current content",
                              hint="only an approved (or claimed) request has an approval facet")
    return TraclineApprovalRunFacet(
        requestId=request.id,
        requestDigest=request.digest,
        approvedBy=list(dict.fromkeys(a.actor for a in approvals)),
        decidedAt=iso(max(a.decided_at for a in approvals)),
        budget=FacetMoney(float(request.budget.amount), request.budget.currency),
        requester=request.requester,
        estimate=FacetEstimate(float(request.estimate.amount), request.estimate.currency,
                               request.estimate.arithmetic),
        approvedGpuHours=float(request.gpu_hours),
    )


@attrs.frozen
class SpendRow:
    """GPU-hours and money of one group: approved (estimate, budget) against actual."""

    group: str
    key: str
    currency: str
    requests: int
    approved_gpu_hours: Decimal
    actual_gpu_hours: Decimal
    estimate: Decimal
    budget: Decimal
    actual: Decimal
    overruns: int


def _key(request: TrainingRequest, group: str) -> str | None:
    if group == "agent":
        return request.requester if request.requester.startswith("agent:") else None
    if group == "kind":
        return request.requester.split(":", 1)[0]
    if group == "request":
        return request.id
    return str(getattr(request, group))


def spend(requests: Iterable[TrainingRequest], group: str) -> list[SpendRow]:
    """Aggregate approved and spent money by ``group`` (one of :data:`GROUPS`)."""
    if group not in GROUPS:
        raise ValidationError("group_by", f"{group!r} is not one of {', '.join(GROUPS)}")
    rows: dict[tuple[str, str], list[TrainingRequest]] = {}
    for r in requests:
        key = _key(r, group)
        if key is not None and r.state in _COMMITTED:
            rows.setdefault((key, r.budget.currency), []).append(r)
    result = []
    for (key, currency), members in sorted(rows.items()):
        done = [r.completion for r in members if r.completion is not None]
        result.append(SpendRow(
            group, key, currency, len(members),
            sum((r.gpu_hours for r in members), Decimal(0)),
            sum((c.gpu_hours for c in done), Decimal(0)),
            sum((r.estimate.amount for r in members), Decimal(0)),
            sum((r.budget.amount for r in members), Decimal(0)),
            sum((c.actual.amount for c in done), Decimal(0)),
            sum(1 for c in done if c.overrun),
        ))
    return result
