"""Plain-JSON views of request objects, for ``--json`` output and the HTTP API."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal
from typing import Any

import attrs

from tracline.approvals._budget import approved_time_limit
from tracline.approvals._estimate import fit_line
from tracline.approvals._model import TrainingRequest

__all__ = ["jsonable", "request_dict"]


def jsonable(value: Any) -> Any:
    """attrs objects → dicts, Decimal → float, datetimes and dates → ISO text, enums → value."""
    if attrs.has(type(value)):
        return {f.name: jsonable(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return value


def request_dict(r: TrainingRequest, *, required_approvals: int | None = None) -> dict[str, Any]:
    """A request as JSON, with the derived figures a reader wants next to it."""
    data: dict[str, Any] = jsonable(r)
    shortfall = r.shortfall
    data |= {
        "gpu_hours": float(r.gpu_hours),
        "time_limit_seconds": approved_time_limit(r).total_seconds(),
        "fits_budget": shortfall is None,
        "shortfall": jsonable(shortfall) if shortfall else None,
        "fit": fit_line(r.budget, r.estimate),
    }
    if required_approvals is not None:
        data["required_approvals"] = required_approvals
    return data
