"""Validation of a filed request, field by field: every error names the field at fault."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from tracline.approvals._estimate import CENT, estimate, fit_line
from tracline.approvals._model import Compute, DatasetRef, ModelRef, Money, RequestSpec
from tracline.approvals._review_policy import PRINCIPAL, ReviewPolicy
from tracline.config import Config
from tracline.errors import TraclineError, ValidationError
from tracline.gpu import normalize_model
from tracline.hashing import digest_path

__all__ = ["DIGEST", "check_actor", "check_claimant", "check_text", "run_principal",
           "validate_spec"]

#: A content digest: ``<algorithm>:<hex>``.
DIGEST = re.compile(r"^[a-z0-9]+:[0-9a-f]{16,128}$")
#: The principal of an automated step: ``run:<orchestrator>/<run id>`` (at most 77 characters,
#: so it fits the store's actor columns).
RUN_PRINCIPAL = re.compile(r"^run:[a-z][a-z0-9-]{0,11}/[A-Za-z0-9][A-Za-z0-9._:+-]{0,59}$")
_BIDI = set(range(0x202A, 0x202F)) | set(range(0x2066, 0x206A)) | {0x2028, 0x2029}
MAX_GPUS = 100_000
MAX_HOURS = Decimal(100_000)
MAX_BUDGET = Decimal(10) ** 12


def check_text(field: str, value: Any, max_len: int, *, multiline: bool = False,
               required: bool = True) -> str | None:
    """A stripped string without control characters, at most ``max_len`` long."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationError(field, "is empty", hint=f"give a {field}")
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be text, not {type(value).__name__}")
    text = value.strip()
    if len(text) > max_len:
        raise ValidationError(field, f"is {len(text)} characters long, over the limit of "
                              f"{max_len}", hint="shorten it; link to details instead")
    for ch in text:
        if (unicodedata.category(ch) == "Cc" and not (multiline and ch in "\n\t")) or (
            ord(ch) in _BIDI
        ):
            raise ValidationError(field, f"contains the control character U+{ord(ch):04X}",
                                  hint="remove control and bidirectional-override characters")
    return text


def check_actor(field: str, value: Any) -> str:
    """A principal ``user:NAME`` or ``agent:NAME``."""
    text = check_text(field, value, 70) or ""
    if not PRINCIPAL.match(text) or text.startswith("group:"):
        raise ValidationError(field, f"{text!r} is not user:NAME or agent:NAME",
                              hint="e.g. user:alice for a person, agent:trainer-bot for an agent")
    return text


def check_claimant(field: str, value: Any) -> str:
    """Who may claim, complete or fail: a person, an agent, or a run (``run:...``)."""
    text = check_text(field, value, 80) or ""
    if RUN_PRINCIPAL.match(text):
        return text
    return check_actor(field, text)


def run_principal(orchestrator: str, run_id: str) -> str:
    """The audit principal of an automated step, e.g. ``run:airflow/0195f3c2-…``.

    ``orchestrator`` is a short lower-case name (``airflow``, ``prefect``, ``tracline``);
    ``run_id`` the run that acts (e.g. the OpenLineage run id of an Airflow task try).
    """
    text = f"run:{orchestrator}/{run_id}"
    if not RUN_PRINCIPAL.match(text):
        raise ValidationError("actor", f"{text!r} is not run:<orchestrator>/<run id>",
                              hint="orchestrator: up to 12 of a-z 0-9 -; run id: up to 60 of "
                              "letters, digits and . _ : + -")
    return text


def _decimal(field: str, value: Any, limit: Decimal) -> Decimal:
    try:
        number = Decimal(str(value)) if not isinstance(value, bool) else Decimal("nan")
    except InvalidOperation:
        number = Decimal("nan")
    if not number.is_finite():
        raise ValidationError(field, f"{value!r} is not a number", hint="write e.g. 3.2")
    if number <= 0:
        raise ValidationError(field, f"must be positive, not {value}",
                              hint=f"give a {field} above zero")
    if number > limit:
        raise ValidationError(field, f"{value} is over the limit of {limit}")
    return number


def _dataset(field: str, item: DatasetRef | str) -> DatasetRef:
    ref = item if isinstance(item, DatasetRef) else DatasetRef(str(item))
    uri = check_text(f"{field}.uri", ref.uri, 2048) or ""
    digest = check_text(f"{field}.digest", ref.digest, 200, required=False)
    local = Path(uri[len("file://"):] if uri.startswith("file://") else uri)
    if ("://" not in uri or uri.startswith("file://")) and local.exists():
        uri = "file://" + str(local.resolve())
        if digest is None:
            try:
                digest = digest_path(local).digest
            except TraclineError as e:
                raise ValidationError(f"{field}.digest", f"cannot hash {local}: {e}") from e
    if digest is None:
        raise ValidationError(f"{field}.digest", f"{uri} has no digest",
                              hint="give URI@<algorithm>:<hex>, or a local path to hash")
    if not DIGEST.match(digest):
        raise ValidationError(f"{field}.digest", f"{digest!r} is not <algorithm>:<hex>",
                              hint="e.g. blake3:1f0c… or sha256:9a3b…")
    return DatasetRef(uri, digest)


def _base_model(value: ModelRef | str | None) -> ModelRef | None:
    if value is None:
        return None
    ref = _dataset("base_model", DatasetRef(value.ref, value.digest)
                   if isinstance(value, ModelRef) else value)
    return ModelRef(ref.uri, ref.digest)


def _reviewers(spec: RequestSpec, policy: ReviewPolicy,
               requester: str) -> tuple[tuple[str, ...], int]:
    named = list(spec.reviewers) or list(policy.reviewers)
    if not named:
        raise ValidationError("reviewers", "names nobody and [policy] reviewers is empty",
                              hint="name a reviewer, e.g. user:chris")
    allowed = policy.allowed_reviewers()
    for i, r in enumerate(named):
        text = check_text(f"reviewers[{i}]", r, 70) or ""
        if not PRINCIPAL.match(text) or text.startswith("agent:"):
            raise ValidationError(f"reviewers[{i}]", f"{text!r} is not user:NAME or group:NAME",
                                  hint="agents never review; name people or groups")
        if text.startswith("group:") and text[6:] not in policy.groups:
            known = ", ".join(sorted(policy.groups)) or "none"
            raise ValidationError(f"reviewers[{i}]", f"{text} is not a group in [policy.groups]",
                                  hint=f"known groups: {known}")
        if allowed is not None and not policy.members(text) & allowed:
            raise ValidationError(f"reviewers[{i}]", f"{text} may not review under [policy]",
                                  hint=f"choose from {', '.join(policy.reviewers)}")
    if isinstance(spec.min_approvals, bool) or not isinstance(spec.min_approvals, int) or not (
        1 <= spec.min_approvals <= 10
    ):
        raise ValidationError("min_approvals", f"{spec.min_approvals!r} is not 1 to 10")
    people = set().union(*(policy.members(r) for r in named)) - {requester}
    if len(people) < spec.min_approvals:
        raise ValidationError("reviewers", f"{spec.min_approvals} approval(s) needed but only "
                              f"{len(people)} eligible reviewer(s) besides the requester",
                              hint="name more reviewers; requesters never approve their own")
    return tuple(dict.fromkeys(named)), spec.min_approvals


def validate_spec(spec: RequestSpec, config: Config, policy: ReviewPolicy,
                  now: dt.datetime) -> dict[str, Any]:
    """The normalised fields of a request, or :class:`ValidationError` naming the bad one."""
    if not isinstance(spec, RequestSpec):
        raise ValidationError("request", f"expected a RequestSpec, got {type(spec).__name__}")
    requester = check_actor("requester", spec.requester)
    project = check_text("project", spec.project, 100) or ""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._/-]*", project):
        raise ValidationError("project", f"{project!r} has characters other than letters, "
                              "digits, . _ / -", hint="e.g. vision/resnet-finetune")
    if isinstance(spec.datasets, str | bytes) or not spec.datasets:
        raise ValidationError("datasets", "names no dataset",
                              hint="give at least one dataset URI with its digest")
    if len(spec.datasets) > 1000:
        raise ValidationError("datasets", f"{len(spec.datasets)} datasets, over the limit 1000")
    count = spec.gpu_count
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_GPUS:
        raise ValidationError("gpu_count", f"{count!r} is not a whole number of GPUs from 1 to "
                              f"{MAX_GPUS}")
    hours = _decimal("hours", spec.hours, MAX_HOURS)
    currency = check_text("currency", spec.currency, 16) or ""
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise ValidationError("currency", f"{currency!r} is not an ISO 4217 code", hint="e.g. USD")
    budget = Money(_decimal("budget", spec.budget, MAX_BUDGET).quantize(CENT, ROUND_HALF_UP),
                   currency)
    if budget.amount <= 0:
        raise ValidationError("budget", f"{spec.budget} rounds to zero", hint="give at least 0.01")
    model = check_text("gpu_model", spec.gpu_model, 64) or ""
    est = estimate(Compute(model, count, hours), config)
    compute = Compute(normalize_model(model), count, hours)
    if est.amount <= 0:
        raise ValidationError("hours", f"{spec.hours} h on {count} × {compute.gpu_model} is too "
                              f"short to cost anything (the estimate rounds to zero)",
                              hint="give the wall-clock hours the run needs, e.g. 0.5")
    if est.currency != currency:
        raise ValidationError("currency", f"the budget is in {currency} but the {compute.gpu_model}"
                              f" price is in {est.currency}",
                              hint=f"file the budget in {est.currency}, or configure "
                              f"[prices.{compute.gpu_model}] in {currency}")
    over = check_text("over_estimate", spec.over_estimate, 2000, multiline=True, required=False)
    if budget.amount < est.amount and over is None:
        raise ValidationError("budget", fit_line(budget, est),
                              hint="raise the budget, request less compute, or give an "
                              "over-estimate reason (recorded with the request)")
    expires = spec.expires_at or now + policy.request_ttl
    if expires.tzinfo is None:
        raise ValidationError("expires_at", "has no timezone", hint="give an aware datetime (UTC)")
    if expires <= now or expires > now + policy.max_request_ttl:
        raise ValidationError("expires_at", f"{expires.isoformat()} is not in the next "
                              f"{policy.max_request_ttl.days} days")
    reviewers, min_approvals = _reviewers(spec, policy, requester)
    return {
        "title": check_text("title", spec.title, 200),
        "requester": requester,
        "project": project,
        "datasets": tuple(_dataset(f"datasets[{i}]", d) for i, d in enumerate(spec.datasets)),
        "base_model": _base_model(spec.base_model),
        "code_ref": check_text("code_ref", spec.code_ref, 512, required=False),
        "compute": compute,
        "budget": budget,
        "estimate": est,
        "rationale": check_text("rationale", spec.rationale, 20_000, multiline=True),
        "reviewers": reviewers,
        "min_approvals": min_approvals,
        "expires_at": expires.astimezone(dt.UTC),
        "over_estimate": over if budget.amount < est.amount else None,
    }


def validate_request(spec: RequestSpec, config: Config | None = None,
                     now: dt.datetime | None = None) -> dict[str, Any]:
    """Check ``spec`` under the configured policy without filing it (e.g. at DAG parse time);
    return its normalised fields or raise :class:`ValidationError` naming the bad field."""
    from tracline.approvals._review_policy import ReviewPolicy
    from tracline.config import get_config

    config = config or get_config()
    policy = ReviewPolicy.from_config(config)
    return validate_spec(spec, config, policy, now or dt.datetime.now(dt.UTC))
