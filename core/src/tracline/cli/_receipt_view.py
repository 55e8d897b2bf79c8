"""A receipt as text, JSON, Markdown or a self-contained, escaped HTML page.

All four are drawn from one neutral list of blocks, so they always say the same things.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from tracline.cli._output import Column, fields, plain_text, table
from tracline.errors import ValidationError
from tracline.lineage import Receipt, TraceNode, display_name, human_size

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = ["RECEIPT_FORMATS", "receipt_view", "render_receipt"]


@attrs.frozen
class _Fields:
    title: str
    rows: list[tuple[str, str]]


@attrs.frozen
class _Table:
    title: str
    headers: list[str]
    rows: list[list[str]]


@attrs.frozen
class _Tree:
    title: str
    root: TraceNode


_Block = _Fields | _Table | _Tree


def _money(amount: Any, currency: Any) -> str:
    return f"{float(amount):,.2f} {currency or 'USD'}" if amount is not None else "unknown"


def _code(code: dict[str, Any] | None) -> str:
    if not code or not code.get("commit"):
        return "not a git checkout"
    state = "clean" if code.get("dirty") is False else "dirty"
    if code.get("dirty") and code.get("diffDigest"):
        state += f", uncommitted diff {code['diffDigest']}"
    if code.get("untracked"):
        state += f", {code['untracked']} untracked file(s)"
    where = f"{code.get('repository') or '?'} @ {code['commit']}"
    return f"{where} (branch {code.get('branch') or '-'}, {state})"


def _recipe(recipe: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not recipe:
        return [("recipe", "not recorded (the run was not observed by tracline)")]
    packages = recipe.get("packages") or {}
    items = packages.get("items") or []
    interp = recipe.get("interpreter") or {}
    host = recipe.get("host") or {}
    env = recipe.get("environment") or {}
    rows = [
        ("command", " ".join(recipe.get("argv") or [])),
        ("working directory", str(recipe.get("cwd") or "")),
        ("exit code", str(recipe.get("exitCode"))),
        ("code", _code(recipe.get("code"))),
        ("packages", f"{len(items)} ({packages.get('manager') or 'python'}), digest "
                     f"{packages.get('lockDigest') or '-'}"),
        ("", ", ".join(f"{p['name']} {p['version']}" for p in items)),
        ("interpreter", " ".join(str(interp.get(k) or "") for k in ("implementation", "version"))),
        ("host", f"{host.get('hostname') or '?'} ({host.get('platform') or host.get('os')})"),
        ("environment", ", ".join(f"{k}={v}" for k, v in sorted(env.items())) or "-"),
    ]
    return [(k, v) for k, v in rows if k or v]


def _cost(receipt: Receipt) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    cost = receipt.cost
    if cost:
        gpu_hours = float(cost.get("gpuSeconds") or 0) / 3600
        rows.append(("this run", f"{_money(cost.get('cost'), cost.get('currency'))} — "
                     f"{cost.get('gpuCount')}× {cost.get('gpuModel')}, {gpu_hours:.3f} GPU-h, "
                     f"{cost.get('measurement')}"))
        rows.append(("price", f"{_money(cost.get('pricePerGpuHour'), cost.get('currency'))} per "
                     f"GPU-hour, source {cost.get('priceSource') or '-'} as of "
                     f"{cost.get('priceAsOf') or '-'}"))
    else:
        rows.append(("this run", "no GPU cost recorded"))
    totals = receipt.totals()
    total = ", ".join(_money(v, k) for k, v in sorted(totals.items())) or "none recorded"
    rows.append(("whole upstream", f"{total} over {len(receipt.costs)} run(s), "
                 f"{receipt.gpu_hours():.3f} GPU-h"))
    return rows


def _approval(approval: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not approval:
        return [("approval", "none: the run did not claim a training request")]
    budget = approval.get("budget") or {}
    estimate = approval.get("estimate") or {}
    rows = [
        ("request", str(approval.get("requestId"))),
        ("request digest", str(approval.get("requestDigest"))),
        ("requested by", str(approval.get("requester") or "-")),
        ("approved by", ", ".join(approval.get("approvedBy") or [])),
        ("decided at", str(approval.get("decidedAt"))),
        ("budget", _money(budget.get("amount"), budget.get("currency"))),
    ]
    if estimate:
        rows.append(("estimate", f"{_money(estimate.get('amount'), estimate.get('currency'))} "
                     f"({estimate.get('arithmetic') or '-'})"))
    if approval.get("approvedGpuHours") is not None:
        rows.append(("approved GPU-hours", str(approval["approvedGpuHours"])))
    return rows


def blocks(receipt: Receipt) -> list[_Block]:
    """The receipt's content, independent of any output format."""
    art, run = receipt.artifact, receipt.run_info
    head = [("name", display_name(art.namespace, art.name)), ("digest", art.digest or "-"),
            ("size", human_size(art.size) or "-"), ("files", str(art.file_count or 1))]
    if receipt.trace.note:
        head.append(("note", receipt.trace.note))
    source = receipt.trace.source or ""
    if source.startswith("Marquez"):
        head.append(("answered by", source))
    if "artifact" in receipt.links:
        head.append(("in Marquez", receipt.links["artifact"]))
    made = [("made by", "nothing recorded: this is a source artifact")]
    if run is not None:
        made = [("job", f"{run.job_namespace}/{run.job_name}"), ("run", run.run_id),
                ("state", run.state), ("started", run.started_at or "-"),
                ("ended", run.ended_at or "-")]
        if "job" in receipt.links:
            made.append(("job in Marquez", receipt.links["job"]))
        made += [("identical re-run", f"{r.job_name} run {r.run_id} ({r.ended_at or '-'})")
                 for r in art.identical_reruns]
        made += [("same bytes also from", f"{r.job_namespace}/{r.job_name} run {r.run_id}")
                 for r in art.also_made_by]
    out: list[_Block] = [_Fields("Artifact", head), _Fields("Made by", made)]
    if run is not None:
        out.append(_Fields("Recipe", _recipe(receipt.recipe)))
        out.append(_Table("Inputs", ["name", "digest", "size"], [
            [display_name(r.namespace, r.name), r.digest or "-", human_size(r.size)]
            for r in receipt.inputs]))
    out += [_Fields("Cost", _cost(receipt)), _Fields("Approval", _approval(receipt.approval)),
            _Tree("Upstream lineage", art)]
    return out


def _tree_lines(node: TraceNode) -> list[tuple[int, str]]:
    """(depth, line) pairs: artifacts at even depths, the runs that made them below each."""
    lines: list[tuple[int, str]] = []
    stack = [(node, 0)]
    while stack:  # iterative: lineage may be deeper than Python's recursion limit
        n, depth = stack.pop()
        mark = " (shown above)" if n.repeat else " (source)" if n.run is None else ""
        mark = " (more upstream: raise --depth)" if n.truncated else mark
        lines.append((depth, f"{display_name(n.namespace, n.name)}{mark} {n.digest or '-'}"))
        if n.run is not None and not n.repeat:
            lines.append((depth + 1, f"made by {n.run.job_name} run {n.run.run_id}"))
            stack.extend((child, depth + 2) for child in reversed(n.inputs))
    return lines


def receipt_view(receipt: Receipt) -> RenderableType:
    """The receipt for a terminal (or, piped, as plain text)."""
    from rich.console import Group
    from rich.text import Text
    from rich.tree import Tree

    parts: list[RenderableType] = [Text(f"Receipt — generated {receipt.generated_at}",
                                        style="bold")]
    for block in blocks(receipt):
        parts.append(Text(f"\n{block.title}", style="bold underline"))
        if isinstance(block, _Fields):
            parts.append(fields(block.rows))
        elif isinstance(block, _Table):
            columns = [Column(h, flexible=h != "size", min_width=24) for h in block.headers]
            parts.append(table(columns, block.rows) if block.rows else Text("none"))
        else:
            # one line per node: on a narrow terminal a deep digest is cut with "…" (the
            # Inputs above, a pipe and --json have them whole)
            lines = [(d, Text(line, no_wrap=True, overflow="ellipsis"))
                     for d, line in _tree_lines(block.root)]
            tree = Tree(lines[0][1])
            stack = [tree]
            for depth, label in lines[1:]:
                del stack[depth:]
                stack.append(stack[-1].add(label))
            parts.append(tree)
    return Group(*parts)


def _markdown(receipt: Receipt) -> str:
    def cell(value: str) -> str:
        return value.replace("|", "\\|").replace("\n", " ")

    art = receipt.artifact
    out = [f"# Receipt: {display_name(art.namespace, art.name)}", "",
           f"Generated {receipt.generated_at}.", ""]
    for block in blocks(receipt):
        out += [f"## {block.title}", ""]
        if isinstance(block, _Fields):
            out += ["| | |", "| --- | --- |"]
            out += [f"| {cell(k)} | {cell(v)} |" for k, v in block.rows]
        elif isinstance(block, _Table):
            out += ["| " + " | ".join(block.headers) + " |",
                    "|" + " --- |" * len(block.headers)]
            out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in block.rows]
            if not block.rows:
                out.append("| none |" + " |" * (len(block.headers) - 1))
        else:
            out += [f"{'  ' * d}- `{cell(line)}`" for d, line in _tree_lines(block.root)]
        out.append("")
    return "\n".join(out)


_CSS = """body{font:14px/1.45 system-ui,sans-serif;max-width:70rem;margin:2rem auto;color:#222}
h1{font-size:1.4rem}h2{font-size:1.1rem;border-bottom:1px solid #ddd;margin-top:1.6rem}
table{border-collapse:collapse}td,th{padding:.2rem .8rem .2rem 0;text-align:left;
vertical-align:top}th{color:#666;font-weight:600}code,.d{font-family:ui-monospace,monospace;
font-size:12px}ul{list-style:none;padding-left:1.2rem}li.run{color:#555}"""


def _html(receipt: Receipt) -> str:
    e = html.escape
    art = receipt.artifact
    title = e(f"Receipt: {display_name(art.namespace, art.name)}")
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           f"<title>{title}</title><style>{_CSS}</style></head><body>",
           f"<h1>{title}</h1><p>Generated {e(receipt.generated_at)}.</p>"]
    for block in blocks(receipt):
        out.append(f"<h2>{e(block.title)}</h2>")
        if isinstance(block, _Fields):
            out.append("<table>" + "".join(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>"
                                           for k, v in block.rows) + "</table>")
        elif isinstance(block, _Table):
            head = "".join(f"<th>{e(h)}</th>" for h in block.headers)
            body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>"
                           for row in block.rows) or "<tr><td>none</td></tr>"
            out.append(f"<table><tr>{head}</tr>{body}</table>")
        else:
            depth = -1
            for d, line in _tree_lines(block.root):
                out.append("<ul>" * max(0, d - depth) + "</ul>" * max(0, depth - d))
                depth = d
                css = ' class="run"' if d % 2 else ""
                out.append(f'<li{css}><code>{e(line)}</code></li>')
            out.append("</ul>" * (depth + 1))
    out.append("</body></html>\n")
    return "\n".join(out)


def _json(receipt: Receipt) -> str:
    return json.dumps(receipt.to_dict(), indent=2, sort_keys=True) + "\n"


def _text(receipt: Receipt) -> str:
    return plain_text(receipt_view(receipt))


RECEIPT_FORMATS: dict[str, Callable[[Receipt], str]] = {
    "html": _html, "json": _json, "markdown": _markdown, "text": _text}


def render_receipt(receipt: Receipt, fmt: str = "text") -> str:
    """Render a receipt as ``text``, ``json``, ``markdown`` or ``html``."""
    if fmt not in RECEIPT_FORMATS:
        raise ValidationError("format", f"unknown receipt format {fmt!r}",
                              hint="use one of: " + ", ".join(sorted(RECEIPT_FORMATS)))
    return RECEIPT_FORMATS[fmt](receipt)
