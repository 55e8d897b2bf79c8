"""Filing validation: every bad field gives one error naming it, and nothing is written."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from request_helpers import DIGEST_A, docs_spec, make_config, snapshot

from tracline.approvals import DatasetRef, ModelRef, RequestService
from tracline.errors import ValidationError
from tracline.hashing import digest_path

BAD_FIELDS: list[tuple[dict[str, Any], str, str]] = [
    ({"budget": 0}, "budget", "positive"),
    ({"budget": -5}, "budget", "positive"),
    ({"budget": "0.001"}, "budget", "rounds to zero"),
    ({"budget": "lots"}, "budget", "not a number"),
    ({"budget": float("nan")}, "budget", "not a number"),
    ({"budget": 100}, "budget", "shortfall"),
    ({"gpu_model": "K80"}, "gpu_model", "unknown GPU model"),
    ({"gpu_count": 0}, "gpu_count", "whole number"),
    ({"gpu_count": 2.5}, "gpu_count", "whole number"),
    ({"hours": 0}, "hours", "positive"),
    ({"hours": 2.59e-259}, "hours", "too short to cost anything"),
    ({"datasets": []}, "datasets", "names no dataset"),
    ({"datasets": [DatasetRef("s3://b/k")]}, "datasets[0].digest", "has no digest"),
    ({"datasets": [DatasetRef("s3://b/k", "md5sum")]}, "datasets[0].digest", "<algorithm>:<hex>"),
    ({"base_model": ModelRef("hf://org/model")}, "base_model.digest", "has no digest"),
    ({"title": "x" * 201}, "title", "over the limit of 200"),
    ({"title": "   "}, "title", "is empty"),
    ({"title": "ok\x00"}, "title", "U+0000"),
    ({"title": "rm \x1b[2J"}, "title", "U+001B"),
    ({"rationale": "looks fine \u202e evil"}, "rationale", "U+202E"),
    ({"rationale": "r" * 20_001}, "rationale", "over the limit"),
    ({"code_ref": "git@x\rmain"}, "code_ref", "U+000D"),
    ({"requester": "alice"}, "requester", "user:NAME or agent:NAME"),
    ({"requester": "group:ml-leads"}, "requester", "user:NAME or agent:NAME"),
    ({"project": "a b"}, "project", "characters"),
    ({"currency": "usd$"}, "currency", "ISO 4217"),
    ({"currency": "EUR"}, "currency", "price is in USD"),
    ({"reviewers": ["agent:helper"]}, "reviewers[0]", "agents never review"),
    ({"reviewers": ["group:nobody"]}, "reviewers[0]", "not a group"),
    ({"reviewers": ["user:mallory"]}, "reviewers[0]", "may not review"),
    ({"min_approvals": 3}, "reviewers", "only 2 eligible"),
    ({"min_approvals": 0}, "min_approvals", "1 to 10"),
    ({"expires_at": dt.datetime(2020, 1, 1, tzinfo=dt.UTC)}, "expires_at", "not in the next"),
    ({"expires_at": dt.datetime(2030, 1, 1)}, "expires_at", "timezone"),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_FIELDS)
def test_bad_field_is_named_and_nothing_is_written(
    sqlite_service: RequestService, changes: dict[str, Any], field: str, message: str
) -> None:
    """Each invalid input raises ValidationError naming its field, and no row is written."""
    before = snapshot(sqlite_service)
    spec = docs_spec(**({"reviewers": ["user:chris", "group:ml-leads"]}
                        if "min_approvals" in changes else {}))
    with pytest.raises(ValidationError) as info:
        sqlite_service.file(attrs.evolve(spec, **changes))
    assert info.value.field == field
    assert message in str(info.value)
    assert snapshot(sqlite_service) == before


def test_budget_below_estimate_names_the_shortfall(sqlite_service: RequestService) -> None:
    """A budget under the estimate is refused with the exact shortfall and how to proceed."""
    with pytest.raises(ValidationError) as info:
        sqlite_service.file(docs_spec(budget=300))
    text = str(info.value)
    assert "the estimate $314.62 exceeds the budget $300.00 by $14.62" in text
    assert "over-estimate" in (info.value.hint or "")


def test_override_accepts_a_low_budget_and_records_why(sqlite_service: RequestService) -> None:
    """With an over-estimate reason the request is filed and the reason is part of its digest."""
    r = sqlite_service.file(docs_spec(budget=300, over_estimate="we stop at 3 h, not 3.2"))
    assert r.over_estimate == "we stop at 3 h, not 3.2"
    assert r.shortfall is not None and r.shortfall.amount == Decimal("14.62")
    assert r.content()["over_estimate"] == "we stop at 3 h, not 3.2"
    assert sqlite_service.audit(r.id)[0].details["over_estimate"] == "we stop at 3 h, not 3.2"


def test_local_paths_are_hashed(sqlite_service: RequestService, tmp_path: Path) -> None:
    """A dataset or base model given as a local path is stored as file:// URI with its digest."""
    data = tmp_path / "train"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    weights = tmp_path / "base.safetensors"
    weights.write_bytes(b"\x00weights")
    r = sqlite_service.file(docs_spec(datasets=[DatasetRef(str(data)),
                                                DatasetRef("s3://x/y", DIGEST_A)],
                                      base_model=str(weights)))
    assert r.datasets[0] == DatasetRef(f"file://{data.resolve()}", digest_path(data).digest)
    assert r.base_model == ModelRef(f"file://{weights.resolve()}", digest_path(weights).digest)
    assert r.datasets[1].digest == DIGEST_A


def test_unknown_model_lists_the_price_table(sqlite_service: RequestService) -> None:
    """An unknown GPU model names every model of the price table in its hint."""
    with pytest.raises(ValidationError) as info:
        sqlite_service.file(docs_spec(gpu_model="RTX-9090"))
    assert "H100" in str(info.value) and "T4" in str(info.value)


def test_default_reviewers_come_from_policy(tmp_path: Path) -> None:
    """A request naming no reviewer gets [policy] reviewers; with none there it is refused."""
    svc = RequestService(f"sqlite:///{tmp_path / 'a.db'}", make_config())
    assert svc.file(docs_spec(reviewers=[])).reviewers == ("user:chris", "group:ml-leads")
    bare = RequestService(f"sqlite:///{tmp_path / 'b.db'}", make_config({}))
    with pytest.raises(ValidationError, match="names nobody") as info:
        bare.file(docs_spec(reviewers=[]))
    assert info.value.field == "reviewers"
    assert bare.list() == []
