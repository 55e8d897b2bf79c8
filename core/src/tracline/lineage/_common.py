"""What every lineage view shares: the registry to ask, run summaries and display helpers."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, TypeVar, overload

import attrs

from tracline.registry import LineageStore, Registry, RunRow

__all__ = [
    "RunInfo",
    "deliver_to_registry",
    "display_name",
    "open_registry",
    "short_digest",
    "short_run",
]


@attrs.frozen
class RunInfo:
    """A run as lineage views show it: its job, state and times."""

    run_id: str
    job_namespace: str
    job_name: str
    state: str
    started_at: str | None
    ended_at: str | None

    @classmethod
    def of(cls, row: RunRow) -> RunInfo:
        return cls(row.run_id, row.job_namespace, row.job_name, row.state, row.started_at,
                   row.ended_at)

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


S = TypeVar("S", bound=LineageStore)


@overload
def open_registry(registry: None = None) -> Registry: ...
@overload
def open_registry(registry: S) -> S: ...
def open_registry(registry: LineageStore | None = None) -> LineageStore:
    """The given store, or the registry the configuration names."""
    if registry is not None:
        return registry
    from tracline.config import get_config

    return Registry(get_config().registry_url)


def deliver_to_registry(timeout: float = 10.0) -> str | None:
    """Deliver what the outbox still holds for the registry sinks; the error, if any.

    Looks first: when nothing waits for them (the usual case — runs deliver as they end) it
    costs one query, not a delivery's set-up."""
    from tracline.config import get_config
    from tracline.delivery import Emitter, Outbox
    from tracline.errors import TraclineError

    config = get_config()
    sinks = tuple(s for s in config.sinks if s.type == "registry")
    if not sinks or not config.outbox_path.exists():
        return None
    try:
        outbox = Outbox(config.outbox_path)
        try:
            pending = {s.name: s.pending for s in outbox.sink_states()}
        finally:
            outbox.close()
        if not any(pending.get(s.name) for s in sinks):  # a sink without a row has none
            return None
        report = Emitter(config.replace(sinks=sinks), background=False).flush(timeout)
    except TraclineError as e:
        return str(e)
    return None if report.complete else "; ".join(report.errors.values()) or "timed out"


def short_digest(digest: str | None, length: int = 12) -> str:
    """``blake3:0123456789ab`` — enough of a digest to recognise it."""
    if not digest:
        return "(no digest)"
    algorithm, _, hex_part = digest.partition(":")
    return f"{algorithm}:{hex_part[:length]}" if hex_part else digest


def short_run(run_id: str) -> str:
    """The last 12 characters of a run id: the random part of a time-ordered UUID."""
    return run_id[-12:]


def display_name(namespace: str, name: str) -> str:
    """A dataset's name for people: files relative to the working directory when inside it."""
    if namespace != "file":
        return f"{namespace.rstrip('/')}/{name}"
    try:
        relative = Path(name).relative_to(Path.cwd())
    except ValueError:
        return name
    return str(relative) if str(relative) != "." else name


def human_size(size: int | None) -> str:
    """``12.3 kB`` for people; empty when unknown."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""  # pragma: no cover


def within(path: str, root: str) -> bool:
    """True when ``path`` is ``root`` or inside it (both absolute)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)
