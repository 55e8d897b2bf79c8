"""A faster equivalent of openlineage-python's ``Serde.to_dict`` for the emit path.

``Serde.to_dict`` walks an event twice (``attrs.asdict``, then a pass that drops ``None``
values and turns enums into their values). This walks it once, with each attrs class's field
names cached; the result is the same dict (a test holds the two equal on every kind of event
tracline builds). Anything unexpected falls back to ``Serde``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from enum import Enum
from typing import Any

import attrs

__all__ = ["to_plain"]

_FIELDS: dict[type, tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool)


def _fields(cls: type) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(a.name for a in attrs.fields(cls))
    return names


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, _SCALARS):
        return value
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            item = _plain(item)
            if item is not None:
                out[key] = item
        return out
    if isinstance(value, list | tuple):
        items = []
        for item in value:
            item = _plain(item)
            if item is not None and item != {}:
                items.append(item)
        return items
    if attrs.has(type(value)):
        out = {}
        for name in _fields(type(value)):
            item = _plain(getattr(value, name))
            if item is not None:
                out[name] = item
        return out
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def to_plain(event: Any) -> dict[str, Any]:
    """The event as the dict openlineage-python's transports would send."""
    try:
        result = _plain(event)
        if isinstance(result, dict):
            return result
    except TypeError:
        pass
    from openlineage.client.serde import Serde

    return Serde.to_dict(event)
