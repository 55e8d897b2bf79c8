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

from tracline.approvals._audit import AuditEntry, AuditProblem, AuditReport
from tracline.approvals._budget import (
    GROUPS,
    SpendRow,
    approval_facet,
    approved_time_limit,
)
from tracline.approvals._estimate import estimate, fit_line
from tracline.approvals._export import jsonable, request_dict
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
from tracline.approvals._remote import RemoteRequests, server_token, server_url
from tracline.approvals._review_policy import (
    AUTO_APPROVER,
    EXPIRY_ACTOR,
    ReviewPolicy,
    parse_duration,
)
from tracline.approvals._service import RequestService, open_requests
from tracline.approvals._validate import run_principal, validate_request
from tracline.approvals._wire import (
    error_from_wire,
    error_to_wire,
    policy_to_wire,
    request_from_wire,
    request_to_wire,
    spec_from_wire,
)

#: Where requests are reached: the local store, or a team server (``open_requests``).
Requests = RequestService | RemoteRequests

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
