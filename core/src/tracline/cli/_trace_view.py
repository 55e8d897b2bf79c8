"""A trace as a tree for people, or as a Mermaid or Graphviz DOT graph."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from tracline.cli._output import plain_text
from tracline.errors import ValidationError
from tracline.lineage import (
    RunInfo,
    Trace,
    TraceNode,
    display_name,
    human_size,
    short_digest,
    short_run,
)

if TYPE_CHECKING:
    from rich.text import Text
    from rich.tree import Tree

__all__ = ["TRACE_FORMATS", "render_trace", "trace_tree"]


def _run_label(run: RunInfo) -> Text:
    from rich.text import Text

    when = (run.ended_at or run.started_at or "")[:19].replace("T", " ")
    label = Text.assemble((run.job_name, "bold"), f" run {short_run(run.run_id)} ",
                          (run.state, "" if run.state == "COMPLETE" else "red"))
    if when:
        label.append(f" {when}")
    return label


def _node_label(node: TraceNode) -> Text:
    from rich.text import Text

    label = Text.assemble((display_name(node.namespace, node.name), "cyan"), " ",
                          (short_digest(node.digest), "dim"))
    if size := human_size(node.size):
        label.append(f" {size}")
    if node.repeat:
        label.append(" (shown above)", "dim")
    elif node.truncated:
        label.append(" (more upstream: raise --depth)", "yellow")
    elif node.run is None:
        label.append(" (source)", "green")
    return label


def trace_tree(trace: Trace) -> Tree:
    """The trace as a tree: artifact ← run ← its inputs ← …"""
    from rich.text import Text
    from rich.tree import Tree

    tree = Tree(_node_label(trace.root))
    stack = [(tree, trace.root)]
    while stack:  # iterative: lineage may be deeper than Python's recursion limit
        branch, node = stack.pop()
        if node.run is None or node.repeat:
            continue
        label = Text.assemble("← ", _run_label(node.run))
        if node.identical_reruns:
            label.append(f" (+{len(node.identical_reruns)} identical re-run(s))")
        if node.also_made_by:
            label.append(f" (same bytes also made by {len(node.also_made_by)} other run(s))")
        if node.matched_by == "name":
            label.append(" matched by name", "yellow")
        run_branch = branch.add(label)
        children = [(run_branch.add(_node_label(child)), child) for child in node.inputs]
        stack.extend(reversed(children))
    return tree


def _graph(trace: Trace) -> tuple[dict[str, tuple[str, str]], set[tuple[str, str]]]:
    """Nodes (id → kind, label) and edges (from, to) in data-flow direction."""
    nodes: dict[str, tuple[str, str]] = {}
    ids: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()

    def ident(key: str, kind: str, label: str) -> str:
        if key not in ids:
            ids[key] = f"{kind[0]}{len(ids)}"
            nodes[ids[key]] = (kind, label)
        return ids[key]

    for node in trace.root.walk():
        label = f"{display_name(node.namespace, node.name)}\n{short_digest(node.digest)}"
        ident("a:" + node.key, "artifact", label)
    for node in trace.root.walk():
        art = ident("a:" + node.key, "artifact", "")
        if node.run is not None:
            run = ident("r:" + node.run.run_id, "run",
                        f"{node.run.job_name}\nrun {short_run(node.run.run_id)}")
            edges.add((run, art))
            for child in node.inputs:
                edges.add((ident("a:" + child.key, "artifact", ""), run))
    return nodes, edges


def _mermaid(trace: Trace) -> str:
    def quote(label: str) -> str:
        return '"' + label.replace('"', "#quot;").replace("\n", "<br/>") + '"'

    nodes, edges = _graph(trace)
    lines = ["flowchart LR"]
    for ident, (kind, label) in nodes.items():
        shape = "[{}]" if kind == "run" else "([{}])"
        lines.append(f"  {ident}" + shape.format(quote(label)))
    lines += [f"  {a} --> {b}" for a, b in sorted(edges)]
    return "\n".join(lines) + "\n"


def _dot(trace: Trace) -> str:
    def quote(label: str) -> str:
        return '"' + label.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

    nodes, edges = _graph(trace)
    lines = ["digraph lineage {", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for ident, (kind, label) in nodes.items():
        shape = "box, style=rounded" if kind == "run" else "note"
        lines.append(f"  {ident} [shape={shape}, label={quote(label)}];")
    lines += [f"  {a} -> {b};" for a, b in sorted(edges)]
    return "\n".join(lines) + "\n}\n"


def _tree(trace: Trace) -> str:
    note = f"note: {trace.note}\n" if trace.note else ""
    return note + plain_text(trace_tree(trace))


def _json(trace: Trace) -> str:
    return json.dumps(trace.to_dict(), indent=2, sort_keys=True) + "\n"


TRACE_FORMATS: dict[str, Callable[[Trace], str]] = {
    "dot": _dot, "json": _json, "mermaid": _mermaid, "tree": _tree}


def render_trace(trace: Trace, fmt: str = "tree") -> str:
    """Render a trace as ``tree`` (plain text), ``mermaid``, ``dot`` or ``json``."""
    if fmt not in TRACE_FORMATS:
        raise ValidationError("format", f"unknown trace format {fmt!r}",
                              hint="use one of: " + ", ".join(sorted(TRACE_FORMATS)))
    return TRACE_FORMATS[fmt](trace)
