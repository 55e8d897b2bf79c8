"""The one serializer of events: openlineage-python's ``Serde``, as its transports use it."""

from __future__ import annotations

import json
from typing import Any

from openlineage.client.serde import Serde

__all__ = ["to_dict", "to_json"]


def to_dict(event: Any) -> dict[str, Any]:
    """An event (openlineage-python object, or a dict) as the dict transports send: None
    values dropped, enums by value."""
    result: dict[str, Any] = Serde.to_dict(event)
    return result


def to_json(event: Any) -> str:
    """:func:`to_dict` as compact JSON with sorted keys (the outbox's form; ASCII, so text
    that is not valid Unicode is kept as escapes rather than failing)."""
    return json.dumps(to_dict(event), sort_keys=True, separators=(",", ":"))
