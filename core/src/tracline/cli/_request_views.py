"""Training requests, the audit log and spend, for people."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from tracline.approvals import (
    AuditEntry,
    Money,
    Requests,
    SpendRow,
    State,
    TrainingRequest,
    approved_time_limit,
    fit_line,
)
from tracline.cli._output import Column, fields, number, table

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["audit_table", "request_list", "request_view", "spend_table"]


def _when(moment: dt.datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "?"


def _compute(r: TrainingRequest, sep: str = " × ") -> str:
    return (f"{r.compute.gpu_count}{sep}{r.compute.gpu_model}{sep}"
            f"{number(r.compute.hours)}{' ' if sep == ' × ' else ''}h")


def request_view(svc: Requests, r: TrainingRequest) -> RenderableType:
    """One request: estimate arithmetic, budget fit, approvals, outcome, digest."""
    from rich.console import Group
    from rich.text import Text

    rows: list[tuple[str, object]] = [
        ("requester", f"{r.requester}   project {r.project}"),
        *(("dataset", f"{d.uri}  {d.digest}") for d in r.datasets)]
    if r.base_model:
        rows.append(("base model", f"{r.base_model.ref}  {r.base_model.digest}"))
    if r.code_ref:
        rows.append(("code", r.code_ref))
    rows += [
        ("compute", f"{_compute(r)} = {number(r.gpu_hours)} GPU-h "
                    f"(time limit {approved_time_limit(r)})"),
        ("estimate", r.estimate.arithmetic),
        ("budget", f"{r.budget} — {fit_line(r.budget, r.estimate)}")]
    if r.over_estimate:
        rows.append(("override", f"budget below estimate accepted: {r.over_estimate}"))
    required = svc.policy.required_approvals(r)
    rows.append(("reviewers", f"{svc.policy.describe(r)} ({required} approval(s) needed)"))
    now = svc.now()
    for a in r.approvals:
        status = ("valid" if a.digest == r.digest and a.expires_at > now else
                  "void: request changed since" if a.digest != r.digest else "expired")
        rows.append(("approval", f"{a.actor} at {_when(a.decided_at)}, until "
                     f"{a.expires_at:%Y-%m-%d %H:%M} ({status})"
                     + (f" — {a.note}" if a.note else "")))
    if r.state_note and r.state in {State.REJECTED, State.CANCELLED, State.FAILED}:
        rows.append((r.state.value, f"by {r.state_actor}: {r.state_note}"))
    if r.run_id:
        rows.append(("claimed", f"by run {r.run_id} ({r.claimed_by}) at "
                     f"{r.claimed_at:%Y-%m-%d %H:%M}" if r.claimed_at else f"by run {r.run_id}"))
    if c := r.completion:
        flag = f"OVERRUN by {c.overrun_by}" if c.overrun else "within budget"
        if c.gpu_hours_over:
            flag += f"; more than the approved {number(r.gpu_hours)} GPU-h"
        rows.append(("actual", f"{c.actual} for {number(c.gpu_hours)} GPU-h "
                     f"({c.measurement}) vs budget {r.budget}: {flag}"))
    rows += [("expires", _when(r.expires_at)), ("digest", r.digest),
             ("rationale", r.rationale)]
    head = Text.assemble((r.id, "bold"), "  ", (r.state.value, "cyan"), "  ", r.title)
    return Group(head, fields(rows, indent=2))


def request_list(found: Sequence[TrainingRequest]) -> RenderableType:
    """Requests as a table: ids, states and budgets whole; on a narrow terminal the title gets
    the room first, requester and project are cut with "…", and the estimate, then the
    compute, then the project are left out when they do not fit (``request show`` has all)."""
    columns = [Column("id"), Column("state"), Column("requester", flexible=True, min_width=14),
               Column("project", flexible=True, min_width=10, drop=1),
               Column("compute", drop=2), Column("estimate", justify="right", drop=3),
               Column("budget", justify="right"),
               Column("title", flexible=True, min_width=20, priority=1)]
    rows = [(r.id, r.state.value, r.requester, r.project, _compute(r, "×"), r.estimate.money,
             r.budget, r.title) for r in found]
    return table(columns, rows)


def _short(value: object, limit: int = 24) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def audit_table(entries: Sequence[AuditEntry]) -> RenderableType:
    """The audit log, oldest first."""
    rows = []
    for e in entries:
        details = ", ".join(f"{k}={_short(v)}" for k, v in sorted(e.details.items())
                            if v is not None and k not in {"estimate", "title"})
        rows.append((e.seq, e.at[:19].replace("T", " "), e.actor, e.action, e.request_id or "",
                     details))
    columns = [Column("seq", justify="right"), Column("at"), Column("actor", flexible=True),
               Column("action"), Column("request", drop=1),
               Column("details", flexible=True, min_width=12)]
    return table(columns, rows)


def spend_table(group_by: str, rows: Sequence[SpendRow]) -> RenderableType:
    """Spend per group: GPU-hours approved and used, estimate, budget, actual, overruns."""
    def money(amount: Any, currency: str) -> str:
        return str(Money(amount, currency))

    columns = [Column(group_by, flexible=True, min_width=12), Column("requests", justify="right"),
               Column("GPU-h approved", justify="right"), Column("GPU-h used", justify="right"),
               Column("estimate", justify="right", drop=1),
               Column("budget", justify="right"), Column("actual", justify="right"),
               Column("overruns", justify="right")]
    cells = [(row.key, row.requests, number(row.approved_gpu_hours),
              number(row.actual_gpu_hours.quantize(Decimal("0.01"))),
              money(row.estimate, row.currency), money(row.budget, row.currency),
              money(row.actual, row.currency), row.overruns) for row in rows]
    return table(columns, cells)
