"""Training requests: filed by people or agents, approved by people before the money moves.

A request names its datasets (with digests), base model, code, compute (GPU model × count ×
hours), budget and the estimate's arithmetic, rationale and reviewers. Approvals bind to the
request's digest and expire; a run claims an approved request exactly once and its measured
cost is recorded against the budget. Every change is an entry in a hash-chained audit log.

    from tracline.approvals import RequestSpec, open_requests

    requests = open_requests()
    r = requests.file(RequestSpec(title="...", requester="agent:trainer", ...))
"""

from __future__ import annotations

TYPE_CHECKING = False  # names load on first use: a client of the team server needs no SQL
if TYPE_CHECKING:
    from typing import TypeAlias

    from tracline.approvals._audit import (
        AuditEntry,
        AuditProblem,
        AuditReport,
    )
    from tracline.approvals._budget import (
        GROUPS,
        SpendRow,
        approval_facet,
        approved_time_limit,
    )
    from tracline.approvals._estimate import (
        estimate,
        fit_line,
    )
    from tracline.approvals._export import (
        jsonable,
        request_dict,
    )
    from tracline.approvals._model import (
        TERMINAL,
        TRANSITIONS,
        Approval,
        Completion,
        Compute,
        DatasetRef,
        Estimate,
        ModelRef,
        Money,
        RequestSpec,
        State,
        TrainingRequest,
    )
    from tracline.approvals._open import open_requests
    from tracline.approvals._remote import (
        RemoteRequests,
        server_token,
        server_url,
    )
    from tracline.approvals._review_policy import (
        AUTO_APPROVER,
        EXPIRY_ACTOR,
        ReviewPolicy,
        parse_duration,
    )
    from tracline.approvals._service import RequestService
    from tracline.approvals._validate import (
        run_principal,
        validate_request,
    )
    from tracline.approvals._wire import (
        error_from_wire,
        error_to_wire,
        policy_to_wire,
        request_from_wire,
        request_to_wire,
        spec_from_wire,
    )

    #: Where requests are reached: the local store, or a team server (``open_requests``).
    Requests: TypeAlias = RequestService | RemoteRequests

#: Public name -> the module defining it (loaded on first use, so that the team server's
#: client — an orchestrator's approval gate — does not import SQLAlchemy and the local store).
_EXPORTS = {
    "AUTO_APPROVER": "_review_policy", "Approval": "_model", "AuditEntry": "_audit",
    "AuditProblem": "_audit", "AuditReport": "_audit", "Completion": "_model",
    "Compute": "_model", "DatasetRef": "_model", "EXPIRY_ACTOR": "_review_policy",
    "Estimate": "_model", "GROUPS": "_budget", "ModelRef": "_model", "Money": "_model",
    "RemoteRequests": "_remote", "RequestService": "_service", "RequestSpec": "_model",
    "ReviewPolicy": "_review_policy", "SpendRow": "_budget", "State": "_model",
    "TERMINAL": "_model", "TRANSITIONS": "_model", "TrainingRequest": "_model",
    "approval_facet": "_budget", "approved_time_limit": "_budget", "error_from_wire": "_wire",
    "error_to_wire": "_wire", "estimate": "_estimate", "fit_line": "_estimate",
    "jsonable": "_export", "open_requests": "_open", "parse_duration": "_review_policy",
    "policy_to_wire": "_wire", "request_dict": "_export", "request_from_wire": "_wire",
    "request_to_wire": "_wire", "run_principal": "_validate", "server_token": "_remote",
    "server_url": "_remote", "spec_from_wire": "_wire", "validate_request": "_validate",
}

__all__ = [
    "AUTO_APPROVER",
    "EXPIRY_ACTOR",
    "GROUPS",
    "TERMINAL",
    "TRANSITIONS",
    "Approval",
    "AuditEntry",
    "AuditProblem",
    "AuditReport",
    "Completion",
    "Compute",
    "DatasetRef",
    "Estimate",
    "ModelRef",
    "Money",
    "RemoteRequests",
    "RequestService",
    "RequestSpec",
    "Requests",
    "ReviewPolicy",
    "SpendRow",
    "State",
    "TrainingRequest",
    "approval_facet",
    "approved_time_limit",
    "error_from_wire",
    "error_to_wire",
    "estimate",
    "fit_line",
    "jsonable",
    "open_requests",
    "parse_duration",
    "policy_to_wire",
    "request_dict",
    "request_from_wire",
    "request_to_wire",
    "run_principal",
    "server_token",
    "server_url",
    "spec_from_wire",
    "validate_request",
]


def __getattr__(name: str) -> object:
    if name == "Requests":  # the type of what open_requests returns
        from tracline.approvals._remote import RemoteRequests
        from tracline.approvals._service import RequestService

        return RequestService | RemoteRequests
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"tracline.approvals.{module}"), name)
    globals()[name] = value
    return value
