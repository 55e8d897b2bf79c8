"""Lineage queries over the registry: trace, receipt, reproduce, diff and leakage."""

from tracline.lineage._diff import Change, RunDiff, compare_runs, diff_runs
from tracline.lineage._leakage import FileMatch, LeakageReport, RowOverlap, leakage
from tracline.lineage._plan import Plan, PlanInput, Step, make_plan, plan
from tracline.lineage._receipt import CostLine, Receipt, build_receipt, receipt
from tracline.lineage._receipt_render import render_receipt
from tracline.lineage._reproduce import (
    OutputResult,
    ReproduceReport,
    StepResult,
    reproduce,
    run_plan,
)
from tracline.lineage._resolve import ResolvedArtifact, resolve
from tracline.lineage._trace import Trace, TraceNode, trace, trace_artifact
from tracline.lineage._trace_render import render_trace

__all__ = [
    "Change",
    "CostLine",
    "FileMatch",
    "LeakageReport",
    "OutputResult",
    "Plan",
    "PlanInput",
    "Receipt",
    "ReproduceReport",
    "ResolvedArtifact",
    "RowOverlap",
    "RunDiff",
    "Step",
    "StepResult",
    "Trace",
    "TraceNode",
    "build_receipt",
    "compare_runs",
    "diff_runs",
    "leakage",
    "make_plan",
    "plan",
    "receipt",
    "render_receipt",
    "render_trace",
    "reproduce",
    "resolve",
    "run_plan",
    "trace",
    "trace_artifact",
]
