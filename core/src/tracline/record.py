"""The record of one run: the facts capture observed, and nothing built from them.

A :class:`RunRecord` holds what capture observed — files with their digests, the recipe,
the exit status, the GPU cost — as plain values that survive a JSON round trip
(:meth:`RunRecord.to_json` / :meth:`RunRecord.from_json`). `tracline run` commits it to the
outbox as it is; :mod:`tracline.events` (the one event builder) turns it into OpenLineage
events when it is delivered. Facts that a facet carries as they are keep that facet schema's
field names (``code``: ``CodeVersion``'s; ``gpu``: ``tracline_gpuCost``'s).

Standard library and attrs only: this is on `tracline run`'s path. Capture makes records,
:mod:`tracline.delivery` stores them, :mod:`tracline.events` reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

__all__ = ["FileRecord", "RunRecord"]


def _files(items: Iterable[FileRecord | Mapping[str, Any]]) -> list[FileRecord]:
    return [item if isinstance(item, FileRecord) else FileRecord(**item) for item in items]


def _pairs(items: Iterable[Iterable[str]]) -> list[tuple[str, str]]:
    return [(str(a), str(b)) for a, b in items]


def _pairs_or_none(items: Iterable[Iterable[str]] | None) -> list[tuple[str, str]] | None:
    return None if items is None else _pairs(items)


#: Per attrs class: (field name, default value or NOTHING) — a record may hold thousands of
#: files, so their dicts are made from this list rather than by ``attrs.asdict``.
_SHAPES: dict[type, list[tuple[str, Any]]] = {}


def _shape(cls: type) -> list[tuple[str, Any]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        shape = _SHAPES[cls] = [(a.name, _default(a)) for a in attrs.fields(cls)]
    return shape


def _default(field: attrs.Attribute[Any]) -> Any:
    default: Any = field.default
    if isinstance(default, attrs.Factory):  # type: ignore[arg-type]
        return default.factory()
    return default


@attrs.define
class FileRecord:
    """A file the run read or wrote, with its content digest at that moment."""

    #: As ``os.fsdecode`` gives it (a byte that is not UTF-8 is a lone surrogate).
    path: str
    digest: str | None = None
    size: int | None = None
    file_count: int = 1
    kind: str | None = None
    #: Why there is no digest (unreadable, removed before it could be hashed, ...).
    error: str | None = None
    #: An input the run also changed: its digest is the one taken when it was read.
    modified: bool = False
    #: The columns of a tabular file, (name, type) — the standard ``schema`` facet.
    schema: list[tuple[str, str]] | None = attrs.field(default=None, converter=_pairs_or_none)

    def to_dict(self) -> dict[str, Any]:
        """The fields that differ from their defaults (a run may hold thousands of files, so
        field by field rather than through attrs; a test holds it to every field)."""
        out: dict[str, Any] = {"path": self.path}
        if self.digest is not None:
            out["digest"] = self.digest
        if self.size is not None:
            out["size"] = self.size
        if self.file_count != 1:
            out["file_count"] = self.file_count
        if self.kind is not None:
            out["kind"] = self.kind
        if self.error is not None:
            out["error"] = self.error
        if self.modified:
            out["modified"] = True
        if self.schema is not None:
            out["schema"] = [list(p) for p in self.schema]
        return out


@attrs.define
class RunRecord:
    """What a captured run did: its files, recipe, exit status and GPU cost."""

    run_id: str
    job: str
    namespace: str
    argv: list[str]
    cwd: str
    started_at: str
    capture_mode: str
    ended_at: str | None = None
    wall_seconds: float | None = None
    exit_code: int | None = None
    signal: int | None = None
    inputs: list[FileRecord] = attrs.field(factory=list, converter=_files)
    outputs: list[FileRecord] = attrs.field(factory=list, converter=_files)
    #: The git state: ``CodeVersion``'s fields (repository, commit, branch, dirty, ...).
    code: dict[str, Any] | None = None
    packages: list[tuple[str, str]] = attrs.field(factory=list, converter=_pairs)
    package_digest: str | None = None
    interpreter: dict[str, str] | None = None
    host: dict[str, Any] | None = None
    environment: dict[str, str] = attrs.field(factory=dict)
    #: The GPU cost: ``tracline_gpuCost``'s fields (measurement, gpuModel, ..., cost).
    gpu: dict[str, Any] | None = None
    #: An orchestrator task's Python callable: ``TaskCallable``'s fields (module, qualname,
    #: file, sourceDigest).
    callable: dict[str, Any] | None = None
    #: Facets the caller attached to START, already built (e.g. ``tracline_approval``).
    start_facets: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: Who records the run (``Config.producer``); None: the deliverer's configuration says.
    producer: str | None = None
    warnings: list[str] = attrs.field(factory=list)

    @property
    def succeeded(self) -> bool:
        """True when the command exited with status 0."""
        return self.exit_code == 0

    @property
    def error(self) -> str | None:
        """Why the run failed, in words (None when it succeeded or is still running)."""
        if self.signal:
            import signal as signals

            try:
                name = signals.Signals(self.signal).name
            except ValueError:
                name = f"signal {self.signal}"
            return f"command was killed by {name}"
        if self.exit_code not in (None, 0):
            return f"command exited with status {self.exit_code}"
        return None

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON values (files without their default fields)."""
        out: dict[str, Any] = {}
        for name, default in _shape(RunRecord):
            value = getattr(self, name)
            if name in ("inputs", "outputs"):
                value = [f.to_dict() for f in value]
            elif name == "packages":
                value = [list(p) for p in value]
            if value != default:
                out[name] = value
        return out

    def to_json(self) -> str:
        """:meth:`to_dict` as compact JSON (ASCII: paths that are not UTF-8 survive)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunRecord:
        """The record :meth:`to_dict` made."""
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> RunRecord:
        """The record :meth:`to_json` made."""
        return cls.from_dict(json.loads(text))
