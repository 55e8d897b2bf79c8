"""Run ids, timestamps and job names (standard library only: used before a command starts)."""

from __future__ import annotations

import os
import time

__all__ = ["default_job", "iso_time", "new_run_id", "utcnow"]


def new_run_id() -> str:
    """A UUIDv7 (time-ordered) run id, without importing openlineage-python."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def utcnow() -> str:
    """The current time as an ISO-8601 UTC timestamp."""
    return iso_time(time.time_ns())


def iso_time(ns: int) -> str:
    """``time.time_ns()`` as an ISO-8601 UTC timestamp (datetime loads on first use: a run's
    start is taken before the command starts, and written down once it runs)."""
    import datetime as dt

    seconds, nanos = divmod(ns, 1_000_000_000)
    return dt.datetime.fromtimestamp(seconds, dt.UTC).replace(
        microsecond=nanos // 1000).isoformat()


def default_job(argv: list[str], cwd: str) -> str:
    """A job name from the command with the default template (see ``capture._jobs``)."""
    from tracline.capture._jobs import default_job as named

    return named(argv, cwd)
