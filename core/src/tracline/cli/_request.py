"""`tracline request file|list|show|approve|reject|claim|cancel|amend|complete|fail|audit`
and `tracline spend`.

Against a team server (``TRACLINE_URL``) the acting identity is the token's principal:
``--as``, ``--requester`` and ``TRACLINE_ACTOR`` are refused. On one machine with ``[signing]``
on it is the signing key's owner in the allowed-signers file. Otherwise it comes from
``--as``, else ``TRACLINE_ACTOR``, else ``user:$USER`` — asserted, not authenticated.
"""

from __future__ import annotations

import getpass
import os
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import click

from tracline.approvals import (
    GROUPS,
    DatasetRef,
    ModelRef,
    RemoteRequests,
    Requests,
    RequestSpec,
    State,
    TrainingRequest,
    jsonable,
    open_requests,
    parse_duration,
    request_dict,
)
from tracline.cli._app import app
from tracline.cli._output import json_option, line, print_json, show
from tracline.cli._request_views import audit_table, request_list, request_view, spend_table
from tracline.config import load_config
from tracline.errors import ConfigError, NotAuthorized, ValidationError
from tracline.facets import TraclineGpuCostRunFacet
from tracline.gating import parse_ref

F = TypeVar("F", bound=Callable[..., Any])


def _service() -> Requests:
    return open_requests(load_config())


def _actor(svc: Requests, value: str | None, flag: str = "--as") -> str:
    """Who acts: the server's authenticated principal, the signing key's owner, or (plain
    local mode) ``--as``, ``TRACLINE_ACTOR`` or ``user:$USER``."""
    named = value or os.environ.get("TRACLINE_ACTOR")
    if isinstance(svc, RemoteRequests):
        me = svc.whoami()
        if named and named != me:
            source = flag if value else "TRACLINE_ACTOR"
            raise NotAuthorized(f"{source} {named} is refused against a server: you act as "
                                f"your token's principal, {me}",
                                hint=f"drop {source}; to act as someone else, use their token")
        return me
    me_local = svc.whoami()
    if me_local is not None:
        if named and named != me_local:
            source = flag if value else "TRACLINE_ACTOR"
            raise NotAuthorized(f"{source} {named} is refused: signing is on and your key "
                                f"belongs to {me_local}",
                                hint="act as yourself; others act with their own keys")
        return me_local
    return named or f"user:{getpass.getuser()}"


def _requester(svc: Requests, requester: str | None, actor: str | None) -> str:
    """Who files: with identity checked (server, signing), ``--requester`` must be the actor."""
    me = _actor(svc, actor)
    if requester is None or not (isinstance(svc, RemoteRequests) or svc.whoami()):
        return requester or me
    return _actor(svc, requester, "--requester")


def as_option(func: F) -> F:
    """Add ``--as ACTOR`` to a command."""
    return click.option("--as", "actor", default=None, metavar="ACTOR",
                        help="Who acts: user:NAME or agent:NAME (default $TRACLINE_ACTOR, "
                        "else user:$USER).")(func)


def _run_id(value: str | None, option: str = "--run-id") -> str | None:
    """A run id as OpenLineage has it: a UUID (``tracline run`` prints and records one)."""
    if value is None:
        return None
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        raise ValidationError(option, f"{value!r} is not a run id (a UUID)",
                              hint="give the runId of the run's OpenLineage events, e.g. "
                              "from `tracline trace --json` or the run's receipt") from None


def _emit(svc: Requests, r: TrainingRequest, as_json: bool) -> None:
    if as_json:
        print_json(request_dict(r, required_approvals=svc.policy.required_approvals(r)))
    else:
        show(request_view(svc, r))


@app.group("request")
def request_app() -> None:
    """File, review, claim and audit training requests."""


@request_app.command("file")
@click.option("--title", required=True)
@click.option("--requester", default=None, help="user:NAME or agent:NAME (default: --as).")
@click.option("--project", required=True)
@click.option("--dataset", "datasets", multiple=True, required=True, metavar="URI[@DIGEST]",
              help="A dataset URI with its digest, or a local path (hashed). Repeatable.")
@click.option("--base-model", default=None, metavar="REF[@DIGEST]")
@click.option("--code-ref", default=None, help="e.g. a git URL and commit.")
@click.option("--gpu", "gpu_model", required=True, help="GPU model, e.g. H100.")
@click.option("--gpus", "gpu_count", type=int, required=True, help="Number of GPUs.")
@click.option("--hours", required=True, help="Wall-clock hours.")
@click.option("--budget", required=True, help="Most money the run may spend.")
@click.option("--currency", default="USD", show_default=True)
@click.option("--rationale", required=True, help="Why this run is worth its cost.")
@click.option("--reviewer", "reviewers", multiple=True, metavar="user:NAME|group:NAME")
@click.option("--min-approvals", type=int, default=1, show_default=True)
@click.option("--expires-in", default=None, help='e.g. "7d" (default: [policy] request_ttl).')
@click.option("--over-estimate", default=None, metavar="REASON",
              help="Accept a budget below the estimate, recording why.")
@click.option("-q", "--quiet", is_flag=True,
              help="Print only the new request's id (REQ=$(tracline request file -q ...)).")
@as_option
@json_option
def file_cmd(*, title: str, requester: str | None, project: str, datasets: tuple[str, ...],
             base_model: str | None, code_ref: str | None, gpu_model: str, gpu_count: int,
             hours: str, budget: str, currency: str, rationale: str,
             reviewers: tuple[str, ...], min_approvals: int, expires_in: str | None,
             over_estimate: str | None, quiet: bool, actor: str | None, as_json: bool) -> None:
    """File a training request (its estimate and budget fit are shown)."""
    svc = _service()
    expires_at = None
    if expires_in is not None:
        try:
            expires_at = svc.now() + parse_duration(expires_in, "--expires-in")
        except ConfigError as e:
            raise ValidationError("expires_in", f"{expires_in!r} is not a duration",
                                  hint=e.hint) from None
    spec = RequestSpec(
        title=title, requester=_requester(svc, requester, actor), project=project,
        datasets=[DatasetRef(*parse_ref(d)) for d in datasets],
        base_model=ModelRef(*parse_ref(base_model)) if base_model else None, code_ref=code_ref,
        gpu_model=gpu_model, gpu_count=gpu_count, hours=hours, budget=budget,
        currency=currency.upper(), rationale=rationale, reviewers=reviewers,
        min_approvals=min_approvals, expires_at=expires_at, over_estimate=over_estimate,
    )
    filed = svc.file(spec)
    if quiet and not as_json:
        line(filed.id)
    else:
        _emit(svc, filed, as_json)


@request_app.command("list")
@click.option("--state", default=None, type=click.Choice([s.value for s in State]))
@click.option("--requester", default=None)
@click.option("--project", default=None)
@json_option
def list_cmd(state: str | None, requester: str | None, project: str | None,
             as_json: bool) -> None:
    """List requests, newest first (overdue pending ones are marked expired first)."""
    svc = _service()
    svc.expire_overdue()
    found = svc.list(state=state, requester=requester, project=project)
    if as_json:
        print_json([request_dict(r) for r in found])
        return
    if found:
        show(request_list(found))
    else:
        line("no training requests yet; file one with `tracline request file`")


@request_app.command("show")
@click.argument("request_id")
@json_option
def show_cmd(request_id: str, as_json: bool) -> None:
    """Show one request: estimate arithmetic, budget fit, approvals, outcome, digest."""
    svc = _service()
    _emit(svc, svc.get(request_id), as_json)


@request_app.command("approve")
@click.argument("request_id")
@click.option("--note", default=None)
@click.option("--digest", default=None, help="The digest you reviewed (refused if it changed).")
@as_option
@json_option
def approve_cmd(request_id: str, note: str | None, digest: str | None, actor: str | None,
                as_json: bool) -> None:
    """Approve a request's current content as a reviewer."""
    svc = _service()
    _emit(svc, svc.approve(request_id, _actor(svc, actor), note=note, digest=digest), as_json)


@request_app.command("reject")
@click.argument("request_id")
@click.option("--reason", required=True)
@as_option
@json_option
def reject_cmd(request_id: str, reason: str, actor: str | None, as_json: bool) -> None:
    """Reject a pending request as a reviewer, saying why."""
    svc = _service()
    _emit(svc, svc.reject(request_id, _actor(svc, actor), reason), as_json)


@request_app.command("cancel")
@click.argument("request_id")
@click.option("--reason", default=None)
@as_option
@json_option
def cancel_cmd(request_id: str, reason: str | None, actor: str | None, as_json: bool) -> None:
    """Withdraw your own pending request."""
    svc = _service()
    _emit(svc, svc.cancel(request_id, _actor(svc, actor), reason), as_json)


@request_app.command("claim")
@click.argument("request_id")
@click.option("--run-id", required=True, help="The run that spends the approved budget.")
@as_option
@json_option
def claim_cmd(request_id: str, run_id: str, actor: str | None, as_json: bool) -> None:
    """Claim an approved request for one run (exactly once)."""
    svc = _service()
    _emit(svc, svc.claim(request_id, _run_id(run_id) or "", _actor(svc, actor)), as_json)


@request_app.command("amend")
@click.argument("request_id")
@click.option("--title", default=None)
@click.option("--gpu", "gpu_model", default=None)
@click.option("--gpus", "gpu_count", type=int, default=None)
@click.option("--hours", default=None)
@click.option("--budget", default=None)
@click.option("--rationale", default=None)
@click.option("--over-estimate", default=None, metavar="REASON")
@as_option
@json_option
def amend_cmd(request_id: str, actor: str | None, as_json: bool, **changes: Any) -> None:
    """Change your request; approvals of the old content no longer hold."""
    svc = _service()
    given = {k: v for k, v in changes.items() if v is not None}
    _emit(svc, svc.amend(request_id, _actor(svc, actor), **given), as_json)


@request_app.command("complete")
@click.argument("request_id")
@click.option("--gpu-seconds", type=float, default=None,
              help="Declared GPU-seconds (local mode without signing only).")
@click.option("--cost", type=float, default=None, help="Actual cost (default: from prices).")
@click.option("--run-id", default=None, help="Must be the run that claimed the request.")
@json_option
def complete_cmd(request_id: str, gpu_seconds: float | None, cost: float | None,
                 run_id: str | None, as_json: bool) -> None:
    """Record a claimed run's cost against the budget: its recorded tracline_gpuCost (with
    signing on or against a server), else the declared --gpu-seconds."""
    svc = _service()
    recorded_only = isinstance(svc, RemoteRequests) or svc.signatures.required
    if recorded_only:
        if gpu_seconds is not None or cost is not None:
            raise NotAuthorized("a declared cost (--gpu-seconds/--cost) is refused here: the "
                                "cost comes from the claiming run's recorded tracline_gpuCost",
                                hint=f"drop them: tracline request complete {request_id}")
        _emit(svc, svc.complete(request_id, None, run_id=_run_id(run_id)), as_json)
        return
    if gpu_seconds is None:
        raise ValidationError("gpu_seconds", "is missing",
                              hint="give --gpu-seconds (the claiming run records it when "
                              "captured)")
    r = svc.get(request_id)
    facet = TraclineGpuCostRunFacet(measurement="declared", gpuModel=r.compute.gpu_model,
                                    gpuCount=r.compute.gpu_count, gpuSeconds=gpu_seconds,
                                    cost=cost, currency=r.budget.currency)
    _emit(svc, svc.complete(request_id, facet, run_id=_run_id(run_id)), as_json)


@request_app.command("fail")
@click.argument("request_id")
@click.option("--reason", required=True)
@json_option
def fail_cmd(request_id: str, reason: str, as_json: bool) -> None:
    """Mark a claimed request's run as failed."""
    svc = _service()
    _emit(svc, svc.fail(request_id, reason), as_json)


@request_app.command("audit")
@click.argument("request_id", required=False)
@click.option("--verify", is_flag=True, help="Recompute the hash chain; exit 1 if broken.")
@click.option("--expect-head", default=None, metavar="HASH",
              help="With --verify: a head hash noted earlier elsewhere; the chain must hold it.")
@json_option
def audit_cmd(request_id: str | None, verify: bool, expect_head: str | None,
              as_json: bool) -> None:
    """Show the audit log (of one request), or verify the whole chain."""
    svc = _service()
    if verify:
        report = svc.verify_audit(expect_head)
        if as_json:
            print_json(jsonable(report))
        elif report.ok:
            line(f"audit log intact: {report.entries} entries, head {report.head_seq} "
                 f"{report.head_hash}")
        else:
            line(f"audit log BROKEN ({report.entries} entries):", "red")
            for p in report.problems:
                line(f"  seq {p.seq}: {p.problem}")
        if not report.ok:
            raise click.exceptions.Exit(1)
        return
    found = svc.audit(request_id)
    if as_json:
        print_json(jsonable(found))
        return
    show(audit_table(found))


@app.command("spend")
@click.option("--by", "group_by", default="requester", show_default=True,
              type=click.Choice(GROUPS))
@json_option
def spend_cmd(group_by: str, as_json: bool) -> None:
    """GPU-hours and money by requester, agent, kind, project or request: estimate vs actual."""
    rows = _service().spend(group_by)
    if as_json:
        print_json(jsonable(rows))
        return
    if rows:
        show(spend_table(group_by, rows))
    else:
        line("no approved requests yet")
