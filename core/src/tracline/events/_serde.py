"""The one serializer of events: what openlineage-python's ``Serde`` makes of them.

:func:`to_dict` gives exactly ``Serde.to_dict``'s result — ``attrs.asdict`` of the event,
then None values dropped (and empty objects from lists) and enums by value — in one walk over
the objects instead of two passes over the whole tree: a run's COMPLETE event holds a dataset
with its facets per file, thousands of them, and those passes were most of what delivering
such a run cost. The walk knows the types tracline's events are made of (attrs classes,
dicts with text keys, lists, tuples, text, numbers, booleans, enums); an event holding anything
else is handed to ``Serde`` itself, so the result never differs (a test holds the two equal
over events with every facet tracline emits).
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any

import attrs
from openlineage.client.serde import Serde

__all__ = ["to_dict", "to_json"]

_SCALARS = frozenset({str, int, float, bool})
#: Field names of each attrs class met (None: the class is not an attrs class).
_FIELDS: dict[type, tuple[str, ...] | None] = {}


class _Unusual(Exception):
    """A value the walk does not know; ``Serde`` handles the event."""


def _fields(cls: type) -> tuple[str, ...] | None:
    try:
        return _FIELDS[cls]
    except KeyError:
        names = tuple(a.name for a in attrs.fields(cls)) if attrs.has(cls) else None
        _FIELDS[cls] = names
        return names


def _plain(value: Any) -> Any:
    """``Serde.remove_nulls_and_enums(attrs.asdict(...))`` of one value, for known types."""
    cls = type(value)
    if cls in _SCALARS:
        return value
    names = _fields(cls)
    if names is not None:
        obj: dict[str, Any] = {}
        for name in names:
            item = getattr(value, name)
            # Text and numbers (most fields) are taken as they are, without a call.
            if type(item) in _SCALARS or (
                    item is not None and (item := _plain(item)) is not None):
                obj[name] = item
        return obj
    if cls is dict:
        obj = {}
        for key, item in value.items():
            if type(key) is not str:
                raise _Unusual
            if type(item) in _SCALARS or (
                    item is not None and (item := _plain(item)) is not None):
                obj[key] = item
        return obj
    if cls is list or cls is tuple:
        items = []
        for item in value:
            if item is not None and (item := _plain(item)) is not None and not (
                    isinstance(item, dict) and item == {}):
                items.append(item)
        return items
    if isinstance(value, Enum) and not isinstance(value, tuple | list | set | frozenset | dict):
        return value.value
    raise _Unusual


def to_dict(event: Any) -> dict[str, Any]:
    """An event (openlineage-python object, or a dict) as the dict transports send: None
    values dropped, enums by value (``Serde.to_dict``)."""
    if not isinstance(event, dict) and attrs.has(type(event)):
        try:
            plain: dict[str, Any] = _plain(event)
        except _Unusual:
            pass
        else:
            return plain
    result: dict[str, Any] = Serde.to_dict(event)
    return result


def to_json(event: Any) -> str:
    """:func:`to_dict` as compact JSON with sorted keys (the outbox's form; ASCII, so text
    that is not valid Unicode is kept as escapes rather than failing)."""
    return json.dumps(to_dict(event), sort_keys=True, separators=(",", ":"))
