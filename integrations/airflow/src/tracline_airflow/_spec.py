"""What of a gate's request Airflow knows only at run time: templated fields and XComArgs.

The request itself (a mapping of :class:`tracline.approvals.RequestSpec` fields) is parsed and
checked by :mod:`tracline.gating`, as for every orchestrator; this module only tells it which
values to leave for later — rendered when the gate runs, then checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tracline.gating import check_request

__all__ = ["check_at_parse", "is_templated"]


def is_templated(value: Any) -> bool:
    """True for a value only known at run time: a Jinja template or an XComArg."""
    if isinstance(value, str):
        return "{{" in value or "{%" in value
    if isinstance(value, list | tuple):
        return any(is_templated(v) for v in value)
    return type(value).__name__.endswith(("XComArg", "PlainXComArg", "MapXComArg"))


def check_at_parse(request: Mapping[str, Any], where: str) -> None:
    """Check a gate's request when its DAG file is parsed (templated fields when rendered).

    Raises :class:`tracline.gating.InvalidGateRequest`, naming the gate and the field.
    """
    check_request(request, where, deferred=is_templated)
