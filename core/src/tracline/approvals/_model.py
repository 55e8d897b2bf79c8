"""Training-request types: the spec a requester files, the stored request, its states."""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

__all__ = [
    "TERMINAL",
    "TRANSITIONS",
    "Approval",
    "Completion",
    "Compute",
    "DatasetRef",
    "Estimate",
    "ModelRef",
    "Money",
    "RequestSpec",
    "State",
    "TrainingRequest",
    "canonical_json",
    "completion_from_json",
    "completion_json",
    "content_digest",
    "iso",
]


class State(enum.StrEnum):
    """Where a training request is in its life."""

    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    CLAIMED = "claimed"
    COMPLETED = "completed"
    FAILED = "failed"


#: The only transitions there are; anything else is refused. approved → pending happens only
#: when the requester amends an approved request, which voids its approvals.
TRANSITIONS: dict[State, frozenset[State]] = {
    State.PENDING: frozenset(
        {State.APPROVED, State.REJECTED, State.EXPIRED, State.CANCELLED}
    ),
    State.APPROVED: frozenset({State.CLAIMED, State.PENDING}),
    State.CLAIMED: frozenset({State.COMPLETED, State.FAILED}),
}
TERMINAL = frozenset(State) - set(TRANSITIONS)


def iso(moment: dt.datetime) -> str:
    """A UTC timestamp in one fixed format, so stored timestamps compare as strings."""
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def dec(value: Decimal) -> str:
    """A decimal as plain text without exponent or trailing zeros (``3.2``, ``984``)."""
    text = format(value.normalize(), "f")
    return text


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no insignificant whitespace: the input of every digest."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def content_digest(content: Mapping[str, Any]) -> str:
    """``sha256:<hex>`` of the canonical JSON of a request's substantive fields."""
    return "sha256:" + hashlib.sha256(canonical_json(content).encode()).hexdigest()


@attrs.frozen
class Money:
    """An amount of money in an ISO 4217 currency."""

    amount: Decimal
    currency: str = "USD"

    def __str__(self) -> str:
        symbol = {"USD": "$", "EUR": "€", "GBP": "£"}.get(self.currency)
        text = f"{self.amount:,.2f}"
        return f"{symbol}{text}" if symbol else f"{text} {self.currency}"


@attrs.frozen
class DatasetRef:
    """A dataset by URI and content digest (a local path without digest gets hashed)."""

    uri: str
    digest: str | None = None


@attrs.frozen
class ModelRef:
    """A base model by reference and content digest."""

    ref: str
    digest: str | None = None


@attrs.frozen
class Compute:
    """What the request will run on: GPU model × count × hours."""

    gpu_model: str
    gpu_count: int
    hours: Decimal

    @property
    def gpu_hours(self) -> Decimal:
        """GPU count × hours."""
        return self.gpu_count * self.hours


@attrs.frozen
class Estimate:
    """count × hours × price per GPU-hour, with the price's source and date."""

    amount: Decimal
    currency: str
    per_gpu_hour: Decimal
    price_source: str
    price_as_of: dt.date
    arithmetic: str

    @property
    def money(self) -> Money:
        """The estimate as :class:`Money`."""
        return Money(self.amount, self.currency)


@attrs.frozen
class RequestSpec:
    """What a requester files; :meth:`RequestService.file` validates it field by field."""

    title: str
    requester: str
    project: str
    datasets: Sequence[DatasetRef | str]
    gpu_model: str
    gpu_count: int
    hours: Decimal | float | int | str
    budget: Decimal | float | int | str
    rationale: str
    currency: str = "USD"
    base_model: ModelRef | str | None = None
    code_ref: str | None = None
    reviewers: Sequence[str] = ()
    min_approvals: int = 1
    expires_at: dt.datetime | None = None
    #: Why a budget below the estimate is acceptable; recorded with the request.
    over_estimate: str | None = None


@attrs.frozen
class Approval:
    """One approval, bound to the request digest it saw, valid until ``expires_at``."""

    actor: str
    digest: str
    decided_at: dt.datetime
    expires_at: dt.datetime
    note: str | None = None
    #: An armored SSH signature over :func:`tracline.identity.approval_message`, made by the
    #: approver's key (``via="ssh"``) or a team server's key attesting them (``"server"``).
    signature: str | None = None
    via: str | None = None


@attrs.frozen
class Completion:
    """The measured outcome of a claimed run, recorded against the request's budget."""

    run_id: str
    measurement: str
    gpu_model: str
    gpu_count: int
    gpu_hours: Decimal
    actual: Money
    price_source: str | None
    overrun: bool
    overrun_by: Money
    gpu_hours_over: bool
    recorded_at: dt.datetime


@attrs.frozen
class TrainingRequest:
    """A filed training request as stored, with its state, approvals and outcome."""

    id: str
    state: State
    title: str
    requester: str
    project: str
    datasets: tuple[DatasetRef, ...]
    base_model: ModelRef | None
    code_ref: str | None
    compute: Compute
    budget: Money
    estimate: Estimate
    rationale: str
    reviewers: tuple[str, ...]
    min_approvals: int
    expires_at: dt.datetime
    over_estimate: str | None
    digest: str
    created_at: dt.datetime
    updated_at: dt.datetime
    #: How many times the request was amended. It is part of the content the digest covers,
    #: so an amendment back to earlier content still has a digest of its own: approvals of
    #: the earlier revision never count again.
    revision: int = 0
    approvals: tuple[Approval, ...] = ()
    run_id: str | None = None
    claimed_by: str | None = None
    claimed_at: dt.datetime | None = None
    state_actor: str | None = None
    state_note: str | None = None
    completion: Completion | None = None

    @property
    def gpu_hours(self) -> Decimal:
        """The approved (or requested) GPU-hours."""
        return self.compute.gpu_hours

    @property
    def shortfall(self) -> Money | None:
        """How much the estimate exceeds the budget, or None when it fits."""
        gap = self.estimate.amount - self.budget.amount
        return Money(gap, self.budget.currency) if gap > 0 else None

    def valid_approvals(self, now: dt.datetime) -> tuple[Approval, ...]:
        """Approvals that still hold: for this exact content and not expired."""
        return tuple(
            a for a in self.approvals if a.digest == self.digest and a.expires_at > now
        )

    def content(self) -> dict[str, Any]:
        """The substantive fields, as hashed into :attr:`digest`."""
        return request_content(self)


def request_content(r: TrainingRequest) -> dict[str, Any]:
    """The canonical content of a request: what an approval binds to.

    ``revision`` appears once the request was amended (a request never amended has the digest
    it had before revisions were counted).
    """
    e = r.estimate
    revision = {"revision": r.revision} if r.revision else {}
    return revision | {
        "title": r.title,
        "requester": r.requester,
        "project": r.project,
        "datasets": [{"uri": d.uri, "digest": d.digest} for d in r.datasets],
        "base_model": (
            {"ref": r.base_model.ref, "digest": r.base_model.digest} if r.base_model else None
        ),
        "code_ref": r.code_ref,
        "compute": {
            "gpu_model": r.compute.gpu_model,
            "gpu_count": r.compute.gpu_count,
            "hours": dec(r.compute.hours),
        },
        "budget": {"amount": dec(r.budget.amount), "currency": r.budget.currency},
        "estimate": {
            "amount": dec(e.amount),
            "currency": e.currency,
            "per_gpu_hour": dec(e.per_gpu_hour),
            "price_source": e.price_source,
            "price_as_of": e.price_as_of.isoformat(),
            "arithmetic": e.arithmetic,
        },
        "rationale": r.rationale,
        "reviewers": {"required": list(r.reviewers), "min_approvals": r.min_approvals},
        "expires_at": iso(r.expires_at),
        "over_estimate": r.over_estimate,
    }


def content_fields(content: Mapping[str, Any]) -> dict[str, Any]:
    """The keyword arguments of :class:`TrainingRequest` that ``content`` holds."""
    e = content["estimate"]
    base = content.get("base_model")
    return {
        "title": content["title"],
        "requester": content["requester"],
        "project": content["project"],
        "datasets": tuple(DatasetRef(d["uri"], d["digest"]) for d in content["datasets"]),
        "base_model": ModelRef(base["ref"], base["digest"]) if base else None,
        "code_ref": content.get("code_ref"),
        "compute": Compute(
            content["compute"]["gpu_model"],
            int(content["compute"]["gpu_count"]),
            Decimal(content["compute"]["hours"]),
        ),
        "budget": Money(Decimal(content["budget"]["amount"]), content["budget"]["currency"]),
        "estimate": Estimate(
            Decimal(e["amount"]),
            e["currency"],
            Decimal(e["per_gpu_hour"]),
            e["price_source"],
            dt.date.fromisoformat(e["price_as_of"]),
            e["arithmetic"],
        ),
        "rationale": content["rationale"],
        "reviewers": tuple(content["reviewers"]["required"]),
        "min_approvals": int(content["reviewers"]["min_approvals"]),
        "expires_at": dt.datetime.fromisoformat(content["expires_at"]),
        "over_estimate": content.get("over_estimate"),
        "revision": int(content.get("revision", 0)),
    }


def completion_json(c: Completion) -> str:
    """A completion record as stored."""
    return canonical_json({
        "run_id": c.run_id, "measurement": c.measurement, "gpu_model": c.gpu_model,
        "gpu_count": c.gpu_count, "gpu_hours": str(c.gpu_hours),
        "actual": str(c.actual.amount), "currency": c.actual.currency,
        "price_source": c.price_source, "overrun": c.overrun,
        "overrun_by": str(c.overrun_by.amount), "gpu_hours_over": c.gpu_hours_over,
        "recorded_at": iso(c.recorded_at),
    })


def completion_from_json(text: str | None) -> Completion | None:
    """The completion record :func:`completion_json` stored (None for none)."""
    if not text:
        return None
    d = json.loads(text)
    return Completion(
        d["run_id"], d["measurement"], d["gpu_model"], int(d["gpu_count"]),
        Decimal(d["gpu_hours"]), Money(Decimal(d["actual"]), d["currency"]), d["price_source"],
        bool(d["overrun"]), Money(Decimal(d["overrun_by"]), d["currency"]),
        bool(d["gpu_hours_over"]), dt.datetime.fromisoformat(d["recorded_at"]),
    )
