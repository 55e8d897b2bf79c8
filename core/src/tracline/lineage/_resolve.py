"""Turn what a user typed (a path, a digest or its prefix, a dataset name) into an artifact."""

from __future__ import annotations

import re
from pathlib import Path

import attrs

from tracline.db import display_url
from tracline.errors import NotFound, ValidationError
from tracline.events import dataset_name
from tracline.hashing import ALGORITHMS, digest_path
from tracline.lineage._common import short_digest
from tracline.registry import ArtifactRow, LineageStore

__all__ = ["ResolvedArtifact", "resolve"]

_DIGEST_LIKE = re.compile(r"^(?P<algorithm>[A-Za-z0-9_-]+):(?P<rest>[^/\\]*)$")
_HEX = re.compile(r"^[0-9a-f]*$")
MIN_PREFIX = 8


@attrs.frozen
class ResolvedArtifact:
    """An artifact the registry knows, and a note when it is not exactly what was asked for."""

    namespace: str
    name: str
    digest: str
    size: int | None = None
    file_count: int | None = None
    kind: str | None = None
    note: str | None = None
    #: How it was asked for: ``path``, ``name`` or ``digest`` (which run the question is about
    #: depends on it: the writer of that file, or of that content anywhere).
    asked_by: str = "path"

    @classmethod
    def of(cls, row: ArtifactRow, note: str | None = None, asked_by: str = "path",
           ) -> ResolvedArtifact:
        assert row.digest is not None
        return cls(row.namespace, row.name, row.digest, row.size, row.file_count, row.kind, note,
                   asked_by)


def _unknown_hint(registry: LineageStore) -> str:
    return (f"the registry at {display_url(registry.url)} has not seen it: record the run "
            "that made it with `tracline run -- CMD`, or point TRACLINE_REGISTRY_URL at the "
            "right registry")


def _by_digest(registry: LineageStore, digest: str, prefer_names: tuple[str, ...] = (),
               ) -> ArtifactRow | None:
    rows = registry.sightings(digest)
    for row in rows:
        if row.name in prefer_names:
            return row
    outputs = [r for r in rows if r.direction == "out"]
    candidates = outputs or rows
    return candidates[0] if candidates else None


def parse_digest_ref(text: str) -> tuple[str, bool]:
    """``(digest_or_prefix, is_prefix)`` for text shaped ``algorithm:hex``; ValidationError else."""
    match = _DIGEST_LIKE.match(text.strip())
    if match is None:
        raise ValidationError("digest", f"{text!r} is not a digest",
                              hint="write it as blake3:<64 hex digits> or sha256:<64 hex digits>")
    algorithm, rest = match["algorithm"].lower(), match["rest"].lower()
    expected = ALGORITHMS.get(algorithm)
    if expected is None:
        known = ", ".join(sorted(ALGORITHMS))
        raise ValidationError("digest", f"{text!r}: unknown digest algorithm {algorithm!r}",
                              hint=f"tracline writes {known} digests")
    if not _HEX.match(rest) or len(rest) > expected or len(rest) < MIN_PREFIX:
        raise ValidationError(
            "digest", f"{text!r} is not a {algorithm} digest: expected {expected} hex digits "
            f"(or a prefix of at least {MIN_PREFIX}) after '{algorithm}:'",
            hint="copy the digest from `tracline trace` or `tracline receipt`")
    return f"{algorithm}:{rest}", len(rest) < expected


def _resolve_digest(registry: LineageStore, text: str) -> ResolvedArtifact:
    digest, is_prefix = parse_digest_ref(text)
    if is_prefix:
        matches = registry.digests_starting(digest)
        if len(matches) > 1:
            raise ValidationError("digest", f"{text!r} matches several digests",
                                  hint="give more hex digits")
        digest = matches[0] if matches else digest
    row = _by_digest(registry, digest)
    if row is None:
        raise NotFound(f"no artifact with digest {digest} in the registry",
                       hint=_unknown_hint(registry))
    return ResolvedArtifact.of(row, asked_by="digest")


def _resolve_path(registry: LineageStore, path: Path, text: str) -> ResolvedArtifact:
    # Recorded as an absolute path: with symlinks resolved, or as the process saw it (named
    # as events name files: a path that is not UTF-8 has escapes in its name).
    names = tuple(dict.fromkeys(dataset_name(str(p)) for p in (path.resolve(), path.absolute())))
    current = digest_path(path).digest
    # The versions of the path first: a store that indexes by name (Marquez) learns there
    # where this content was written, before it is asked about the content itself.
    versions = [v for name in names for v in registry.versions(name, "file", limit=1)]
    row = _by_digest(registry, current, names)
    if row is not None:
        return ResolvedArtifact.of(row)
    if versions:
        latest = max(versions, key=lambda v: v.event_time or "")
        note = (f"{text} has changed since the registry last saw it (now "
                f"{short_digest(current)}); showing its latest recorded version "
                f"{short_digest(latest.digest)} from {latest.event_time}")
        return ResolvedArtifact.of(latest, note)
    raise NotFound(f"{text} (content {short_digest(current)}) is unknown to the registry",
                   hint=_unknown_hint(registry))


def resolve(registry: LineageStore, ref: str) -> ResolvedArtifact:
    """The artifact ``ref`` names: an existing path (by its content now), a digest, or a name.

    A path whose content changed since it was recorded resolves to its latest recorded
    version, with a note saying so.
    """
    text = ref.strip()
    if not text:
        raise ValidationError("artifact", "empty path or digest",
                              hint="give a file path or a digest such as blake3:<hex>")
    path = Path(text).expanduser()
    if path.exists():
        return _resolve_path(registry, path, text)
    if _DIGEST_LIKE.match(text):
        return _resolve_digest(registry, text)
    for name, namespace in ((dataset_name(str(path.absolute())), "file"),
                            (dataset_name(text), None)):
        versions = registry.versions(name, namespace, limit=1)
        if versions:
            note = None
            if namespace == "file":
                note = f"{text} no longer exists; showing its latest recorded version"
            return ResolvedArtifact.of(versions[0], note, "path" if namespace else "name")
    raise NotFound(f"{text}: no such file, and no dataset of that name in the registry",
                   hint="give an existing path, a digest (blake3:<hex>) or a recorded name")
