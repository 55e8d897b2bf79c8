"""Dataset names of files whose paths are not valid UTF-8, one reversible way.

POSIX paths are bytes; OpenLineage names, JSON, PostgreSQL and most consumers want UTF-8 text.
A path is named by its UTF-8 text, except that

* each byte that is not part of valid UTF-8 is written ``\\xNN`` (two lower-case hex digits),
  as Python's ``backslashreplace`` and bash's ``$'...'`` quoting write it, and
* a backslash that is followed by another backslash, by ``x`` and two hex digits, or by such a
  byte, is doubled,

so every name maps back to exactly one path (:func:`path_bytes`), and the names of ordinary
paths (valid UTF-8, no ``\\\\`` or ``\\xNN`` in them) are the paths themselves. Standard library
only: lookups use it without loading openlineage-python.
"""

from __future__ import annotations

import os
import re

__all__ = ["dataset_name", "path_bytes", "path_of"]

#: What a name's escapes look like: a doubled backslash, or \x and two hex digits.
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2})")
#: A backslash that must be doubled: before a backslash, before xNN, or before a raw byte
#: (surrogate-escaped by os.fsdecode).
_NEEDS_DOUBLING = re.compile(r"\\(?=\\|x[0-9a-f]{2}|[\ud800-\udfff])")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def dataset_name(path: str | bytes) -> str:
    """The dataset name of a file path (``str`` as ``os.fsdecode`` gives it, or bytes)."""
    text = os.fsdecode(path) if isinstance(path, bytes) else path
    if "\\" not in text and text.isascii():
        return text  # the common case, decided without a regular expression
    try:
        text.encode("utf-8")
        if "\\" not in text:
            return text
    except UnicodeEncodeError:
        pass
    text = _NEEDS_DOUBLING.sub(r"\\\\", text)
    return _SURROGATE.sub(_escape_byte, text)


def _escape_byte(match: re.Match[str]) -> str:
    # os.fsdecode turns a byte that is not UTF-8 into U+DC80..U+DCFF; any other lone
    # surrogate (not from a path) is written as the bytes of its own encoding.
    code = ord(match.group())
    raw = bytes([code - 0xDC00]) if 0xDC80 <= code <= 0xDCFF else \
        match.group().encode("utf-8", "surrogatepass")
    return "".join(f"\\x{b:02x}" for b in raw)


def path_bytes(name: str) -> bytes:
    """The path (bytes) a dataset name stands for; the inverse of :func:`dataset_name`."""
    if "\\" not in name:
        return os.fsencode(name)
    parts: list[bytes] = []
    at = 0
    for match in _ESCAPE.finditer(name):
        parts.append(os.fsencode(name[at:match.start()]))
        escape = match.group(1)
        parts.append(b"\\" if escape == "\\" else bytes([int(escape[1:], 16)]))
        at = match.end()
    parts.append(os.fsencode(name[at:]))
    return b"".join(parts)


def path_of(name: str) -> str:
    """The path a dataset name stands for, as ``os.fsdecode`` writes it (for ``open``)."""
    return os.fsdecode(path_bytes(name))
