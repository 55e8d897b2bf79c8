"""The HTTP API under ``/api/v1``: the request lifecycle, audit, spend and lineage.

Every route but ``/health`` needs an authenticated caller, and acts as that caller: an
``actor`` or ``requester`` in a body must be the caller or the call is refused (403). The
routes call the same :class:`~tracline.approvals.RequestService` the CLI uses.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from tracline.approvals import (
    GROUPS,
    State,
    TrainingRequest,
    jsonable,
    policy_to_wire,
    request_to_wire,
    spec_from_wire,
)
from tracline.errors import NotAuthorized, ValidationError
from tracline.identity import Principal
from tracline.server._ingest import validate_event
from tracline.server._lineage import lineage_router
from tracline.server._state import ServerState, caller, state_of

__all__ = ["api"]

api = APIRouter(prefix="/api/v1")
Caller = Annotated[Principal, Depends(caller)]
Text = Annotated[str, Field(max_length=20_000)]
Short = Annotated[str, Field(max_length=200)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetIn(_Body):
    """A dataset (or base model) by URI and content digest."""

    uri: Annotated[str, Field(max_length=2048)]
    digest: Short | None = None


class SpecIn(_Body):
    """A training request to file; ``requester`` defaults to the caller (and must be them)."""

    title: Short
    requester: Short | None = None
    project: Short
    datasets: Annotated[list[DatasetIn], Field(max_length=1000)]
    gpu_model: Short
    gpu_count: int
    hours: Short | float
    budget: Short | float
    rationale: Text
    currency: Short = "USD"
    base_model: DatasetIn | None = None
    code_ref: Annotated[str, Field(max_length=512)] | None = None
    reviewers: Annotated[list[Short], Field(max_length=50)] = []
    min_approvals: int = 1
    expires_at: Short | None = None
    over_estimate: Text | None = None
    #: The orchestrator run that files it, and that step in words (audit details).
    origin: Annotated[str, Field(max_length=128)] | None = None
    step: Annotated[str, Field(max_length=500)] | None = None


class AmendIn(_Body):
    """Changes to one's own request."""

    actor: Short | None = None
    changes: dict[Short, Short | int | float | None]


class ApproveIn(_Body):
    """An approval: the digest reviewed and, from a reviewer's own key, its signature."""

    actor: Short | None = None
    note: Text | None = None
    digest: Short | None = None
    signature: Annotated[str, Field(max_length=16_384)] | None = None
    signed_at: Short | None = None


class ReasonIn(_Body):
    """A rejection or cancellation, with its reason."""

    actor: Short | None = None
    reason: Text | None = None


class ClaimIn(_Body):
    """A run claiming an approved request (``actor``: the caller, or its ``run:`` step)."""

    run_id: Annotated[str, Field(max_length=128)]
    actor: Short | None = None
    step: Annotated[str, Field(max_length=500)] | None = None


class SettleIn(_Body):
    """The end of a claimed run (its cost comes from the run's recorded events)."""

    run_id: Annotated[str, Field(max_length=128)] | None = None
    reason: Text | None = None
    actor: Short | None = None
    step: Annotated[str, Field(max_length=500)] | None = None


def _as(principal: Principal, actor: str | None, action: str) -> str:
    """The acting identity: the caller; a different ``actor`` is refused."""
    if actor is not None and actor != principal.name:
        raise NotAuthorized(f"you are authenticated as {principal.name} and cannot act as "
                            f"{actor}", hint="against a server the acting identity is the "
                            "authenticated principal: drop --as / TRACLINE_ACTOR")
    principal.require(action)
    return principal.name


def _runner(principal: Principal, actor: str | None, action: str) -> str:
    """Who claims or settles: the caller, or an automated step (``run:...``) the caller runs
    — recorded as the actor, with the caller in the step's words."""
    if actor is not None and actor.startswith("run:"):
        principal.require(action)
        return actor
    return _as(principal, actor, action)


def _step(principal: Principal, actor: str, step: str | None) -> str | None:
    if actor == principal.name:
        return step
    return f"{step or actor} (by {principal.name})"


def _out(state: ServerState, r: TrainingRequest) -> dict[str, Any]:
    return request_to_wire(r, state.requests.policy.required_approvals(r))


@api.get("/health", tags=["server"])
def health() -> dict[str, str]:
    """Liveness: the only route that needs no authentication."""
    return {"status": "ok"}


@api.get("/openapi.json", tags=["server"])
def openapi(request: Request, principal: Caller) -> dict[str, Any]:
    """This API's OpenAPI spec (authenticated, like everything but health)."""
    spec: dict[str, Any] = request.app.openapi()
    return spec


@api.get("/whoami", tags=["server"])
def whoami(principal: Caller) -> dict[str, Any]:
    """The authenticated caller and its roles."""
    return {"name": principal.name, "roles": sorted(principal.roles), "via": principal.via}


@api.get("/policy", tags=["requests"])
def policy(request: Request, principal: Caller) -> dict[str, Any]:
    """The review policy in force."""
    return policy_to_wire(state_of(request).requests.policy)


@api.get("/signing", tags=["audit"])
def signing(request: Request, principal: Caller) -> dict[str, Any]:
    """The server's attesting key, as a line for an allowed-signers file."""
    signatures = state_of(request).requests.signatures
    from tracline.identity import NAMESPACE, SERVER_PRINCIPAL

    key = signatures.server_public_key
    return {"principal": SERVER_PRINCIPAL, "public_key": key,
            "allowed_signers_line": f'{SERVER_PRINCIPAL} namespaces="{NAMESPACE}" {key}'}


@api.get("/requests", tags=["requests"])
def list_requests(request: Request, principal: Caller,
                  state: Annotated[State | None, Query()] = None,
                  requester: Annotated[str | None, Query(max_length=80)] = None,
                  project: Annotated[str | None, Query(max_length=200)] = None,
                  ) -> list[dict[str, Any]]:
    """Requests, newest first."""
    s = state_of(request)
    return [_out(s, r) for r in s.requests.list(state=state, requester=requester,
                                                 project=project)]


@api.post("/requests", status_code=201, tags=["requests"])
def file_request(request: Request, principal: Caller, body: SpecIn) -> dict[str, Any]:
    """File a training request as the caller."""
    s = state_of(request)
    data = body.model_dump(exclude={"origin", "step"})
    data["requester"] = _as(principal, body.requester, "file")
    for i, d in enumerate([*body.datasets, *([body.base_model] if body.base_model else [])]):
        if not d.digest:
            field = f"datasets[{i}].digest" if i < len(body.datasets) else "base_model.digest"
            raise ValidationError(field, f"{d.uri} has no digest",
                                  hint="the server never reads files: send URI@<algorithm>:<hex>"
                                  " (the CLI hashes local paths before filing)")
    return _out(s, s.requests.file(spec_from_wire(data), origin=body.origin, step=body.step))


@api.get("/requests/{request_id}", tags=["requests"])
def show_request(request: Request, principal: Caller, request_id: str) -> dict[str, Any]:
    """One request."""
    s = state_of(request)
    return _out(s, s.requests.get(request_id))


@api.get("/requests/{request_id}/approvals", tags=["requests"])
def approvals_in_force(request: Request, principal: Caller, request_id: str) -> dict[str, Any]:
    """Who approved the request in a way that counts now (signatures verified), and why
    each other approval does not count."""
    s = state_of(request)
    actors, problems = s.requests.in_force(s.requests.get(request_id))
    return {"in_force": sorted(actors), "problems": problems}


@api.post("/requests/{request_id}/amend", tags=["requests"])
def amend(request: Request, principal: Caller, request_id: str, body: AmendIn) -> dict[str, Any]:
    """Change one's own request (approvals of the old content no longer hold)."""
    s = state_of(request)
    actor = _as(principal, body.actor, "amend")
    return _out(s, s.requests.amend(request_id, actor, **body.changes))


@api.post("/requests/{request_id}/approve", tags=["requests"])
def approve(request: Request, principal: Caller, request_id: str,
            body: ApproveIn) -> dict[str, Any]:
    """Approve as the caller: signed by their key, or attested by the server's."""
    s = state_of(request)
    actor = _as(principal, body.actor, "approve")
    return _out(s, s.requests.approve(request_id, actor, note=body.note, digest=body.digest,
                                      signature=body.signature, signed_at=body.signed_at))


@api.post("/requests/{request_id}/reject", tags=["requests"])
def reject(request: Request, principal: Caller, request_id: str,
           body: ReasonIn) -> dict[str, Any]:
    """Reject as the caller, saying why."""
    s = state_of(request)
    actor = _as(principal, body.actor, "reject")
    return _out(s, s.requests.reject(request_id, actor, body.reason or ""))


@api.post("/requests/{request_id}/cancel", tags=["requests"])
def cancel(request: Request, principal: Caller, request_id: str,
           body: ReasonIn) -> dict[str, Any]:
    """Withdraw one's own pending request."""
    s = state_of(request)
    actor = _as(principal, body.actor, "cancel")
    return _out(s, s.requests.cancel(request_id, actor, body.reason))


@api.post("/requests/expire", tags=["requests"])
def expire(request: Request, principal: Caller) -> dict[str, Any]:
    """Move overdue pending requests to expired."""
    return {"expired": state_of(request).requests.expire_overdue()}


@api.post("/requests/{request_id}/claim", tags=["requests"])
def claim(request: Request, principal: Caller, request_id: str,
          body: ClaimIn) -> dict[str, Any]:
    """Claim an approved request for one run, after verifying its approvals' signatures."""
    s = state_of(request)
    actor = _runner(principal, body.actor, "claim")
    return _out(s, s.requests.claim(request_id, body.run_id, actor,
                                    step=_step(principal, actor, body.step)))


def _claimer(s: ServerState, principal: Principal, request_id: str,
             actor: str | None) -> str:
    """The settling actor: whoever claimed (the caller, or the run step it named)."""
    who = _runner(principal, actor, "settle")
    r = s.requests.get(request_id)
    if r.claimed_by is not None and r.claimed_by != who:
        raise NotAuthorized(f"{who} did not claim {r.id} ({r.claimed_by} did)",
                            hint="the principal whose run claimed a request settles it")
    return who


@api.post("/requests/{request_id}/complete", tags=["requests"])
def complete(request: Request, principal: Caller, request_id: str,
             body: SettleIn) -> dict[str, Any]:
    """Settle a claimed request with the claiming run's recorded cost."""
    s = state_of(request)
    who = _claimer(s, principal, request_id, body.actor)
    return _out(s, s.requests.complete(request_id, None, run_id=body.run_id, actor=who,
                                       step=_step(principal, who, body.step)))


@api.post("/requests/{request_id}/fail", tags=["requests"])
def fail(request: Request, principal: Caller, request_id: str,
         body: SettleIn) -> dict[str, Any]:
    """The claimed run failed (its recorded cost, if any, is kept)."""
    s = state_of(request)
    who = _claimer(s, principal, request_id, body.actor)
    return _out(s, s.requests.fail(request_id, body.reason or "", run_id=body.run_id,
                                   actor=who, step=_step(principal, who, body.step)))


@api.get("/audit", tags=["audit"])
def audit(request: Request, principal: Caller,
          request_id: Annotated[str | None, Query(max_length=80)] = None) -> list[Any]:
    """The audit log (of one request)."""
    return list(jsonable(state_of(request).requests.audit(request_id)))


@api.get("/audit/verify", tags=["audit"])
def verify(request: Request, principal: Caller,
           expect_head: Annotated[str | None, Query(max_length=80)] = None) -> Any:
    """Recompute the chain (and check it still contains ``expect_head``)."""
    return jsonable(state_of(request).requests.verify_audit(expect_head))


@api.get("/audit/head", tags=["audit"])
def head(request: Request, principal: Caller) -> dict[str, Any]:
    """The audit log's head: note it elsewhere, check later with --expect-head."""
    report = state_of(request).requests.verify_audit()
    return {"seq": report.head_seq, "hash": report.head_hash, "ok": report.ok}


@api.get("/spend", tags=["spend"])
def spend(request: Request, principal: Caller,
          by: Annotated[str, Query(pattern="^(" + "|".join(GROUPS) + ")$")] = "requester",
          ) -> list[Any]:
    """Approved and actual GPU-hours and money by group."""
    return list(jsonable(state_of(request).requests.spend(by)))


@api.post("/lineage", status_code=201, tags=["lineage"],
          openapi_extra={"requestBody": {"required": True, "content": {
              "application/json": {"schema": {"type": "object"}}}}})
async def ingest(request: Request, principal: Caller) -> JSONResponse:
    """Take one OpenLineage run event (validated against the specification) into the
    registry."""
    principal.require("ingest")
    body = await request.body()
    try:
        event = json.loads(body or b"null")
    except ValueError as e:
        return JSONResponse({"error": {"type": "ValidationError", "field": "body",
                                       "message": f"body: not JSON: {e}", "hint": None}}, 400)
    validate_event(event)
    s = state_of(request)
    from starlette.concurrency import run_in_threadpool

    def store() -> bool:
        with s.ingest_lock:
            created = bool(s.registry.ingest(event))
        for run_id in _costed_runs(event):
            s.requests.measured_cost_arrived(run_id, actor=principal.name)
        return created

    created = await run_in_threadpool(store)
    return JSONResponse({"created": created}, status_code=201)


def _costed_runs(event: dict[str, Any]) -> list[str]:
    """The runs whose recorded cost this event may complete: a finished run that carries a
    ``tracline_gpuCost``, and its parent (whose cost is the sum over its children)."""
    run = event.get("run") or {}
    facets = run.get("facets") or {}
    if event.get("eventType") not in {"COMPLETE", "FAIL", "ABORT"} \
            or "tracline_gpuCost" not in facets:
        return []
    parent = ((facets.get("parent") or {}).get("run") or {}).get("runId")
    return [str(r) for r in (run.get("runId"), parent) if r]


api.include_router(lineage_router)
