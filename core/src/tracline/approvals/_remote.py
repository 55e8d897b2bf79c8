"""The client of a team server: :class:`RequestService`'s methods, over HTTP.

``open_requests()`` returns one when ``TRACLINE_URL`` (or ``[server] url``) is set. Every call
carries the API token (``TRACLINE_TOKEN``, or the file ``[server] token_file``); the server
acts as that token's principal, so an ``actor`` passed here must be that principal or the
call is refused. Errors are the same classes the local service raises.
"""

from __future__ import annotations

import builtins
import datetime as dt
import functools
import os
from pathlib import Path
from typing import Any

import attrs
import httpx

from tracline._urls import display_url
from tracline.approvals._audit import AuditEntry, AuditReport
from tracline.approvals._budget import SpendRow, approval_facet
from tracline.approvals._model import DatasetRef, RequestSpec, State, TrainingRequest, iso
from tracline.approvals._review_policy import ReviewPolicy
from tracline.approvals._wire import (
    audit_from_wire,
    error_from_wire,
    policy_from_wire,
    report_from_wire,
    request_from_wire,
    spec_to_wire,
    spend_from_wire,
)
from tracline.config import Config, get_config, server_url
from tracline.errors import (
    ApprovalInvalid,
    AuthenticationError,
    ConfigError,
    StoreError,
    TraclineError,
    ValidationError,
)
from tracline.facets import TraclineApprovalRunFacet, TraclineGpuCostRunFacet
from tracline.hashing import digest_path
from tracline.identity import Signatures, SigningSettings, approval_message

__all__ = ["RemoteRequests", "server_token", "server_url"]


def server_token(config: Config) -> str:
    """The API token: ``$TRACLINE_TOKEN``, else the file ``[server] token_file``."""
    token = os.environ.get("TRACLINE_TOKEN")
    path = config.section("server").get("token_file")
    if not token and path:
        try:
            token = Path(str(path)).expanduser().read_text().strip()
        except OSError as e:
            raise ConfigError(f"cannot read [server] token_file {path}: {e.strerror}",
                              hint="check the path, or set TRACLINE_TOKEN") from e
    if not token:
        raise AuthenticationError("TRACLINE_URL is set but no API token is",
                                  hint="set TRACLINE_TOKEN (an admin makes one: tracline admin "
                                  "token create user:NAME)")
    return token


def _hashed(item: DatasetRef | str) -> DatasetRef | str:
    """A local path as ``file://`` URI with its digest; anything else unchanged."""
    ref = item if isinstance(item, DatasetRef) else DatasetRef(str(item))
    if ref.digest:
        return item
    path = Path(ref.uri[len("file://"):] if ref.uri.startswith("file://") else ref.uri)
    if ("://" in ref.uri and not ref.uri.startswith("file://")) or not path.exists():
        return item
    try:
        return DatasetRef("file://" + str(path.resolve()), digest_path(path).digest)
    except TraclineError as e:
        raise ValidationError("datasets", f"cannot hash {path}: {e}") from e


class RemoteRequests:
    """Training requests on the team server at ``url``, as the token's principal."""

    def __init__(self, url: str, token: str, config: Config | None = None, *,
                 timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self.config = config or get_config()
        self.url = url.rstrip("/")
        self.signatures = Signatures(SigningSettings.from_config(self.config))
        self.authenticated = True
        self._http = httpx.Client(base_url=self.url, timeout=timeout, transport=transport,
                                  headers={"Authorization": f"Bearer {token}",
                                           "User-Agent": "tracline-client"})

    def _call(self, method: str, path: str, *, json: Any = None,
              params: dict[str, Any] | None = None) -> Any:
        try:
            reply = self._http.request(method, "/api/v1" + path, json=json,
                                       params={k: v for k, v in (params or {}).items()
                                               if v is not None})
        except httpx.HTTPError as e:
            raise StoreError(display_url(f"cannot reach the tracline server at {self.url}: {e}"),
                             hint="check TRACLINE_URL and that tracline serve is running"
                             ) from e
        if reply.status_code >= 400:
            raise error_from_wire(reply.status_code, reply.content)
        return reply.json()

    def now(self) -> dt.datetime:
        """This machine's clock (UTC)."""
        return dt.datetime.now(dt.UTC)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    @functools.cached_property
    def policy(self) -> ReviewPolicy:
        """The server's review policy."""
        return policy_from_wire(self._call("GET", "/policy"))

    def whoami(self) -> str:
        """The principal the server authenticates this client as."""
        return str(self._call("GET", "/whoami")["name"])

    def in_force(self, r: TrainingRequest, now: dt.datetime | None = None,
                 ) -> tuple[set[str], list[str]]:
        """Who approved ``r`` in a way that counts, as the server judges it."""
        data = self._call("GET", f"/requests/{r.id}/approvals")
        return set(data["in_force"]), list(data["problems"])

    # -- reading -------------------------------------------------------------------------------

    def get(self, request_id: str) -> TrainingRequest:
        """One request by id; :class:`NotFound` if there is none."""
        return request_from_wire(self._call("GET", f"/requests/{request_id}"))

    def list(self, *, state: State | str | None = None, requester: str | None = None,
             project: str | None = None) -> builtins.list[TrainingRequest]:
        """Requests, newest first, optionally filtered."""
        rows = self._call("GET", "/requests", params={
            "state": str(state) if state is not None else None, "requester": requester,
            "project": project})
        return [request_from_wire(r) for r in rows]

    def audit(self, request_id: str | None = None) -> builtins.list[AuditEntry]:
        """The audit log, or the entries of one request."""
        return audit_from_wire(self._call("GET", "/audit", params={"request_id": request_id}))

    def verify_audit(self, expect_head: str | None = None) -> AuditReport:
        """The server's verification of its audit chain (against ``expect_head``)."""
        return report_from_wire(self._call("GET", "/audit/verify",
                                           params={"expect_head": expect_head}))

    def spend(self, group_by: str = "requester") -> builtins.list[SpendRow]:
        """Approved and actual GPU-hours and money by group."""
        return spend_from_wire(self._call("GET", "/spend", params={"by": group_by}))

    def approval_facet(self, request_id: str) -> TraclineApprovalRunFacet:
        """The ``tracline_approval`` facet of an approved or claimed request."""
        return approval_facet(self.get(request_id))

    # -- changes -------------------------------------------------------------------------------

    def file(self, spec: RequestSpec, *, origin: str | None = None,
             step: str | None = None) -> TrainingRequest:
        """File a request as the authenticated principal (``spec.requester`` must be it).
        Local paths among the datasets are hashed here: the server never reads files."""
        local = attrs.evolve(spec, datasets=[_hashed(d) for d in spec.datasets])
        return request_from_wire(self._call("POST", "/requests", json={
            **spec_to_wire(local), "origin": origin, "step": step}))

    def amend(self, request_id: str, actor: str, **changes: Any) -> TrainingRequest:
        """Change one's own pending or approved request."""
        body = {"actor": actor, "changes": {k: str(v) if not isinstance(v, int | type(None))
                                            else v for k, v in changes.items()}}
        return request_from_wire(self._call("POST", f"/requests/{request_id}/amend", json=body))

    def approve(self, request_id: str, actor: str, *, note: str | None = None,
                digest: str | None = None, signature: str | None = None,
                signed_at: str | None = None) -> TrainingRequest:
        """Approve as the authenticated reviewer; signed with ``[signing] key`` when set (else
        the server attests the approval with its own key)."""
        if signature is None and self.signatures.settings.key:
            seen = digest or self.get(request_id).digest
            signed_at = iso(self.now())
            signature = self.signatures.sign_local(
                approval_message(request_id, seen, actor, signed_at, "ssh"))
            digest = seen
        body = {"actor": actor, "note": note, "digest": digest, "signature": signature,
                "signed_at": signed_at}
        return request_from_wire(self._call("POST", f"/requests/{request_id}/approve",
                                            json=body))

    def reject(self, request_id: str, actor: str, reason: str) -> TrainingRequest:
        """Reject as the authenticated reviewer."""
        return request_from_wire(self._call("POST", f"/requests/{request_id}/reject",
                                            json={"actor": actor, "reason": reason}))

    def cancel(self, request_id: str, actor: str, reason: str | None = None) -> TrainingRequest:
        """Withdraw one's own pending request."""
        return request_from_wire(self._call("POST", f"/requests/{request_id}/cancel",
                                            json={"actor": actor, "reason": reason}))

    def expire_overdue(self) -> builtins.list[str]:
        """Expire overdue pending requests on the server; their ids."""
        return [str(i) for i in self._call("POST", "/requests/expire")["expired"]]

    def claim(self, request_id: str, run_id: str, actor: str | None = None, *,
              step: str | None = None) -> TrainingRequest:
        """Claim an approved request for one run (the server verifies its approvals).
        ``actor``: the authenticated principal, or the automated step (``run:...``) it runs.

        With ``[signing] allowed_signers`` set here too (listing the server's key, from
        ``GET /api/v1/signing``), the claimed request's approvals are verified again on this
        side, so a compromised server database cannot make this run go ahead either."""
        claimed = request_from_wire(self._call("POST", f"/requests/{request_id}/claim", json={
            "run_id": run_id, "actor": actor, "step": step}))
        if self.signatures.settings.allowed_signers:
            self._verify(claimed)
        return claimed

    def _verify(self, r: TrainingRequest) -> None:
        """Raise :class:`ApprovalInvalid` unless enough approvals verify here."""
        policy, now = self.policy, self.now()
        if policy.auto_approves(r):
            return
        good: set[str] = set()
        for a in r.valid_approvals(now):
            message = approval_message(r.id, a.digest, a.actor, iso(a.decided_at), a.via or "")
            if a.actor in policy.eligible(r) and self.signatures.verify(
                    message, a.signature, a.via, a.actor) is not None:
                good.add(a.actor)
        required = policy.required_approvals(r)
        if len(good) < required:
            raise ApprovalInvalid(
                f"{r.id}: {len(good)} of {required} required approval(s) verify against "
                f"{self.signatures.settings.allowed_signers}; the run does not go ahead",
                hint="add the server's key (GET /api/v1/signing) and the reviewers' keys to "
                "the allowed-signers file, or ask the server's admin")

    def complete(self, request_id: str, gpu_cost: TraclineGpuCostRunFacet | None = None, *,
                 run_id: str | None = None, actor: str | None = None,
                 step: str | None = None) -> TrainingRequest:
        """Settle a claimed request; the server takes the cost from the claiming run's
        recorded ``tracline_gpuCost`` (``gpu_cost`` is not sent: a caller's word is no cost)."""
        return request_from_wire(self._call("POST", f"/requests/{request_id}/complete", json={
            "run_id": run_id, "actor": actor, "step": step}))

    def fail(self, request_id: str, reason: str, *,
             gpu_cost: TraclineGpuCostRunFacet | None = None, run_id: str | None = None,
             actor: str | None = None, step: str | None = None) -> TrainingRequest:
        """The claimed run failed (its recorded cost, if any, is taken by the server)."""
        return request_from_wire(self._call("POST", f"/requests/{request_id}/fail", json={
            "reason": reason, "run_id": run_id, "actor": actor, "step": step}))
