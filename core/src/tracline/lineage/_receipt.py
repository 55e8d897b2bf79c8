"""A receipt: one page that says how an artifact came to be and what it cost.

The artifact and its digest, the run that made it, that run's recipe (command, code, packages,
interpreter, host, environment), its GPU cost and the approval it ran under, the inputs it
read, and the upstream tree with every digest — plus the cost of the whole upstream.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import attrs

from tracline.lineage._common import RunInfo
from tracline.lineage._resolve import resolve
from tracline.lineage._sources import ask
from tracline.lineage._trace import DEFAULT_DEPTH, Trace, TraceNode, trace_artifact
from tracline.registry import ArtifactRow, LineageStore, RunRow

__all__ = ["CostLine", "Receipt", "receipt"]


@attrs.frozen
class CostLine:
    """What one run in the lineage cost."""

    run_id: str
    job_name: str
    gpu_seconds: float | None
    cost: float | None
    currency: str | None
    measurement: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"runId": self.run_id, "job": self.job_name, "gpuSeconds": self.gpu_seconds,
                "cost": self.cost, "currency": self.currency, "measurement": self.measurement}


@attrs.define
class Receipt:
    """How one artifact came to be: run, recipe, cost, approval and upstream lineage."""

    trace: Trace
    run: RunRow | None
    io: list[ArtifactRow]
    costs: list[CostLine]
    generated_at: str
    #: Pages of the artifact and of its run's job in Marquez's web UI (``[marquez] web_url``).
    links: dict[str, str] = attrs.field(factory=dict)

    @property
    def artifact(self) -> TraceNode:
        return self.trace.root

    @property
    def run_info(self) -> RunInfo | None:
        return RunInfo.of(self.run) if self.run else None

    def _facet(self, key: str) -> dict[str, Any] | None:
        value = self.run.facets.get(key) if self.run else None
        return value if isinstance(value, dict) else None

    @property
    def recipe(self) -> dict[str, Any] | None:
        """The ``tracline_execution`` facet of the run that made the artifact."""
        return self._facet("tracline_execution")

    @property
    def cost(self) -> dict[str, Any] | None:
        """The ``tracline_gpuCost`` facet of the run that made the artifact."""
        return self._facet("tracline_gpuCost")

    @property
    def approval(self) -> dict[str, Any] | None:
        """The ``tracline_approval`` facet: the approved request the run claimed."""
        return self._facet("tracline_approval")

    @property
    def inputs(self) -> list[ArtifactRow]:
        return [r for r in self.io if r.direction == "in"]

    @property
    def outputs(self) -> list[ArtifactRow]:
        return [r for r in self.io if r.direction == "out"]

    def totals(self) -> dict[str, float]:
        """Upstream cost per currency, this artifact's run included."""
        totals: dict[str, float] = {}
        for line in self.costs:
            if line.cost is not None:
                currency = line.currency or "USD"
                totals[currency] = round(totals.get(currency, 0.0) + line.cost, 6)
        return totals

    def gpu_hours(self) -> float:
        return sum(c.gpu_seconds or 0.0 for c in self.costs) / 3600

    def to_dict(self) -> dict[str, Any]:
        root = self.artifact
        return {
            "receipt": 1,
            "generatedAt": self.generated_at,
            "artifact": {"namespace": root.namespace, "name": root.name, "digest": root.digest,
                         "size": root.size, "fileCount": root.file_count, "kind": root.kind},
            "note": self.trace.note,
            "source": self.trace.source,
            "links": self.links,
            "run": self.run_info.to_dict() if self.run_info else None,
            "sameBytes": {"identicalReruns": [r.to_dict() for r in root.identical_reruns],
                          "otherRuns": [r.to_dict() for r in root.also_made_by]},
            "recipe": self.recipe,
            "cost": self.cost,
            "approval": self.approval,
            "inputs": [_io_dict(r) for r in self.inputs],
            "outputs": [_io_dict(r) for r in self.outputs],
            "upstreamCost": {"runs": [c.to_dict() for c in self.costs],
                             "totals": self.totals(), "gpuHours": round(self.gpu_hours(), 6)},
            "upstream": self.trace.to_dict(),
        }


def _io_dict(row: ArtifactRow) -> dict[str, Any]:
    return {"namespace": row.namespace, "name": row.name, "digest": row.digest,
            "size": row.size, "fileCount": row.file_count}


def _cost_line(run: RunRow) -> CostLine:
    facet = run.facets.get("tracline_gpuCost") or {}
    return CostLine(run.run_id, run.job_name, facet.get("gpuSeconds"), facet.get("cost"),
                    facet.get("currency"), facet.get("measurement"))


def build_receipt(registry: LineageStore, trace: Trace, web_url: str | None = None) -> Receipt:
    """A receipt for the artifact at the root of ``trace`` (``web_url``: Marquez's web UI,
    to link the artifact's and its job's pages)."""
    runs = registry.runs_by_id(r.run_id for r in trace.runs())
    root_run = runs.get(trace.root.run.run_id) if trace.root.run else None
    io = registry.io(root_run.run_id) if root_run else []
    costs = [_cost_line(runs[r.run_id]) for r in trace.runs() if r.run_id in runs]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    links: dict[str, str] = {}
    if web_url:
        from tracline.marquez import web_link

        links["artifact"] = web_link(web_url, "dataset", trace.root.namespace, trace.root.name)
        if root_run is not None:
            links["job"] = web_link(web_url, "job", root_run.job_namespace, root_run.job_name)
    return Receipt(trace, root_run, io, costs, now, links)


def receipt(ref: str, *, depth: int = DEFAULT_DEPTH, registry: LineageStore | None = None,
            source: str = "auto") -> Receipt:
    """The receipt of a path, digest or dataset name, from ``registry`` or the store
    ``source`` names (as :func:`tracline.lineage.trace`); it links to Marquez's web UI when
    ``[marquez] web_url`` is set."""
    from tracline.config import get_config
    from tracline.marquez import marquez_settings

    web_url = marquez_settings(get_config()).web_url

    def question(store: LineageStore) -> Receipt:
        with store.snapshot():
            return build_receipt(store, trace_artifact(store, resolve(store, ref), depth),
                                 web_url)

    return ask(question, registry=registry, source=source)[0]
