"""An event's canonical JSON: compact, keys sorted — what the registry stores and keys it by,
and the JSON-lines file sink's line.

A run's COMPLETE event holds a dataset per file it read or wrote; for 4,000 files its text is
~3 MB, which the standard library's encoder takes ~35 ms to make and orjson ~2 ms
(``benchmarks/capture.py`` counts delivery in a run's cost). orjson writes the same text as
``json.dumps(data, sort_keys=True, separators=(",", ":"))`` except that it keeps non-ASCII
text as UTF-8, writes some floats in another form (1e-05 as 0.00001, 1e-07 as 1e-7) and NaN
as null; what it cannot write — text that is not valid Unicode (a file name that is not
UTF-8, kept as escapes), an integer beyond 64 bits, a key that is not text — is written by
the standard library. Either way an event always gets the same text, so the registry's key
of it never changes.

orjson is loaded on first use (importing it costs ~20 ms: the deliverer and the team server
pay it once, the command line only when it delivers).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["canonical_json"]


def canonical_json(data: Any) -> str:
    """``data`` (a JSON-able event dict) as compact JSON with sorted keys."""
    import orjson

    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(data, sort_keys=True, separators=(",", ":"))
