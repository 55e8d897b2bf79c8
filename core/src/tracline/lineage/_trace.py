"""Upstream lineage: artifact → the run that made it → that run's inputs → their makers, …

The walk goes one level at a time with a few batched queries per level, so its cost grows
with the depth of the lineage and not with the size of the registry. It is cycle-safe (each
artifact — a content at a name — is expanded once; later sightings are marked ``repeat``) and
stops at ``depth``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import attrs

from tracline.db import display_url
from tracline.errors import ValidationError
from tracline.lineage._common import RunInfo
from tracline.lineage._producers import Choice, choose_producer, split_others, when
from tracline.lineage._resolve import ResolvedArtifact, resolve
from tracline.lineage._sources import ask
from tracline.registry import ArtifactRow, LineageStore, RunRow

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
    #: Other runs of the same job, on the same inputs, that wrote the same content.
    identical_reruns: list[RunInfo] = attrs.field(factory=list)
    #: Other runs (another job, or other inputs) that happened to write the same content.
    also_made_by: list[RunInfo] = attrs.field(factory=list)
    #: Shown in full elsewhere in this trace (shared input, or a cycle).
    repeat: bool = False
    #: The depth limit stopped the walk here although a producer exists.
    truncated: bool = False

    @property
    def other_producers(self) -> int:
        """How many other runs wrote the same content."""
        return len(self.identical_reruns) + len(self.also_made_by)

    @property
    def key(self) -> str:
        """The node's identity in the graph: its content at its name (the digest, then the
        dataset), or its name alone when it has no digest. A byte copy is another artifact
        than its original — the copy's maker read the original, whose own maker is upstream —
        though both have the same digest."""
        name = f"{self.namespace}:{self.name}"
        return f"{self.digest}@{name}" if self.digest else f"name:{name}"

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
            "identicalReruns": [r.run_id for r in self.identical_reruns],
            "alsoMadeBy": [r.run_id for r in self.also_made_by],
            "truncated": self.truncated,
        }


@attrs.define
class Trace:
    """The upstream lineage of one artifact."""

    root: TraceNode
    depth: int
    note: str | None = None
    #: Which store answered (the registry's or Marquez's URL).
    source: str | None = None

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
            "source": self.source,
            "truncated": self.truncated,
            "artifacts": [n.to_dict() for n in self.artifacts()],
            "runs": [{**r.to_dict(), "inputs": inputs.get(r.run_id, []),
                      "after": deps.get(r.run_id, [])} for r in self.runs()],
        }


def _node(row: ArtifactRow) -> TraceNode:
    return TraceNode(row.namespace, row.name, row.digest, row.size, row.file_count, row.kind)


@attrs.frozen
class _Chosen:
    run: RunRow
    matched_by: str
    others: tuple[RunRow, ...] = ()


class _Walker:
    def __init__(self, registry: LineageStore, all_producers: bool, root_at_name: bool) -> None:
        self.registry = registry
        self.all_producers = all_producers
        #: The root was asked for by path or name (not by digest alone).
        self.root_at_name = root_at_name
        #: Whether any write lacks a digest (asked once; if none, names cannot match content).
        self.digestless: bool | None = None

    def producers(self, frontier: list[TraceNode], consumers: dict[str, RunRow | None],
                  ) -> dict[str, _Chosen]:
        """For each frontier node key: the producing run, how it matched, the other writers."""
        by_digest = self.registry.producing_runs(n.digest for n in frontier if n.digest)
        chosen: dict[str, _Chosen] = {}
        unmatched = []
        for node in frontier:
            consumer = consumers.get(node.key)
            before = (consumer.started_at or consumer.ended_at) if consumer else None
            choice = choose_producer(
                by_digest.get(node.digest, []) if node.digest else [], node.namespace,
                node.name, at_name=consumer is not None or self.root_at_name, before=before)
            if choice is not None:
                chosen[node.key] = _Chosen(choice.run, "digest", choice.others)
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
                       if (before is None or when(w.event_time) <= when(before))
                       and (not node.digest or w.digest is None)]
            if earlier:
                picked[node.key] = earlier[-1]
        runs = self.registry.runs_by_id({w.run_id for w in picked.values()}, facets=False)
        return {key: _Chosen(runs[w.run_id], "name") for key, w in picked.items()
                if w.run_id in runs}

    def walk(self, root: TraceNode, depth: int) -> None:
        seen = {root.key}
        frontier = [root]
        consumers: dict[str, RunRow | None] = {root.key: None}
        for _level in range(depth):
            if not frontier:
                return
            chosen = self.producers(frontier, consumers)
            expand = {run.run_id for c in chosen.values() for run in (c.run, *c.others)}
            inputs = self.registry.io_of(expand, "in")
            next_frontier: list[TraceNode] = []
            for node in frontier:
                if node.key not in chosen:
                    continue
                pick = chosen[node.key]
                run, node.matched_by = pick.run, pick.matched_by
                same, other = split_others(Choice(ArtifactRow(
                    run.run_id, "out", node.namespace, node.name, node.digest, None, None),
                    run, pick.others), inputs)
                node.run = RunInfo.of(run)
                node.identical_reruns = [RunInfo.of(r) for r in same]
                node.also_made_by = [RunInfo.of(r) for r in other]
                rows = inputs.get(run.run_id, [])
                if self.all_producers:
                    rows = rows + [r for o in pick.others for r in inputs.get(o.run_id, [])]
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


def trace_artifact(registry: LineageStore, artifact: ResolvedArtifact,
                   depth: int = DEFAULT_DEPTH, *, all_producers: bool = False) -> Trace:
    """The upstream lineage of an artifact already resolved.

    Content written by several runs is traced through the run the question is about (see
    :mod:`tracline.lineage._producers`), the others listed on the node; ``all_producers``
    also takes in the inputs of the others (as leakage does, to miss nothing).
    """
    if depth < 0:
        raise ValidationError("depth", f"{depth} is negative", hint="give 0 or more levels")
    root = TraceNode(artifact.namespace, artifact.name, artifact.digest, artifact.size,
                     artifact.file_count, artifact.kind)
    with registry.snapshot():
        _Walker(registry, all_producers, artifact.asked_by != "digest").walk(root, depth)
    return Trace(root, depth, artifact.note, display_url(registry.url))


def trace(ref: str, *, depth: int = DEFAULT_DEPTH, registry: LineageStore | None = None,
          source: str = "auto") -> Trace:
    """The upstream lineage of a path, digest or dataset name, from ``registry``, or from the
    store ``source`` names (``auto``: the local registry, else Marquez; see
    :mod:`tracline.lineage._sources`)."""

    def question(store: LineageStore) -> Trace:
        with store.snapshot():
            return trace_artifact(store, resolve(store, ref), depth)

    return ask(question, registry=registry, source=source)[0]
