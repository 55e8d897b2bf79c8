"""The gated-run lifecycle: one way for every front door to run work under an approval.

``tracline run --request``, the Airflow gate and listener, the Prefect gate and the Dagster
sensor all go through the same steps, in this module::

    parse   spec_from_mapping / parse_ref / check_request   (bad input fails before any work)
    file    Gate.file_or_attach      (a retry of the same orchestrator run finds its request)
    wait    decide / Gate.wait / await_decision   (or the orchestrator's own: defer, suspend,
                                                   a sensor's next tick)
    claim   Gate.claim               (exactly once; a retry gets its own claim back)
    cap     Claim.time_limit         (the orchestrator's timeout stops the task; TimeCap stops
                                      the processes it started; tracline run stops its
                                      command's whole tree)
    settle  Gate.settle(claim, Outcome)   (complete or fail with the run's recorded cost; an
                                           estimate when none was measured — never left
                                           claimed)

Claims, completions and failures made this way are recorded in the audit log with the run as
the actor (:class:`RunActor`, ``run:<orchestrator>/<run id>``); the requester stays the
request's owner. Requests are reached through ``tracline.approvals.open_requests(config)``.
See ``docs/requests.md`` ("Gated runs").
"""

from __future__ import annotations

from tracline.gating._access import RequestAccess
from tracline.gating._cap import TimeCap
from tracline.gating._claim import Claim, Outcome, RunActor
from tracline.gating._decision import (
    Decision,
    Verdict,
    await_decision,
    decide,
    refusal,
    wait_for_decision,
)
from tracline.gating._gate import Gate, GateClosed, Settlement
from tracline.gating._spec import (
    FIELDS,
    InvalidGateRequest,
    check_request,
    parse_ref,
    spec_from_mapping,
)

__all__ = [
    "FIELDS",
    "Claim",
    "Decision",
    "Gate",
    "GateClosed",
    "InvalidGateRequest",
    "Outcome",
    "RequestAccess",
    "RunActor",
    "Settlement",
    "TimeCap",
    "Verdict",
    "await_decision",
    "check_request",
    "decide",
    "parse_ref",
    "refusal",
    "spec_from_mapping",
    "wait_for_decision",
]
