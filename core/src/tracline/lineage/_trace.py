"""Upstream lineage: artifact → the run that made it → that run's inputs → their makers, …

The walk goes one level at a time with a few batched queries per level, so its cost grows
with the depth of the lineage and not with the size of the registry. It is cycle-safe (each
artifact is expanded once; later sightings are marked ``repeat``) and stops at ``depth``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from tracline.errors import ValidationError
from tracline.lineage._common import RunInfo, open_registry
from tracline.lineage._resolve import ResolvedArtifact, resolve
from tracline.registry import ArtifactRow, Registry, RunRow

__all__ = ["Trace", "TraceNode", "trace", "trace_artifact"]

DEFAULT_DEPTH = 50


@attrs.define
class TraceNode:
    """An artifact in the upstream graph, with the run that produced it and that run's inputs."""

    namespace: str
    name: str
    digest: str | None
    size: int | None = None
    file_count: int | None = None
    kind: str | None = None
    #: The run that wrote this content (None: a source — nothing recorded made it).
    run: RunInfo | None = None
    inputs: list[TraceNode] = attrs.field(factory=list)
    #: How the producer was found: by content ``digest``, or by ``name`` when no digest.
    matched_by: str | None = None
    #: Other runs that wrote the same content (re-runs that came out identical).
    other_producers: int = 0
    #: Shown in full elsewhere in this trace (shared input, or a cycle).
    repeat: bool = False
    #: The depth limit stopped the walk here although a producer exists.
    truncated: bool = False

    @property
    def key(self) -> str:
        """The node's identity in the graph: its digest, or its name when it has none."""
        return self.digest or f"name:{self.namespace}:{self.name}"

    def walk(self) -> Iterator[TraceNode]:
        """This node and every node below it, depth first (iterative: any depth is fine)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.inputs))

    def to_dict(self) -> dict[str, Any]:
        """This artifact without its inputs (see :meth:`Trace.to_dict` for the graph)."""
        return {
            "id": self.key, "namespace": self.namespace, "name": self.name,
            "digest": self.digest, "size": self.size, "fileCount": self.file_count,
            "kind": self.kind, "madeBy": self.run.run_id if self.run else None,
            "matchedBy": self.matched_by, "otherProducers": self.other_producers,
            "truncated": self.truncated,
        }


@attrs.define
class Trace:
    """The upstream lineage of one artifact."""

    root: TraceNode
    depth: int
    note: str | None = None

    @property
    def truncated(self) -> bool:
        return any(n.truncated for n in self.root.walk())

    def artifacts(self) -> list[TraceNode]:
        """Every distinct artifact in the trace (first, fully expanded sighting of each)."""
        return [n for n in self.root.walk() if not n.repeat]

    def _run_graph(self) -> tuple[dict[str, RunInfo], dict[str, list[str]]]:
        """Runs by id, and for each run the runs that made its inputs (in input order)."""
        made_by: dict[str, str] = {}
        runs: dict[str, RunInfo] = {}
        for node in self.artifacts():
            if node.run is not None:
                made_by[node.key] = node.run.run_id
                runs.setdefault(node.run.run_id, node.run)
        deps: dict[str, dict[str, None]] = {run_id: {} for run_id in runs}
        for node in self.artifacts():
            if node.run is not None:
                for child in node.inputs:
                    maker = made_by.get(child.key)
                    if maker is not None and maker != node.run.run_id:
                        deps[node.run.run_id][maker] = None
        return runs, {run_id: list(d) for run_id, d in deps.items()}

    def runs(self) -> list[RunInfo]:
        """Every run in the trace, each after the runs that made its inputs (topological)."""
        runs, deps = self._run_graph()
        order: list[str] = []
        state: set[str] = set()
        for start in runs:
            if start in state:
                continue
            state.add(start)
            stack = [(start, iter(deps[start]))]
            while stack:  # depth-first post-order; a cycle is cut where it closes
                run_id, pending = stack[-1]
                nxt = next(pending, None)
                if nxt is None:
                    stack.pop()
                    order.append(run_id)
                elif nxt not in state:
                    state.add(nxt)
                    stack.append((nxt, iter(deps[nxt])))
        return [runs[r] for r in order]

    def to_dict(self) -> dict[str, Any]:
        """The graph, flat: artifacts (each naming the run that made it) and runs in order."""
        _, deps = self._run_graph()
        inputs: dict[str, list[str]] = {}
        for node in self.artifacts():
            if node.run is not None:
                inputs.setdefault(node.run.run_id, [c.key for c in node.inputs])
        return {
            "artifact": self.root.key, "depth": self.depth, "note": self.note,
            "truncated": self.truncated,
            "artifacts": [n.to_dict() for n in self.artifacts()],
            "runs": [{**r.to_dict(), "inputs": inputs.get(r.run_id, []),
                      "after": deps.get(r.run_id, [])} for r in self.runs()],
        }


def _rank(run: RunRow | None, row: ArtifactRow) -> tuple[int, str]:
    """Completed runs first, then the earliest: the run that first made this content."""
    if run is None:
        return (2, row.event_time or "")
    return (0 if run.state == "COMPLETE" else 1, run.ended_at or run.started_at or "")


def _node(row: ArtifactRow) -> TraceNode:
    return TraceNode(row.namespace, row.name, row.digest, row.size, row.file_count, row.kind)


_Chosen = tuple[RunRow, str, list[RunRow]]


class _Walker:
    def __init__(self, registry: Registry, all_producers: bool) -> None:
        self.registry = registry
        self.all_producers = all_producers
        #: Whether any write lacks a digest (asked once; if none, names cannot match content).
        self.digestless: bool | None = None

    def producers(self, frontier: list[TraceNode], consumers: dict[str, RunRow | None],
                  ) -> dict[str, _Chosen]:
        """For each frontier node key: (producing run, how matched, the other producers)."""
        by_digest = self.registry.producing_runs(n.digest for n in frontier if n.digest)
        chosen: dict[str, _Chosen] = {}
        unmatched = []
        for node in frontier:
            writes = by_digest.get(node.digest, []) if node.digest else []
            if writes:
                best = min(writes, key=lambda w: _rank(w[1], w[0]))[1]
                others = {r.run_id: r for _, r in writes if r.run_id != best.run_id}
                chosen[node.key] = (best, "digest", list(others.values()))
            else:
                unmatched.append(node)
        if unmatched:
            chosen.update(self._by_name(unmatched, consumers))
        return chosen

    def _by_name(self, nodes: list[TraceNode], consumers: dict[str, RunRow | None],
                 ) -> dict[str, _Chosen]:
        """No writer of the content: the last earlier writer of the name — for content with a
        digest only one that recorded none (an orchestrator's own event, say)."""
        writes = self.registry.writes({n.name for n in nodes if not n.digest})
        if self.digestless is None:
            self.digestless = self.registry.has_digestless_writes()
        if self.digestless:
            writes.update(self.registry.writes({n.name for n in nodes if n.digest},
                                               digestless=True))
        picked: dict[str, ArtifactRow] = {}
        for node in nodes:
            consumer = consumers.get(node.key)
            before = (consumer.started_at or consumer.ended_at) if consumer else None
            earlier = [w for w in writes.get((node.namespace, node.name), [])
                       if (before is None or (w.event_time or "") <= before)
                       and (not node.digest or w.digest is None)]
            if earlier:
                picked[node.key] = earlier[-1]
        runs = self.registry.runs_by_id({w.run_id for w in picked.values()}, facets=False)
        return {key: (runs[w.run_id], "name", []) for key, w in picked.items() if w.run_id in runs}

    def walk(self, root: TraceNode, depth: int) -> None:
        seen = {root.key}
        frontier = [root]
        consumers: dict[str, RunRow | None] = {root.key: None}
        for _level in range(depth):
            if not frontier:
                return
            chosen = self.producers(frontier, consumers)
            expand = {run.run_id for run, _, others in chosen.values()
                      for run in ([run, *others] if self.all_producers else [run])}
            inputs = self.registry.io_of(expand, "in")
            next_frontier: list[TraceNode] = []
            for node in frontier:
                if node.key not in chosen:
                    continue
                run, node.matched_by, others = chosen[node.key]
                node.run, node.other_producers = RunInfo.of(run), len(others)
                rows = inputs.get(run.run_id, [])
                if self.all_producers:
                    rows = rows + [r for o in others for r in inputs.get(o.run_id, [])]
                for row in rows:
                    child = _node(row)
                    node.inputs.append(child)
                    if child.key in seen:
                        child.repeat = True
                    else:
                        seen.add(child.key)
                        consumers[child.key] = run
                        next_frontier.append(child)
            frontier = next_frontier
        if frontier:
            beyond = self.producers(frontier, consumers)
            for node in frontier:
                node.truncated = node.key in beyond


def trace_artifact(registry: Registry, artifact: ResolvedArtifact,
                   depth: int = DEFAULT_DEPTH, *, all_producers: bool = False) -> Trace:
    """The upstream lineage of an artifact already resolved.

    Content made by several runs (identical re-runs) is traced through the first run that
    made it; ``all_producers`` also takes in the inputs of the others (as leakage does, to
    miss nothing), listing them under the first.
    """
    if depth < 0:
        raise ValidationError("depth", f"{depth} is negative", hint="give 0 or more levels")
    root = TraceNode(artifact.namespace, artifact.name, artifact.digest, artifact.size,
                     artifact.file_count, artifact.kind)
    with registry.snapshot():
        _Walker(registry, all_producers).walk(root, depth)
    return Trace(root, depth, artifact.note)


def trace(ref: str, *, depth: int = DEFAULT_DEPTH, registry: Registry | None = None) -> Trace:
    """The upstream lineage of a path, digest or dataset name."""
    registry = open_registry(registry)
    with registry.snapshot():
        return trace_artifact(registry, resolve(registry, ref), depth)
