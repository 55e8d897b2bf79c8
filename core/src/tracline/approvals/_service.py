"""The Python API of training requests: what the CLI, the server, agents and gates call."""

from __future__ import annotations

import builtins
import datetime as dt
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs
from sqlalchemy import Connection, select

from tracline.approvals import _audit, _budget, _validate
from tracline.approvals import _schema as t
from tracline.approvals._audit import AuditEntry, AuditReport
from tracline.approvals._model import (
    Approval,
    RequestSpec,
    State,
    TrainingRequest,
    completion_json,
    content_digest,
    iso,
    request_content,
)
from tracline.approvals._review_policy import AUTO_APPROVER, EXPIRY_ACTOR, ReviewPolicy
from tracline.approvals._store import Store
from tracline.approvals._validate import check_actor, check_claimant, check_text, validate_spec
from tracline.config import Config, get_config
from tracline.errors import (
    ApprovalInvalid,
    InvalidTransition,
    NotAuthorized,
    NotFound,
    TraclineError,
    ValidationError,
)
from tracline.facets import TraclineApprovalRunFacet, TraclineGpuCostRunFacet
from tracline.identity import Signatures, SigningSettings, approval_message

if TYPE_CHECKING:
    pass

__all__ = ["RequestService"]

_AMENDABLE = {f.name for f in attrs.fields(RequestSpec)} - {"requester"}
#: How far a reviewer's clock may be from the server's when they sign an approval.
_SKEW = dt.timedelta(minutes=10)


def _build(request_id: str, state: State, fields: dict[str, Any], created: dt.datetime,
           updated: dt.datetime, **extra: Any) -> TrainingRequest:
    draft = TrainingRequest(id=request_id, state=state, digest="", created_at=created,
                            updated_at=updated, **fields, **extra)
    return attrs.evolve(draft, digest=content_digest(request_content(draft)))


class RequestService:
    """Training requests in the store at ``url`` (default: the configured registry database)."""

    def __init__(self, url: str | None = None, config: Config | None = None, *,
                 clock: Callable[[], dt.datetime] | None = None,
                 signatures: Signatures | None = None, authenticated: bool = False,
                 registry_url: str | None = None) -> None:
        self.config = config or get_config()
        self.url = url or str(self.config.section("requests").get("url")
                              or self.config.registry_url)
        self.policy = ReviewPolicy.from_config(self.config)
        self.signatures = signatures or Signatures(SigningSettings.from_config(self.config))
        #: True inside a team server: every actor passed in was authenticated by the server.
        self.authenticated = authenticated
        #: Where the claiming runs' recorded costs are read (default: the configured registry).
        self.registry_url = registry_url or self.config.registry_url
        self.store = Store(self.url)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def whoami(self) -> str | None:
        """Who acts here when signing is on (the signing key's owner); None otherwise."""
        if self.authenticated or not self.signatures.required:
            return None
        return str(self.signatures.local_principal)

    def _acting(self, field: str, actor: Any) -> str:
        """``actor``, checked: with signing on it must be the signing key's owner."""
        name = check_actor(field, actor)
        me = self.whoami()
        if me is not None and name != me:
            raise NotAuthorized(f"{name} is not who acts here: the signing key belongs to {me}",
                                hint=f"act as {me}; others act with their own keys")
        return name

    def now(self) -> dt.datetime:
        """The service's clock (UTC)."""
        return self._clock().astimezone(dt.UTC)

    def close(self) -> None:
        """Release the database connections."""
        self.store.engine.dispose()

    # -- reading -------------------------------------------------------------------------------

    def get(self, request_id: str) -> TrainingRequest:
        """One request by id; :class:`NotFound` if there is none."""
        with self.store.read() as conn:
            return self.store.load(conn, request_id)

    def list(self, *, state: State | str | None = None, requester: str | None = None,
             project: str | None = None) -> builtins.list[TrainingRequest]:
        """Requests, newest first, optionally only those in ``state``, of a requester/project."""
        if state is not None:
            try:
                state = State(state)
            except ValueError:
                raise ValidationError("state", f"{state!r} is not a request state",
                                      hint=f"use one of {', '.join(s.value for s in State)}"
                                      ) from None
        with self.store.read() as conn:
            return self.store.load_all(conn, state=state.value if state else None,
                                       requester=requester, project=project)

    def audit(self, request_id: str | None = None) -> builtins.list[AuditEntry]:
        """The audit log, or the entries of one request."""
        with self.store.read() as conn:
            return _audit.entries(conn, request_id)

    def verify_audit(self, expect_head: str | None = None) -> AuditReport:
        """Recompute the audit chain and report where it was edited, cut or reordered, what
        in the request tables it does not account for, and whether ``expect_head`` (a head
        hash noted elsewhere earlier) is still in it."""
        with self.store.read() as conn:
            return _audit.verify(conn, expect_head)

    def spend(self, group_by: str = "requester") -> builtins.list[_budget.SpendRow]:
        """Approved and actual GPU-hours and money by requester|agent|kind|project|request."""
        return _budget.spend(self.list(), group_by)

    def approval_facet(self, request_id: str) -> TraclineApprovalRunFacet:
        """The ``tracline_approval`` facet of an approved or claimed request."""
        return _budget.approval_facet(self.get(request_id))

    # -- changes -------------------------------------------------------------------------------

    def _log(self, conn: Connection, actor: str, action: str, request_id: str,
             **details: Any) -> None:
        _audit.append(conn, at=iso(self.now()), actor=actor, action=action,
                      request_id=request_id, details=details)

    def in_force(self, r: TrainingRequest, now: dt.datetime | None = None,
                 ) -> tuple[set[str], builtins.list[str]]:
        """Who approved ``r``'s current content in a way that counts now, and why each other
        approval does not. With signing on only a valid signature by an eligible reviewer's
        key (or the server's, attesting them) counts, each key once."""
        now = now or self.now()
        actors: set[str] = set()
        keys: set[str] = set()
        problems: builtins.list[str] = []
        for a in r.valid_approvals(now):
            if a.actor == AUTO_APPROVER:
                if self.policy.auto_approves(r):
                    return {AUTO_APPROVER}, []
                problems.append(f"{AUTO_APPROVER} approved it, but [policy] no longer does")
                continue
            if not self.signatures.required:
                actors.add(a.actor)
                continue
            message = approval_message(r.id, a.digest, a.actor, iso(a.decided_at), a.via or "")
            fingerprint = self.signatures.verify(message, a.signature, a.via, a.actor)
            when = iso(a.decided_at)
            if fingerprint is None:
                problems.append(f"{a.actor}'s approval at {when} has no valid signature")
            elif a.decided_at + self.policy.approval_ttl <= now:
                problems.append(f"{a.actor}'s signed approval at {when} has expired")
            elif a.actor not in self.policy.eligible(r):
                problems.append(f"{a.actor} is not a reviewer of {r.id}")
            else:
                key = fingerprint if a.via == "ssh" else f"server:{a.actor}"
                if key in keys or a.actor in actors:
                    problems.append(f"{a.actor}'s approval at {when} is by a key that "
                                    "already approved")
                    continue
                keys.add(key)
                actors.add(a.actor)
        return actors, problems

    def _enough(self, r: TrainingRequest, now: dt.datetime) -> bool:
        actors, _ = self.in_force(r, now)
        return AUTO_APPROVER in actors or len(actors) >= self.policy.required_approvals(r)

    def _signed(self, r: TrainingRequest, actor: str, now: dt.datetime,
                signature: str | None, signed_at: str | None) -> tuple[dt.datetime, str | None,
                                                                        str | None]:
        """(decided_at, signature, via) of a new approval by ``actor``."""
        if signature is not None:  # the reviewer signed with their own key elsewhere
            try:
                decided = dt.datetime.fromisoformat(str(signed_at)).astimezone(dt.UTC)
            except ValueError:
                raise ValidationError("signed_at", f"{signed_at!r} is not an ISO timestamp",
                                      hint="send the decided_at the signature covers") from None
            if abs(decided - now) > _SKEW:
                raise ApprovalInvalid(f"the signature was made at {iso(decided)}, more than "
                                      f"{_SKEW} from now ({iso(now)})",
                                      hint="check your clock and sign again")
            message = approval_message(r.id, r.digest, actor, iso(decided), "ssh")
            if self.signatures.verify(message, signature, "ssh", actor) is None:
                raise ApprovalInvalid(f"the signature does not verify as {actor}'s approval of "
                                      f"{r.id} at {r.digest}",
                                      hint="sign with the key the allowed-signers file lists "
                                      f"for {actor}")
            return decided, signature, "ssh"
        if self.authenticated and self.signatures.settings.server_key:
            message = approval_message(r.id, r.digest, actor, iso(now), "server")
            return now, self.signatures.attest(message), "server"
        if self.signatures.settings.key:
            message = approval_message(r.id, r.digest, actor, iso(now), "ssh")
            return now, self.signatures.sign_local(message), "ssh"
        if self.signatures.required:
            raise NotAuthorized(f"signing is on and {actor}'s approval carries no signature",
                                hint="set [signing] key to your private SSH key")
        return now, None, None

    def _intact(self, conn: Connection, r: TrainingRequest) -> None:
        recorded = self.store.recorded_digest(conn, r.id)
        if recorded != r.digest:
            raise ApprovalInvalid(
                f"{r.id}'s stored content no longer matches its recorded digest {recorded} "
                f"(now {r.digest}): it was changed outside tracline",
                hint="restore it, or file a new request; approvals never carry over",
            )

    def _maybe_auto_approve(self, conn: Connection, r: TrainingRequest) -> None:
        if not self.policy.auto_approves(r):
            return
        now = self.now()
        note = f"budget under [policy] auto_approve_below {self.policy.auto_approve_below}"
        self.store.add_approval(conn, r.id, Approval(AUTO_APPROVER, r.digest, now,
                                                     now + self.policy.approval_ttl, note))
        self.store.transition(conn, r.id, State.PENDING, State.APPROVED,
                              state_actor=AUTO_APPROVER, state_note=note,
                              updated_at=iso(now))
        self._log(conn, AUTO_APPROVER, "approve", r.id, digest=r.digest, note=note,
                  state=State.APPROVED.value)

    def file(self, spec: RequestSpec, *, origin: str | None = None,
             step: str | None = None) -> TrainingRequest:
        """Validate and store a request (approved at once if policy auto-approves it).

        ``origin``: the orchestrator run that files it (a retry of that run finds it again);
        ``step``: that step in words. Both go into the audit entry.
        """
        now = self.now()
        if isinstance(spec, RequestSpec):
            self._acting("requester", spec.requester)
        fields = validate_spec(spec, self.config, self.policy, now)
        context = _context(origin=check_text("origin", origin, 128, required=False),
                           step=check_text("step", step, 500, required=False))
        r = _build("req-" + secrets.token_hex(6), State.PENDING, fields, now, now,
                   state_actor=fields["requester"])
        with self.store.write() as conn:
            self.store.insert(conn, r)
            self._log(conn, r.requester, "file", r.id, digest=r.digest, title=r.title,
                      budget=str(r.budget), estimate=r.estimate.arithmetic,
                      over_estimate=r.over_estimate, **context)
            self._maybe_auto_approve(conn, r)
        return self.get(r.id)

    def amend(self, request_id: str, actor: str, **changes: Any) -> TrainingRequest:
        """Change a pending or approved request; every approval given before is void for good
        (the amended request is a new revision, with a digest of its own)."""
        actor = self._acting("actor", actor)
        unknown = set(changes) - _AMENDABLE
        if unknown:
            raise ValidationError(sorted(unknown)[0], "cannot be amended",
                                  hint=f"amendable: {', '.join(sorted(_AMENDABLE))}")
        now = self.now()
        with self.store.write() as conn:
            r = self.store.load(conn, request_id, lock=True)
            if actor != r.requester:
                raise NotAuthorized(f"{actor} did not file {r.id} and may not amend it",
                                    hint=f"ask {r.requester}, or file a new request")
            if r.state not in {State.PENDING, State.APPROVED}:
                raise InvalidTransition(f"{r.id} is {r.state}; only a pending or approved "
                                        "request can be amended", hint="file a new request")
            spec = attrs.evolve(_spec_of(r), **changes)
            fields = validate_spec(spec, self.config, self.policy, now)
            if _build(r.id, r.state, fields, r.created_at, now, revision=r.revision
                      ).digest == r.digest:
                return r
            # A new revision, so a new digest even when the content is an earlier one again:
            # no approval given before this amendment ever counts again.
            new = _build(r.id, State.PENDING, fields, r.created_at, now,
                         revision=r.revision + 1)
            voided = sorted({a.actor for a in r.approvals if a.digest == r.digest})
            self.store.set_content(conn, new)
            self._log(conn, actor, "amend", r.id, old_digest=r.digest, digest=new.digest,
                      changed=sorted(changes), voided_approvals=voided,
                      state=State.PENDING.value)
            self._maybe_auto_approve(conn, new)
        return self.get(request_id)

    def approve(self, request_id: str, actor: str, *, note: str | None = None,
                digest: str | None = None, signature: str | None = None,
                signed_at: str | None = None) -> TrainingRequest:
        """Approve the request's current content (``digest``: what the reviewer saw).

        With signing on the approval is signed: by the local key, by the server's key
        attesting the authenticated reviewer, or with ``signature`` (made by the reviewer's
        own key over :func:`tracline.identity.approval_message` at ``signed_at``).
        """
        actor = self._acting("actor", actor)
        note = check_text("note", note, 2000, multiline=True, required=False)
        now = self.now()
        with self.store.write() as conn:
            r = self.store.load(conn, request_id, lock=True)
            self.policy.check_reviewer(r, actor, "approve")
            renewing = r.state == State.APPROVED and not self._enough(r, now)
            if r.state != State.PENDING and not renewing:
                raise InvalidTransition(f"{r.id} is {r.state}; only a pending request (or an "
                                        "approved one whose approval lapsed) can be approved")
            if r.state == State.PENDING and r.expires_at <= now:
                raise InvalidTransition(f"{r.id} expired at {iso(r.expires_at)}",
                                        hint="the requester can file it again")
            self._intact(conn, r)
            if digest is not None and digest != r.digest:
                raise self._digest_mismatch(conn, r, digest.strip())
            if actor in self.in_force(r, now)[0]:
                raise NotAuthorized(f"{actor} has already approved {r.id}",
                                    hint="another reviewer must give the next approval")
            decided, sig, via = self._signed(r, actor, now, signature, signed_at)
            if via == "ssh" and sig is not None:
                fingerprint = self.signatures.verify(
                    approval_message(r.id, r.digest, actor, iso(decided), "ssh"), sig, via, actor)
                for other in r.valid_approvals(now):
                    if other.via == "ssh" and other.actor != actor and fingerprint is not None \
                            and self.signatures.verify(approval_message(
                                r.id, other.digest, other.actor, iso(other.decided_at), "ssh"),
                                other.signature, "ssh", other.actor) == fingerprint:
                        raise NotAuthorized(f"the key that signs for {actor} already approved "
                                            f"{r.id} as {other.actor}",
                                            hint="one person gives one approval; another "
                                            "reviewer must give the next")
            approval = Approval(actor, r.digest, decided, decided + self.policy.approval_ttl,
                                note, sig, via)
            self.store.add_approval(conn, r.id, approval)
            done = self._enough(attrs.evolve(r, approvals=(*r.approvals, approval)), now)
            if done and r.state == State.PENDING:
                self.store.transition(conn, r.id, State.PENDING, State.APPROVED,
                                      state_actor=actor, state_note=note, updated_at=iso(now))
            self._log(conn, actor, "approve", r.id, digest=r.digest, note=note,
                      state=(State.APPROVED if done else r.state).value,
                      approvals=len(self.in_force(r, now)[0]) + 1,
                      required=self.policy.required_approvals(r),
                      decided_at=iso(decided), via=via, signature=sig)
        return self.get(request_id)

    @staticmethod
    def _digest_mismatch(conn: Connection, r: TrainingRequest, digest: str) -> TraclineError:
        """Why ``digest`` (what a reviewer says they reviewed) is not ``r``'s digest: part of
        a digest, a digest the request had before it was amended, or none it ever had."""
        show = f"tracline request show {r.id}"
        if r.digest.startswith(digest) or not _validate.DIGEST.match(digest):
            return ValidationError("digest", f"{digest!r} is not a whole digest",
                                   hint=f"copy the whole digest that `{show}` prints")
        amended = [e for e in _audit.entries(conn, r.id)
                   if e.action == "amend" and e.details.get("old_digest") == digest]
        if amended:
            return ApprovalInvalid(
                f"you reviewed {r.id} as {digest}, but it was amended at {amended[-1].at}: it "
                f"is now {r.digest}", hint=f"review it again: {show}")
        return ApprovalInvalid(f"{digest} is not a digest {r.id} has had (it is {r.digest})",
                               hint=f"check the request id and copy the digest from `{show}`")

    def reject(self, request_id: str, actor: str, reason: str) -> TrainingRequest:
        """A reviewer turns a pending request down, saying why."""
        actor = self._acting("actor", actor)
        reason_text = check_text("reason", reason, 2000, multiline=True)
        return self._close(request_id, actor, State.REJECTED, reason_text, reviewer=True)

    def cancel(self, request_id: str, actor: str, reason: str | None = None) -> TrainingRequest:
        """The requester withdraws a pending request."""
        actor = self._acting("actor", actor)
        reason_text = check_text("reason", reason, 2000, multiline=True, required=False)
        return self._close(request_id, actor, State.CANCELLED, reason_text, reviewer=False)

    def _close(self, request_id: str, actor: str, new: State, reason: str | None, *,
               reviewer: bool) -> TrainingRequest:
        now = self.now()
        verb = "reject" if new == State.REJECTED else "cancel"
        with self.store.write() as conn:
            r = self.store.load(conn, request_id, lock=True)
            if reviewer:
                self.policy.check_reviewer(r, actor, verb)
            elif actor != r.requester:
                raise NotAuthorized(f"{actor} did not file {r.id} and may not cancel it",
                                    hint=f"ask {r.requester}; reviewers reject instead")
            if r.state != State.PENDING:
                raise InvalidTransition(f"{r.id} is {r.state}; only a pending request can be "
                                        f"{new.value}")
            self.store.transition(conn, r.id, State.PENDING, new, state_actor=actor,
                                  state_note=reason, updated_at=iso(now))
            self._log(conn, actor, verb, r.id, digest=r.digest, reason=reason, state=new.value)
        return self.get(request_id)

    def expire_overdue(self) -> builtins.list[str]:
        """Move pending requests past their expiry to ``expired``; return their ids."""
        now = self.now()
        with self.store.write() as conn:
            due = list(conn.execute(
                select(t.requests.c.id).where(t.requests.c.state == State.PENDING.value,
                                              t.requests.c.expires_at <= iso(now))
                .order_by(t.requests.c.id)
            ).scalars())
            for request_id in due:
                self.store.transition(conn, request_id, State.PENDING, State.EXPIRED,
                                      state_actor=EXPIRY_ACTOR, updated_at=iso(now))
                self._log(conn, EXPIRY_ACTOR, "expire", request_id, state=State.EXPIRED.value)
        return due

    def claim(self, request_id: str, run_id: str, actor: str | None = None, *,
              step: str | None = None) -> TrainingRequest:
        """Bind one run to an approved request, exactly once, however many runs try at once.

        ``actor``: who claims — a person, an agent, or the automated step itself
        (``run:<orchestrator>/<run id>``, see :func:`run_principal`); ``step`` says which.
        """
        run_id = check_text("run_id", run_id, 128) or ""
        context = _context(step=check_text("step", step, 500, required=False))
        now = self.now()
        with self.store.write() as conn:
            r = self.store.load(conn, request_id, lock=True)
            who = check_claimant("actor", actor) if actor is not None else r.requester
            if r.state == State.CLAIMED or r.run_id:
                raise InvalidTransition(
                    f"{r.id} was already claimed by run {r.run_id} at "
                    f"{iso(r.claimed_at) if r.claimed_at else '?'}",
                    hint="an approval pays for one run; file a new request for another")
            if r.state == State.PENDING and r.approvals:
                voided = sorted({a.actor for a in r.approvals if a.digest != r.digest})
                if voided:
                    raise ApprovalInvalid(
                        f"{r.id} changed after {', '.join(voided)} approved it, so that "
                        "approval no longer holds", hint="ask its reviewers to approve again")
            if r.state != State.APPROVED:
                raise InvalidTransition(f"{r.id} is {r.state}; only an approved request can be "
                                        "claimed")
            self._intact(conn, r)
            actors, problems = self.in_force(r, now)
            required = self.policy.required_approvals(r)
            if AUTO_APPROVER not in actors and len(actors) < required:
                lapsed = [f"{a.actor}'s approval expired at {iso(a.expires_at)}"
                          for a in r.approvals if a.digest == r.digest and a.expires_at <= now]
                detail = "; ".join(problems + lapsed) or "not enough valid approvals"
                raise ApprovalInvalid(f"{r.id} cannot be claimed: {len(actors)} of {required} "
                                      f"required approval(s) hold: {detail}",
                                      hint=f"a reviewer renews it: tracline request approve "
                                      f"{r.id}")
            other = conn.execute(select(t.requests.c.id)
                                 .where(t.requests.c.run_id == run_id)).scalar()
            if other is not None:
                raise InvalidTransition(f"run {run_id} already claimed {other}",
                                        hint="one run claims one request")
            won = self.store.transition(conn, r.id, State.APPROVED, State.CLAIMED,
                                        digest=r.digest, run_id=run_id, claimed_by=who,
                                        claimed_at=iso(now), state_actor=who,
                                        state_note=None, updated_at=iso(now))
            if not won:
                raise InvalidTransition(f"{r.id} was claimed by another run at the same time")
            self._log(conn, who, "claim", r.id, digest=r.digest, run_id=run_id,
                      approved_gpu_hours=str(r.gpu_hours), budget=str(r.budget), **context)
        return self.get(request_id)

    def recorded_cost(self, run_id: str) -> TraclineGpuCostRunFacet | None:
        """The ``tracline_gpuCost`` the registry holds for ``run_id`` — its own, else the sum
        over its child runs (a DAG run's task tries) — or None when none is recorded."""
        from tracline.registry import Registry

        registry = Registry(self.registry_url)
        try:
            try:
                runs = [registry.run(run_id)]
            except NotFound:  # its children's events may have arrived before its own
                runs = []
            if not runs or "tracline_gpuCost" not in runs[0].facets:
                runs = registry.children(run_id)
        finally:
            registry.close()
        names = {f.name for f in attrs.fields(TraclineGpuCostRunFacet)
                 if not f.name.startswith("_")}
        facets = []
        for run in runs:
            facet = run.facets.get("tracline_gpuCost")
            if isinstance(facet, dict):
                try:
                    facets.append(TraclineGpuCostRunFacet(
                        **{k: v for k, v in facet.items() if k in names}))
                except TypeError:
                    continue
        if len(facets) <= 1:
            return facets[0] if facets else None
        costs = [f.cost for f in facets]
        return attrs.evolve(facets[0], gpuSeconds=sum(f.gpuSeconds for f in facets),
                            cost=sum(c for c in costs if c is not None)
                            if all(c is not None for c in costs) else None)

    def complete(self, request_id: str, gpu_cost: TraclineGpuCostRunFacet | None = None, *,
                 run_id: str | None = None, actor: str | None = None,
                 step: str | None = None) -> TrainingRequest:
        """Record the claimed run's measured cost against the budget; flag an overrun.

        ``actor``: who records it (default: whoever claimed); ``step`` says which step. With
        signing on (and always on a server) the cost is the claiming run's recorded
        ``tracline_gpuCost`` in the registry, whatever ``gpu_cost`` says.
        """
        return self._finish(request_id, State.COMPLETED, gpu_cost=gpu_cost, run_id=run_id,
                            reason=None, actor=actor, step=step)

    def fail(self, request_id: str, reason: str, *,
             gpu_cost: TraclineGpuCostRunFacet | None = None,
             run_id: str | None = None, actor: str | None = None,
             step: str | None = None) -> TrainingRequest:
        """The claimed run failed; record why, and its cost if known."""
        reason_text = check_text("reason", reason, 2000, multiline=True)
        return self._finish(request_id, State.FAILED, gpu_cost=gpu_cost, run_id=run_id,
                            reason=reason_text, actor=actor, step=step)

    def measured_cost_arrived(self, run_id: str, *, actor: str
                              ) -> builtins.list[TrainingRequest]:
        """Replace the estimated cost of the request ``run_id`` claimed with the cost the run
        recorded, now that its events have reached the registry.

        A run's events may arrive after its request was settled (an orchestrator's worker
        settles as the task ends; its lineage follows through the outbox): the request was
        then settled with this service's estimate. The measured figure replaces it once, as
        an audit entry ``cost`` that keeps the estimate it replaced; a request settled with a
        measured cost is never changed. Returns the requests changed.
        """
        changed = []
        now = self.now()
        with self.store.write() as conn:
            for r in self.store.load_all(conn, run_id=run_id):
                if r.state not in {State.COMPLETED, State.FAILED} or r.completion is None \
                        or r.completion.measurement != "estimated":
                    continue
                recorded = self.recorded_cost(run_id)
                if recorded is None or recorded.measurement == "estimated":
                    continue
                done = _budget.completion(r, recorded, run_id, self.config, now)
                self.store.set_completion(conn, r.id, completion_json(done))
                self._log(conn, actor, "cost", r.id, run_id=run_id,
                          state=r.state.value, measurement=done.measurement,
                          actual=str(done.actual), estimated=str(r.completion.actual),
                          gpu_hours=str(done.gpu_hours), overrun=done.overrun,
                          overrun_by=str(done.overrun_by), budget=str(r.budget))
                changed.append(r.id)
        return [self.get(request_id) for request_id in changed]

    def _cost(self, r: TrainingRequest, new: State, gpu_cost: TraclineGpuCostRunFacet | None,
              now: dt.datetime) -> TraclineGpuCostRunFacet | None:
        """The cost to record: the caller's figure; with signing on (always on a server) the
        claiming run's recorded one, else this service's own estimate — the approved GPUs
        over the time since the claim — never a figure the caller gives."""
        if not (self.signatures.required or self.authenticated) or r.run_id is None:
            return gpu_cost
        recorded = self.recorded_cost(r.run_id)
        if recorded is not None:
            return recorded
        wall = max(0.0, (now - r.claimed_at).total_seconds()) if r.claimed_at else 0.0
        return TraclineGpuCostRunFacet(
            measurement="estimated", gpuModel=r.compute.gpu_model, gpuCount=r.compute.gpu_count,
            gpuSeconds=round(r.compute.gpu_count * wall, 3), wallSeconds=round(wall, 3),
            currency=r.budget.currency)

    def _finish(self, request_id: str, new: State, *,
                gpu_cost: TraclineGpuCostRunFacet | None, run_id: str | None,
                reason: str | None, actor: str | None, step: str | None) -> TrainingRequest:
        actor = check_claimant("actor", actor) if actor is not None else None
        context = _context(step=check_text("step", step, 500, required=False))
        now = self.now()
        with self.store.write() as conn:
            r = self.store.load(conn, request_id, lock=True)
            if r.state != State.CLAIMED or r.run_id is None:
                raise InvalidTransition(f"{r.id} is {r.state}; only a claimed request can be "
                                        f"{new.value}")
            if run_id is not None and run_id != r.run_id:
                raise NotAuthorized(f"run {run_id} did not claim {r.id} (run {r.run_id} did)")
            gpu_cost = self._cost(r, new, gpu_cost, now)
            done = (_budget.completion(r, gpu_cost, r.run_id, self.config, now)
                    if gpu_cost is not None else None)
            who = actor or r.claimed_by or r.requester
            self.store.transition(conn, r.id, State.CLAIMED, new, state_actor=who,
                                  state_note=reason, updated_at=iso(now),
                                  completion=completion_json(done) if done else None)
            details: dict[str, Any] = {"run_id": r.run_id, "state": new.value, "reason": reason,
                                       "budget": str(r.budget)}
            if done:
                details |= {"actual": str(done.actual), "overrun": done.overrun,
                            "overrun_by": str(done.overrun_by),
                            "gpu_hours": str(done.gpu_hours),
                            "approved_gpu_hours": str(r.gpu_hours),
                            "measurement": done.measurement}
            action = "complete" if new == State.COMPLETED else "fail"
            self._log(conn, who, action, r.id, **details, **context)
        return self.get(request_id)


def _context(**values: str | None) -> dict[str, str]:
    """The audit details an automated step adds (only those given)."""
    return {k: v for k, v in values.items() if v is not None}


def _spec_of(r: TrainingRequest) -> RequestSpec:
    return RequestSpec(
        title=r.title, requester=r.requester, project=r.project, datasets=r.datasets,
        gpu_model=r.compute.gpu_model, gpu_count=r.compute.gpu_count, hours=r.compute.hours,
        budget=r.budget.amount, rationale=r.rationale, currency=r.budget.currency,
        base_model=r.base_model, code_ref=r.code_ref, reviewers=r.reviewers,
        min_approvals=r.min_approvals, expires_at=r.expires_at, over_estimate=r.over_estimate,
    )
