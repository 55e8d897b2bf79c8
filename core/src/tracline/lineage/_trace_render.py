"""A trace as a tree for people (rich), or as a Mermaid or Graphviz DOT graph."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from tracline.errors import ValidationError
from tracline.lineage._common import RunInfo, display_name, human_size, short_digest, short_run
from tracline.lineage._trace import Trace, TraceNode

__all__ = ["render_trace", "trace_tree"]


def _run_label(run: RunInfo) -> str:
    when = (run.ended_at or run.started_at or "")[:19].replace("T", " ")
    state = run.state if run.state == "COMPLETE" else f"[red]{run.state}[/]"
    return f"[bold]{escape(run.job_name)}[/] run {short_run(run.run_id)} {state} {when}".rstrip()


def _node_label(node: TraceNode) -> str:
    name = escape(display_name(node.namespace, node.name))
    parts = [f"[cyan]{name}[/]", f"[dim]{short_digest(node.digest)}[/]", human_size(node.size)]
    if node.repeat:
        parts.append("[dim](shown above)[/]")
    elif node.truncated:
        parts.append("[yellow](more upstream: raise --depth)[/]")
    elif node.run is None:
        parts.append("[green](source)[/]")
    return " ".join(p for p in parts if p)


def trace_tree(trace: Trace) -> Tree:
    """The trace as a rich tree: artifact ← run ← its inputs ← …"""
    tree = Tree(_node_label(trace.root))
    stack = [(tree, trace.root)]
    while stack:  # iterative: lineage may be deeper than Python's recursion limit
        branch, node = stack.pop()
        if node.run is None or node.repeat:
            continue
        others = (f" (+{len(node.identical_reruns)} identical re-run(s))"
                  if node.identical_reruns else "")
        if node.also_made_by:
            others += f" (same bytes also made by {len(node.also_made_by)} other run(s))"
        via = " [yellow]matched by name[/]" if node.matched_by == "name" else ""
        run_branch = branch.add(f"← {_run_label(node.run)}{others}{via}")
        children = [(run_branch.add(_node_label(child)), child) for child in node.inputs]
        stack.extend(reversed(children))
    return tree


def plain(renderable: object, width: int = 160) -> str:
    """A rich renderable as plain text (no colour codes)."""
    out = io.StringIO()
    Console(file=out, width=width, color_system=None, highlight=False).print(renderable)
    return "".join(line.rstrip() + "\n" for line in out.getvalue().splitlines())


def _text(trace: Trace) -> str:
    note = f"note: {trace.note}\n" if trace.note else ""
    return note + plain(trace_tree(trace))


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


def _json(trace: Trace) -> str:
    return json.dumps(trace.to_dict(), indent=2, sort_keys=True) + "\n"


def render_trace(trace: Trace, fmt: str = "tree") -> str:
    """Render a trace as ``tree`` (plain text), ``mermaid``, ``dot`` or ``json``."""
    renderers: dict[str, Callable[[Trace], str]] = {
        "tree": _text, "mermaid": _mermaid, "dot": _dot, "json": _json}
    if fmt not in renderers:
        raise ValidationError("format", f"unknown trace format {fmt!r}",
                              hint="use one of: " + ", ".join(sorted(renderers)))
    return renderers[fmt](trace)
