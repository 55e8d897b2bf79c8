"""Requests, policies, audit entries and errors as the team server's JSON carries them.

A request travels as :func:`request_dict` plus its canonical ``content`` (what the digest
covers, with exact decimals) and its stored completion record, so the client rebuilds the
same :class:`TrainingRequest` the server holds, digest and all. Errors travel as their class
name, message, hint and field, and are raised again as the same class on the client.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from tracline import errors
from tracline.approvals._audit import AuditEntry, AuditProblem, AuditReport
from tracline.approvals._budget import SpendRow
from tracline.approvals._export import request_dict
from tracline.approvals._model import (
    Approval,
    DatasetRef,
    ModelRef,
    RequestSpec,
    State,
    TrainingRequest,
    completion_from_json,
    completion_json,
    content_fields,
    iso,
)
from tracline.approvals._review_policy import ReviewPolicy

__all__ = ["audit_from_wire", "error_from_wire", "error_to_wire", "policy_from_wire",
           "policy_to_wire", "report_from_wire", "request_from_wire", "request_to_wire",
           "spec_from_wire", "spec_to_wire", "spend_from_wire"]


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


def request_to_wire(r: TrainingRequest, required_approvals: int | None = None) -> dict[str, Any]:
    """A request as the server sends it."""
    data = request_dict(r, required_approvals=required_approvals)
    data["content"] = r.content()
    data["completion_record"] = completion_json(r.completion) if r.completion else None
    return data


def request_from_wire(data: Mapping[str, Any]) -> TrainingRequest:
    """The request the server sent."""
    approvals = tuple(
        Approval(a["actor"], a["digest"], dt.datetime.fromisoformat(a["decided_at"]),
                 dt.datetime.fromisoformat(a["expires_at"]), a.get("note"),
                 a.get("signature"), a.get("via"))
        for a in data.get("approvals") or ())
    return TrainingRequest(
        id=data["id"], state=State(data["state"]), digest=data["digest"],
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        updated_at=dt.datetime.fromisoformat(data["updated_at"]), approvals=approvals,
        run_id=data.get("run_id"), claimed_by=data.get("claimed_by"),
        claimed_at=_time(data.get("claimed_at")), state_actor=data.get("state_actor"),
        state_note=data.get("state_note"),
        completion=completion_from_json(data.get("completion_record")),
        **content_fields(data["content"]),
    )


def spec_to_wire(spec: RequestSpec) -> dict[str, Any]:
    """A spec as the client files it."""
    def ref(item: DatasetRef | ModelRef | str) -> dict[str, Any]:
        if isinstance(item, DatasetRef):
            return {"uri": item.uri, "digest": item.digest}
        if isinstance(item, ModelRef):
            return {"uri": item.ref, "digest": item.digest}
        return {"uri": str(item), "digest": None}

    return {
        "title": spec.title, "requester": spec.requester, "project": spec.project,
        "datasets": [ref(d) for d in spec.datasets], "gpu_model": spec.gpu_model,
        "gpu_count": spec.gpu_count, "hours": str(spec.hours), "budget": str(spec.budget),
        "rationale": spec.rationale, "currency": spec.currency,
        "base_model": ref(spec.base_model) if spec.base_model else None,
        "code_ref": spec.code_ref, "reviewers": list(spec.reviewers),
        "min_approvals": spec.min_approvals,
        "expires_at": iso(spec.expires_at) if spec.expires_at else None,
        "over_estimate": spec.over_estimate,
    }


def spec_from_wire(data: Mapping[str, Any]) -> RequestSpec:
    """The spec a client filed (validated afterwards by the service, field by field)."""
    base = data.get("base_model")
    expires = data.get("expires_at")
    try:
        expires_at = dt.datetime.fromisoformat(expires) if expires else None
    except ValueError:
        raise errors.ValidationError("expires_at", f"{expires!r} is not an ISO timestamp"
                                     ) from None
    return RequestSpec(
        title=data["title"], requester=data["requester"], project=data["project"],
        datasets=[DatasetRef(d["uri"], d.get("digest")) for d in data["datasets"]],
        gpu_model=data["gpu_model"], gpu_count=data["gpu_count"], hours=data["hours"],
        budget=data["budget"], rationale=data["rationale"],
        currency=data.get("currency") or "USD",
        base_model=ModelRef(base["uri"], base.get("digest")) if base else None,
        code_ref=data.get("code_ref"), reviewers=tuple(data.get("reviewers") or ()),
        min_approvals=data.get("min_approvals", 1), expires_at=expires_at,
        over_estimate=data.get("over_estimate"),
    )


def policy_to_wire(p: ReviewPolicy) -> dict[str, Any]:
    """The review policy in force on the server."""
    def money(v: Decimal | None) -> str | None:
        return None if v is None else str(v)

    return {"reviewers": list(p.reviewers), "groups": {k: list(v) for k, v in p.groups.items()},
            "auto_approve_below": money(p.auto_approve_below),
            "two_approvals_above": money(p.two_approvals_above), "currency": p.currency,
            "approval_ttl_seconds": p.approval_ttl.total_seconds(),
            "request_ttl_seconds": p.request_ttl.total_seconds(),
            "max_request_ttl_seconds": p.max_request_ttl.total_seconds()}


def policy_from_wire(d: Mapping[str, Any]) -> ReviewPolicy:
    """The server's review policy, as a local object."""
    def money(v: str | None) -> Decimal | None:
        return None if v is None else Decimal(v)

    return ReviewPolicy(
        reviewers=tuple(d["reviewers"]), groups={k: tuple(v) for k, v in d["groups"].items()},
        auto_approve_below=money(d["auto_approve_below"]),
        two_approvals_above=money(d["two_approvals_above"]), currency=d["currency"],
        approval_ttl=dt.timedelta(seconds=d["approval_ttl_seconds"]),
        request_ttl=dt.timedelta(seconds=d["request_ttl_seconds"]),
        max_request_ttl=dt.timedelta(seconds=d["max_request_ttl_seconds"]))


def audit_from_wire(rows: list[Mapping[str, Any]]) -> list[AuditEntry]:
    """Audit entries the server sent."""
    return [AuditEntry(r["seq"], r["at"], r["actor"], r["action"], r.get("request_id"),
                       dict(r["details"]), r["prev_hash"], r["hash"]) for r in rows]


def report_from_wire(d: Mapping[str, Any]) -> AuditReport:
    """The server's verification of its audit chain."""
    return AuditReport(d["ok"], d["entries"], d["head_seq"], d["head_hash"],
                       tuple(AuditProblem(p["seq"], p["problem"]) for p in d["problems"]))


def spend_from_wire(rows: list[Mapping[str, Any]]) -> list[SpendRow]:
    """Spend rows the server sent (exact decimals from their text)."""
    def num(v: Any) -> Decimal:
        return Decimal(str(v))

    return [SpendRow(r["group"], r["key"], r["currency"], int(r["requests"]),
                     num(r["approved_gpu_hours"]), num(r["actual_gpu_hours"]),
                     num(r["estimate"]), num(r["budget"]), num(r["actual"]),
                     int(r["overruns"])) for r in rows]


_ERRORS: dict[str, type[errors.TraclineError]] = {
    name: getattr(errors, name) for name in errors.__all__
}


def error_to_wire(e: errors.TraclineError) -> dict[str, Any]:
    """An error as the server answers it."""
    return {"error": {"type": type(e).__name__, "message": e.message, "hint": e.hint,
                      "field": getattr(e, "field", None)}}


def error_from_wire(status: int, body: bytes) -> errors.TraclineError:
    """The same error on the client (a StoreError when the answer is not tracline's)."""
    try:
        data = json.loads(body)["error"]
        cls = _ERRORS.get(data["type"], errors.RequestError)
        message, hint = str(data["message"]), data.get("hint")
    except (ValueError, KeyError, TypeError):
        text = body[:200].decode(errors="replace")
        return errors.StoreError(f"the tracline server answered {status}: {text}",
                                 hint="check TRACLINE_URL points at tracline serve")
    error = cls.__new__(cls)
    errors.TraclineError.__init__(error, message, hint=hint)
    if isinstance(error, errors.ValidationError):
        error.field = data.get("field") or "request"
    if isinstance(error, errors.SinkError):
        error.permanent, error.status = False, None
    if isinstance(error, errors.CommandNotFound):
        error.exit_code = 127
    return error
