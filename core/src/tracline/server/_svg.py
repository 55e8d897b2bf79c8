"""Server-rendered SVG: spend over time as stacked bars, an artifact's lineage as a graph.

Plain SVG text with every label escaped; no script, so the page's content security policy
(no inline scripts) holds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from decimal import Decimal
from html import escape
from urllib.parse import quote

from tracline.approvals import State, TrainingRequest
from tracline.lineage import Trace, TraceNode

__all__ = ["lineage_svg", "marquez_link", "spend_series", "spend_svg"]

_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2",
            "#ff9da6", "#9d755d", "#bab0ac")
_COMMITTED = {State.APPROVED, State.CLAIMED, State.COMPLETED, State.FAILED}


def _key(r: TrainingRequest, by: str) -> str | None:
    if by == "agent":
        return r.requester if r.requester.startswith("agent:") else None
    if by == "person":
        return r.requester if r.requester.startswith("user:") else None
    return r.project if by == "project" else r.requester


def spend_series(requests: Iterable[TrainingRequest], by: str,
                 ) -> tuple[list[str], dict[str, dict[str, Decimal]]]:
    """(weeks, {group: {week: money}}): actual cost where the run finished, else the budget
    committed by approval, in the week the request was filed."""
    series: dict[str, dict[str, Decimal]] = {}
    weeks: set[str] = set()
    for r in requests:
        key = _key(r, by)
        if key is None or r.state not in _COMMITTED:
            continue
        year, week, _ = r.created_at.isocalendar()
        label = f"{year}-W{week:02d}"
        amount = r.completion.actual.amount if r.completion else r.budget.amount
        weeks.add(label)
        bucket = series.setdefault(key, {})
        bucket[label] = bucket.get(label, Decimal(0)) + amount
    return sorted(weeks), series


def spend_svg(weeks: list[str], series: dict[str, dict[str, Decimal]], currency: str) -> str:
    """Stacked weekly bars, one colour per group, with a legend."""
    if not weeks:
        return '<svg xmlns="http://www.w3.org/2000/svg" width="480" height="40" role="img">' \
               '<text x="8" y="24">no approved spend yet</text></svg>'
    totals = [sum((s.get(w, Decimal(0)) for s in series.values()), Decimal(0)) for w in weeks]
    top = max(totals) or Decimal(1)
    width, height, left, bottom = max(480, 70 * len(weeks) + 80), 260, 70, 40
    bar = 40
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
             f'height="{height + 20 * len(series) + 20}" role="img" '
             f'aria-label="spend by week">',
             f'<text x="4" y="14" font-size="11">{escape(currency)} {top:,.2f}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
             'stroke="#555"/>']
    plot = height - bottom - 20
    for i, week in enumerate(weeks):
        x, y = left + 10 + i * 70, float(height - bottom)
        for j, (key, values) in enumerate(sorted(series.items())):
            amount = values.get(week, Decimal(0))
            if amount <= 0:
                continue
            h = float(amount / top) * plot
            y -= h
            parts.append(f'<rect x="{x}" y="{y:.1f}" width="{bar}" height="{h:.1f}" '
                         f'fill="{_COLOURS[j % len(_COLOURS)]}"><title>{escape(key)} '
                         f'{escape(week)}: {amount:,.2f}</title></rect>')
        parts.append(f'<text x="{x}" y="{height - bottom + 16}" font-size="10">'
                     f"{escape(week)}</text>")
    for j, key in enumerate(sorted(series)):
        y = height + 10 + 20 * j
        total = sum(series[key].values(), Decimal(0))
        parts.append(f'<rect x="{left}" y="{y - 10}" width="12" height="12" '
                     f'fill="{_COLOURS[j % len(_COLOURS)]}"/>'
                     f'<text x="{left + 18}" y="{y}" font-size="12">{escape(key)} — '
                     f"{escape(currency)} {total:,.2f}</text>")
    parts.append("</svg>")
    return "".join(parts)


def marquez_link(web_url: str | None, kind: str, namespace: str, name: str) -> str | None:
    """The node's page in Marquez's web UI (``kind``: dataset or job)."""
    if not web_url:
        return None
    return f"{web_url}/lineage/{kind}/{quote(namespace, safe='')}/{quote(name, safe='')}"


def _short(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else "…" + text[-(limit - 1):]


def lineage_svg(trace: Trace, web_url: str | None) -> str:
    """The trace as columns (the artifact on the right, what made it to the left), each
    artifact and run linked to its node in Marquez's web UI when ``web_url`` is set."""
    columns: list[list[tuple[str, str, str, str | None]]] = []
    position: dict[str, tuple[int, int]] = {}
    edges: list[tuple[str, str]] = []

    def place(item_id: str, label: str, title: str, link: str | None, level: int) -> None:
        if item_id in position:
            return
        while len(columns) <= level:
            columns.append([])
        position[item_id] = (level, len(columns[level]))
        columns[level].append((item_id, label, title, link))

    stack: list[tuple[TraceNode, int]] = [(trace.root, 0)]
    while stack:
        node, level = stack.pop()
        art = "a:" + node.key
        place(art, _short(node.name.rsplit("/", 1)[-1] or node.name),
              f"{node.namespace}:{node.name} {node.digest or ''}",
              marquez_link(web_url, "dataset", node.namespace, node.name), level)
        if node.run is None or node.repeat:
            continue
        run = "r:" + node.run.run_id
        place(run, _short(node.run.job_name), f"run {node.run.run_id} ({node.run.state})",
              marquez_link(web_url, "job", node.run.job_namespace, node.run.job_name),
              level + 1)
        edges.append((run, art))
        for child in node.inputs:
            edges.append(("a:" + child.key, run))
            stack.append((child, level + 2))
    box_w, box_h, gap_x, gap_y = 210, 34, 60, 16
    width = len(columns) * (box_w + gap_x) + 20
    height = max(len(c) for c in columns) * (box_h + gap_y) + 20

    def xy(item_id: str) -> tuple[float, float]:
        level, row = position[item_id]
        return width - 10 - (level + 1) * (box_w + gap_x) + gap_x, 10 + row * (box_h + gap_y)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             'role="img" aria-label="lineage graph">']
    for src, dst in edges:
        (x1, y1), (x2, y2) = xy(src), xy(dst)
        parts.append(f'<line x1="{x1 + box_w:.0f}" y1="{y1 + box_h / 2:.0f}" x2="{x2:.0f}" '
                     f'y2="{y2 + box_h / 2:.0f}" stroke="#888" marker-end="url(#arrow)"/>')
    parts.append('<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" '
                 'markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0 L10,5 L0,10 z" '
                 'fill="#888"/></marker></defs>')
    for column in columns:
        for item_id, label, title, link in column:
            x, y = xy(item_id)
            is_run = item_id.startswith("r:")
            shape = (f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" '
                     f'rx="{12 if is_run else 3}" fill="{"#fde9c8" if is_run else "#dbe8f6"}" '
                     'stroke="#555"/>'
                     f'<text x="{x + 8:.0f}" y="{y + 21:.0f}" font-size="12">{escape(label)}'
                     f"</text><title>{escape(title)}</title>")
            if link:
                shape = f'<a href="{escape(link)}" target="_blank">{shape}</a>'
            parts.append(f"<g>{shape}</g>")
    parts.append("</svg>")
    return "".join(parts)


def age(moment: dt.datetime, now: dt.datetime) -> str:
    """A short age: ``3 d``, ``5 h``, ``12 min``."""
    seconds = max(0, int((now - moment).total_seconds()))
    if seconds >= 86400:
        return f"{seconds // 86400} d"
    if seconds >= 3600:
        return f"{seconds // 3600} h"
    return f"{seconds // 60} min"
