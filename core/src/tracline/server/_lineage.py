"""Lineage reads over HTTP: an artifact's sightings, trace and receipt, by content digest.

The server never reads its own files on a caller's behalf: artifacts are named by digest
(``algorithm:hex``, or a prefix of at least 8 hex digits), never by path.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from tracline.errors import NotFound, ValidationError
from tracline.identity import Principal
from tracline.lineage import (
    ResolvedArtifact,
    Trace,
    build_receipt,
    trace_artifact,
)
from tracline.registry import Registry
from tracline.server._state import caller, state_of

__all__ = ["lineage_router", "resolve_digest", "trace_of"]

lineage_router = APIRouter()
Caller = Annotated[Principal, Depends(caller)]
_DIGEST = re.compile(r"^[a-z0-9_-]{2,16}:[0-9a-f]{8,128}$")
Depth = Annotated[int, Query(ge=1, le=50)]
Ref = Annotated[str, Query(max_length=200, description="a content digest, algorithm:hex")]


def resolve_digest(registry: Registry, ref: str) -> ResolvedArtifact:
    """The artifact with content digest ``ref`` (or a unique prefix of it)."""
    text = ref.strip().lower()
    if not _DIGEST.match(text):
        raise ValidationError("digest", f"{ref!r} is not a content digest",
                              hint="name the artifact by its digest, e.g. blake3:<hex>")
    if len(text.split(":", 1)[1]) < 64:
        found = registry.digests_starting(text)
        if len(found) > 1:
            raise ValidationError("digest", f"{ref!r} matches several digests",
                                  hint="give more hex digits")
        text = found[0] if found else text
    rows = registry.sightings(text)
    outputs = [r for r in rows if r.direction == "out"]
    if not rows:
        raise NotFound(f"no artifact with digest {text} in the registry",
                       hint="its run's events have not been ingested here")
    return ResolvedArtifact.of((outputs or rows)[0])


def trace_of(registry: Registry, ref: str, depth: int) -> Trace:
    """The trace of the artifact with digest ``ref``."""
    return trace_artifact(registry, resolve_digest(registry, ref), depth)


@lineage_router.get("/lookup/{digest}", tags=["lineage"])
def lookup(request: Request, principal: Caller, digest: str) -> dict[str, Any]:
    """Every sighting of a content digest: which runs read or wrote it, under which names."""
    registry = state_of(request).registry
    artifact = resolve_digest(registry, digest)
    rows = registry.sightings(artifact.digest)
    return {"digest": artifact.digest, "sightings": [
        {"run_id": r.run_id, "direction": r.direction, "namespace": r.namespace,
         "name": r.name, "size": r.size, "event_time": r.event_time} for r in rows]}


@lineage_router.get("/trace", tags=["lineage"])
def trace(request: Request, principal: Caller, ref: Ref, depth: Depth = 10) -> dict[str, Any]:
    """Where the artifact came from: its producing runs and their inputs, recursively."""
    registry = state_of(request).registry
    with registry.snapshot():
        return trace_of(registry, ref, depth).to_dict()


@lineage_router.get("/receipt", tags=["lineage"])
def receipt(request: Request, principal: Caller, ref: Ref,
            depth: Depth = 10) -> dict[str, Any]:
    """The artifact's receipt: recipe, inputs, cost and approval of every run behind it."""
    registry = state_of(request).registry
    with registry.snapshot():
        return build_receipt(registry, trace_of(registry, ref, depth)).to_dict()
