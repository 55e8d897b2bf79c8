"""Review policy from ``[policy]`` in tracline.toml: who reviews, thresholds, lifetimes.

::

    [policy]
    reviewers = ["user:chris", "group:ml-leads"]  # who may review; the default reviewers
    auto_approve_below = 50        # budgets under this are approved by policy
    two_approvals_above = 5000     # budgets over this need two distinct approvals
    currency = "USD"               # the currency of the thresholds
    approval_ttl = "72h"           # an approval not used by then must be renewed
    request_ttl = "14d"            # a pending request expires after this
    max_request_ttl = "90d"

    [policy.groups]
    ml-leads = ["user:chris", "user:dana"]
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from tracline.approvals._model import TrainingRequest
from tracline.config import Config
from tracline.errors import ConfigError, NotAuthorized

__all__ = ["AUTO_APPROVER", "EXPIRY_ACTOR", "ReviewPolicy", "parse_duration"]

#: The actor recorded when policy approves a request under the auto-approve threshold.
AUTO_APPROVER = "policy:auto-approve"
#: The actor recorded when a pending request passes its expiry.
EXPIRY_ACTOR = "policy:expiry"

_KEYS = {"reviewers", "groups", "auto_approve_below", "two_approvals_above", "currency",
         "approval_ttl", "request_ttl", "max_request_ttl"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "": 3600, "d": 86400, "w": 604800}
PRINCIPAL = re.compile(r"^(user|agent|group):[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


def parse_duration(value: Any, where: str) -> dt.timedelta:
    """``"72h"``, ``"14d"``, ``"30m"`` or a number of hours → a positive timedelta."""
    if isinstance(value, dt.timedelta):
        return value
    match = _DURATION.match(str(value)) if not isinstance(value, bool) else None
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{where} = {value!r} is not a duration",
                          hint='write e.g. "72h", "14d", "30m" or a number of hours')
    return dt.timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def _amount(value: Any, where: str) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        amount = Decimal(-1)
    if isinstance(value, bool) or not amount.is_finite() or amount < 0:
        raise ConfigError(f"{where} = {value!r} is not an amount of money",
                          hint="write a number such as 500")
    return amount


def _principals(value: Any, where: str, kinds: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigError(f"{where} must be a list", hint='write e.g. ["user:chris"]')
    for item in value:
        kind = item.split(":")[0] if isinstance(item, str) else ""
        if not isinstance(item, str) or not PRINCIPAL.match(item) or kind not in kinds:
            raise ConfigError(f"{where} holds {item!r}, which is not a "
                              + " or ".join(f"{k}:NAME" for k in kinds),
                              hint="agents never review; name people as user:NAME")
    return tuple(value)


@attrs.frozen
class ReviewPolicy:
    """The review rules in force; see the module docstring for the configuration."""

    reviewers: tuple[str, ...] = ()
    groups: Mapping[str, tuple[str, ...]] = attrs.field(factory=dict)
    auto_approve_below: Decimal | None = None
    two_approvals_above: Decimal | None = None
    currency: str = "USD"
    approval_ttl: dt.timedelta = dt.timedelta(hours=72)
    request_ttl: dt.timedelta = dt.timedelta(days=14)
    max_request_ttl: dt.timedelta = dt.timedelta(days=90)

    @classmethod
    def from_config(cls, config: Config) -> ReviewPolicy:
        """Read ``[policy]``; raise :class:`ConfigError` naming the bad key."""
        table = config.checked_section("policy", _KEYS)
        groups_raw = table.get("groups", {})
        if not isinstance(groups_raw, Mapping):
            raise ConfigError("[policy] groups must be a table",
                              hint='write [policy.groups] with ml-leads = ["user:chris"]')
        groups = {str(name): _principals(members, f"[policy.groups] {name}", ("user",))
                  for name, members in groups_raw.items()}
        policy = cls(
            reviewers=_principals(table.get("reviewers", []), "[policy] reviewers",
                                  ("user", "group")),
            groups=groups,
            auto_approve_below=_amount(table.get("auto_approve_below"),
                                       "[policy] auto_approve_below"),
            two_approvals_above=_amount(table.get("two_approvals_above"),
                                        "[policy] two_approvals_above"),
            currency=str(table.get("currency", "USD")).upper(),
            approval_ttl=parse_duration(table.get("approval_ttl", "72h"),
                                        "[policy] approval_ttl"),
            request_ttl=parse_duration(table.get("request_ttl", "14d"), "[policy] request_ttl"),
            max_request_ttl=parse_duration(table.get("max_request_ttl", "90d"),
                                           "[policy] max_request_ttl"),
        )
        for group in (r.split(":", 1)[1] for r in policy.reviewers if r.startswith("group:")):
            if group not in groups:
                raise ConfigError(f"[policy] reviewers names group:{group}, which is not defined",
                                  hint=f"add {group} = [...] under [policy.groups]")
        return policy

    def members(self, principal: str) -> set[str]:
        """The people a reviewer entry stands for (a group expands to its members)."""
        if principal.startswith("group:"):
            return set(self.groups.get(principal.split(":", 1)[1], ()))
        return {principal} if principal.startswith("user:") else set()

    def allowed_reviewers(self) -> set[str] | None:
        """Everyone policy lets review, or None when policy names nobody (anyone may)."""
        if not self.reviewers:
            return None
        return set().union(*(self.members(r) for r in self.reviewers))

    def eligible(self, request: TrainingRequest) -> set[str]:
        """The people who may approve or reject ``request``: its reviewers, minus its requester."""
        people = set().union(*(self.members(r) for r in request.reviewers))
        return people - {request.requester}

    def required_approvals(self, request: TrainingRequest) -> int:
        """How many distinct approvals ``request`` needs (two above the threshold)."""
        above = self.two_approvals_above
        if above is not None and (
            request.budget.currency != self.currency or request.budget.amount > above
        ):
            return max(request.min_approvals, 2)
        return request.min_approvals

    def auto_approves(self, request: TrainingRequest) -> bool:
        """True when the budget is under ``auto_approve_below`` (in the policy's currency)."""
        below = self.auto_approve_below
        return (
            below is not None
            and request.budget.currency == self.currency
            and request.budget.amount < below
            and request.shortfall is None
        )

    def check_reviewer(self, request: TrainingRequest, actor: str, verb: str) -> None:
        """Raise :class:`NotAuthorized` unless ``actor`` may ``verb`` ``request``."""
        if actor.startswith("agent:"):
            raise NotAuthorized(
                f"{actor} may not {verb} {request.id}: agents never approve or reject",
                hint="a person (user:NAME) among the request's reviewers must decide",
            )
        if actor == request.requester:
            raise NotAuthorized(
                f"{actor} filed {request.id} and may not {verb} it",
                hint=f"ask one of its reviewers: {self.describe(request)}",
            )
        if actor not in self.eligible(request):
            raise NotAuthorized(
                f"{actor} is not a reviewer of {request.id}",
                hint=f"its reviewers are {self.describe(request)}",
            )

    def describe(self, request: TrainingRequest) -> str:
        """The request's reviewers, with groups expanded, for messages."""
        parts = []
        for r in request.reviewers:
            if r.startswith("group:"):
                parts.append(f"{r} ({', '.join(sorted(self.members(r))) or 'no members'})")
            else:
                parts.append(r)
        return ", ".join(parts) or "nobody"
