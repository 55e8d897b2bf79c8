"""Builders shared by the training-request tests: a policy, a settable clock, the docs example."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa

from tracline.approvals import RequestService, RequestSpec
from tracline.approvals import _schema as tables
from tracline.config import Config

#: The policy of most tests: chris and dana review; two approvals above $5,000.
POLICY: dict[str, Any] = {
    "reviewers": ["user:chris", "group:ml-leads"],
    "two_approvals_above": 5000,
    "approval_ttl": "72h",
    "groups": {"ml-leads": ["user:chris", "user:dana"]},
}
DIGEST_A = "sha256:" + "a" * 64


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.now += dt.timedelta(**delta)


def make_config(policy: dict[str, Any] | None = None, **sections: Any) -> Config:
    """A configuration holding ``[policy]`` and any other raw sections."""
    return Config(sections={"policy": POLICY if policy is None else policy, **sections})


def docs_spec(**changes: Any) -> RequestSpec:
    """The docs example: 8× H100 for 3.2 h, budget $984, reviewer chris, filed by an agent."""
    fields: dict[str, Any] = {
        "title": "Fine-tune the cat classifier",
        "requester": "agent:trainer",
        "project": "vision",
        "datasets": [f"s3://datasets/cats@{DIGEST_A}"],
        "gpu_model": "H100",
        "gpu_count": 8,
        "hours": "3.2",
        "budget": 984,
        "rationale": "Validation accuracy plateaued; a longer schedule should help.",
        "reviewers": ["user:chris"],
    }
    fields.update(changes)
    datasets = [_ref(d) if isinstance(d, str) else d for d in fields["datasets"]]
    return RequestSpec(**{**fields, "datasets": datasets})


def _ref(text: str) -> Any:
    from tracline.approvals import DatasetRef

    uri, _, digest = text.rpartition("@")
    return DatasetRef(uri, digest) if uri else DatasetRef(text)


def snapshot(svc: RequestService) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every request table, to prove a refused change wrote nothing."""
    with svc.store.engine.connect() as conn:
        return {
            table.name: [tuple(r) for r in conn.execute(
                sa.select(table).order_by(*table.primary_key.columns))]
            for table in tables.metadata.sorted_tables
        }
