"""What tracline shows on a flow run in Prefect's UI: markdown artifacts.

* ``tracline-request-<id>``: the training request the gate waits on — status, estimate,
  budget, reviewers, datasets and where to review it — a new version at each step (pending,
  resumed without an approval, approved and claimed, refused);
* ``tracline-receipt-<id>``: once the approved task ended, what it read and wrote (digests),
  its cost against the budget and the request's final state.

Publishing is fail-soft: an artifact that cannot be written is logged, never a failure.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from typing import Any

from tracline.approvals import TrainingRequest
from tracline.config import Config
from tracline.gating import Claim, Decision
from tracline_prefect import compat

__all__ = ["publish_receipt", "publish_request", "review_link"]

log = logging.getLogger(__name__)


def _key(kind: str, request_id: str) -> str:
    return f"tracline-{kind}-" + re.sub(r"[^a-z0-9-]+", "-", request_id.lower()).strip("-")


def review_link(config: Config, request_id: str, *, pending: bool = True) -> str:
    """Where a reviewer decides (or anyone reads) the request: the team server's page, else
    the CLI command."""
    url = os.environ.get("TRACLINE_URL") or config.section("server").get("url")
    if url:
        page = f"{str(url).rstrip('/')}/requests/{request_id}"
        return f"[{page}]({page})"
    if pending:
        return f"`tracline request approve {request_id}` (or `reject {request_id} --reason ...`)"
    return f"`tracline request show {request_id}`"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(rows: Iterable[tuple[str, object]]) -> str:
    lines = ["| | |", "|---|---|"]
    lines += [f"| **{name}** | {_cell(value)} |" for name, value in rows if value not in (None, "")]
    return "\n".join(lines)


def _request_rows(request: TrainingRequest) -> list[tuple[str, object]]:
    e = request.estimate
    approvers = ", ".join(sorted({a.actor for a in request.approvals
                                  if a.digest == request.digest}))
    return [
        ("Title", request.title),
        ("Requested by", request.requester),
        ("Project", request.project),
        ("Estimate", f"{e.money} = {e.arithmetic} (price: {e.price_source}, "
                     f"{e.price_as_of.isoformat()})"),
        ("Budget", str(request.budget)),
        ("Compute", f"{request.compute.gpu_count} × {request.compute.gpu_model} × "
                    f"{request.compute.hours} h"),
        ("Reviewers", ", ".join(request.reviewers) or "the policy's reviewers"),
        ("Approved by", approvers),
        ("Datasets", "; ".join(f"`{d.uri}` @ `{d.digest}`" for d in request.datasets)),
        ("Expires", request.expires_at.isoformat(timespec="seconds")),
        ("Request digest", f"`{request.digest}`"),
    ]


def _publish(markdown: str, key: str, description: str) -> None:
    try:
        compat.publish_markdown(markdown, key, description)
    except Exception as e:  # noqa: BLE001 - the UI never breaks the flow
        log.warning("tracline: could not publish the Prefect artifact %s: %s", key, e)


def publish_request(request: TrainingRequest, decision: Decision, *, gate: str,
                    config: Config, note: str | None = None, claim: Claim | None = None) -> None:
    """The request's status as the gate sees it now, on the current flow run."""
    status = decision.state if claim is None else f"approved, claimed by flow run {claim.run_id}"
    why = (decision.reason if claim is None else
           f"approved by {', '.join(claim.approved_by)}; the approval pays for this flow run")
    rows: list[tuple[str, object]] = [("Status", status), ("Gate", gate), ("Why", why)]
    if note:
        rows.append(("Note", note))
    if claim is not None:
        rows.append(("Time limit", f"{claim.time_limit} (approved GPU-hours ÷ GPU count)"))
    rows += _request_rows(decision.request)
    rows.append(("Review", review_link(config, request.id,
                                       pending=claim is None and not decision.decided)))
    markdown = f"### tracline training request `{request.id}`: {status}\n\n" + _table(rows)
    _publish(markdown, _key("request", request.id), f"tracline: {request.id} {status}")


def _files(files: Iterable[Any]) -> str:
    rows = [f"`{f.path}` @ `{f.digest}`" for f in files if getattr(f, "digest", None)]
    return "; ".join(rows) or "none observed"


def publish_receipt(request: TrainingRequest | None, claim: Claim, *, task: str,
                    record: Any | None, outcome: str, note: str | None = None) -> None:
    """The receipt of the approved task: files with digests, cost, the request's end."""
    spent = None
    if request is not None and request.completion is not None:
        c = request.completion
        spent = (f"{c.actual} ({c.measurement}: {c.gpu_count} × {c.gpu_model}, "
                 f"{c.gpu_hours} GPU-hours)" + (f", over budget by {c.overrun_by}"
                                                 if c.overrun else ""))
    rows: list[tuple[str, object]] = [
        ("Task", task),
        ("Outcome", outcome),
        ("Request", f"{claim.request_id} — {request.state if request else 'unknown'}"),
        ("Approved by", ", ".join(claim.approved_by)),
        ("Spent", spent),
        ("Budget", f"{claim.budget} {claim.currency}"),
        ("Read", _files(getattr(record, "inputs", ()))),
        ("Wrote", _files(getattr(record, "outputs", ()))),
        ("Run", f"OpenLineage run `{getattr(record, 'run_id', '')}`"),
        ("Note", note),
    ]
    markdown = (f"### tracline receipt of `{task}` under `{claim.request_id}`\n\n" + _table(rows)
                + "\n\nThe full lineage: `tracline receipt <output path>`.")
    _publish(markdown, _key("receipt", claim.request_id), f"tracline: receipt of {task}")
