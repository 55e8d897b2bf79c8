"""The registry: a content-hash index of runs and artifacts, built from the event stream."""

from tracline.registry._lookups import LineageStore
from tracline.registry._store import ArtifactRow, Registry, RunRow

__all__ = ["ArtifactRow", "LineageStore", "Registry", "RunRow"]
