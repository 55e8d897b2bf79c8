"""What the lifecycle needs of a request service: the local store's or the team server's.

``tracline.approvals.open_requests(config)`` returns either; both have these methods with
these meanings and errors, and the lifecycle uses nothing else.
"""

from __future__ import annotations

import builtins
import datetime as dt
from typing import Protocol

from tracline.approvals import AuditEntry, RequestSpec, State, TrainingRequest
from tracline.config import Config
from tracline.facets import TraclineApprovalRunFacet, TraclineGpuCostRunFacet

__all__ = ["RequestAccess"]


class RequestAccess(Protocol):
    """The request service's public methods that the gated-run lifecycle calls."""

    config: Config

    def now(self) -> dt.datetime:
        """The service's clock (UTC)."""

    def close(self) -> None:
        """Release connections."""

    def get(self, request_id: str) -> TrainingRequest:
        """One request; NotFound if there is none."""

    def list(self, *, state: State | str | None = None, requester: str | None = None,
             project: str | None = None) -> builtins.list[TrainingRequest]:
        """Requests, newest first, filtered."""

    def audit(self, request_id: str | None = None) -> builtins.list[AuditEntry]:
        """The audit entries of one request."""

    def file(self, spec: RequestSpec, *, origin: str | None = None,
             step: str | None = None) -> TrainingRequest:
        """File a request on behalf of an orchestrator run (``origin``)."""

    def claim(self, request_id: str, run_id: str, actor: str | None = None, *,
              step: str | None = None) -> TrainingRequest:
        """Bind one run to an approved request, exactly once."""

    def complete(self, request_id: str, gpu_cost: TraclineGpuCostRunFacet, *,
                 run_id: str | None = None, actor: str | None = None,
                 step: str | None = None) -> TrainingRequest:
        """Record the claiming run's cost; the request is completed."""

    def fail(self, request_id: str, reason: str, *,
             gpu_cost: TraclineGpuCostRunFacet | None = None, run_id: str | None = None,
             actor: str | None = None, step: str | None = None) -> TrainingRequest:
        """Record why the claiming run failed, and its cost."""

    def approval_facet(self, request_id: str) -> TraclineApprovalRunFacet:
        """The ``tracline_approval`` facet of a claimed request."""
