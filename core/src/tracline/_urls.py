"""URLs as messages may show them: without their passwords (standard library only, so that
configuration, database and delivery code can all use it without importing each other)."""

from __future__ import annotations

import re

__all__ = ["display_url"]

#: The password of a URL's user (``scheme://user:PASSWORD@host``), wherever it appears in a text.
_PASSWORD = re.compile(r"(//[^/:@\s]*):[^@/\s]*@")


def display_url(text: str) -> str:
    """``text`` (a database or HTTP URL, or a message holding one) with every URL password
    replaced by ``***``: the form of a URL that messages, logs and output may show."""
    return _PASSWORD.sub(r"\1:***@", text)
