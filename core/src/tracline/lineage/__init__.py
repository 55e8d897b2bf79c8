"""Lineage queries over the registry: trace, receipt, reproduce, diff and leakage.

They return data (``Trace``, ``Receipt``, ``RunDiff``, ... each with ``to_dict()``); how it
looks to people — trees, tables, Markdown or HTML receipts, Mermaid and DOT graphs — is the
command line's business (:mod:`tracline.cli`)."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tracline.lineage._common import (
        RunInfo,
        deliver_to_registry,
        display_name,
        human_size,
        short_digest,
        short_run,
    )
    from tracline.lineage._diff import Change, RunDiff, compare_runs, diff_runs
    from tracline.lineage._leakage import FileMatch, LeakageReport, RowOverlap, leakage
    from tracline.lineage._plan import Plan, PlanInput, Step, make_plan, plan
    from tracline.lineage._receipt import CostLine, Receipt, build_receipt, receipt
    from tracline.lineage._remote import (
        RemoteLineage,
        open_remote_lineage,
        receipt_from_dict,
        trace_from_dict,
    )
    from tracline.lineage._reproduce import (
        NOT_RUNNABLE_HINT,
        OutputResult,
        ReproduceReport,
        StepResult,
        reproduce,
        run_plan,
    )
    from tracline.lineage._resolve import ResolvedArtifact, resolve
    from tracline.lineage._trace import Trace, TraceNode, trace, trace_artifact

#: Public name -> the module defining it, loaded on first use: `tracline trace` needs the
#: walk, not the leakage check's hashing or the re-run machinery.
_EXPORTS = {
    **dict.fromkeys(("RunInfo", "deliver_to_registry", "display_name", "human_size",
                     "short_digest", "short_run"), "_common"),
    **dict.fromkeys(("Change", "RunDiff", "compare_runs", "diff_runs"), "_diff"),
    **dict.fromkeys(("FileMatch", "LeakageReport", "RowOverlap", "leakage"), "_leakage"),
    **dict.fromkeys(("Plan", "PlanInput", "Step", "make_plan", "plan"), "_plan"),
    **dict.fromkeys(("CostLine", "Receipt", "build_receipt", "receipt"), "_receipt"),
    **dict.fromkeys(("NOT_RUNNABLE_HINT", "OutputResult", "ReproduceReport", "StepResult",
                     "reproduce", "run_plan"), "_reproduce"),
    **dict.fromkeys(("RemoteLineage", "open_remote_lineage", "receipt_from_dict",
                     "trace_from_dict"), "_remote"),
    **dict.fromkeys(("ResolvedArtifact", "resolve"), "_resolve"),
    **dict.fromkeys(("Trace", "TraceNode", "trace", "trace_artifact"), "_trace"),
}

__all__ = [
    "NOT_RUNNABLE_HINT",
    "Change",
    "CostLine",
    "FileMatch",
    "LeakageReport",
    "OutputResult",
    "Plan",
    "PlanInput",
    "Receipt",
    "RemoteLineage",
    "ReproduceReport",
    "ResolvedArtifact",
    "RowOverlap",
    "RunDiff",
    "RunInfo",
    "Step",
    "StepResult",
    "Trace",
    "TraceNode",
    "build_receipt",
    "compare_runs",
    "deliver_to_registry",
    "diff_runs",
    "display_name",
    "human_size",
    "leakage",
    "make_plan",
    "open_remote_lineage",
    "plan",
    "receipt",
    "receipt_from_dict",
    "reproduce",
    "resolve",
    "run_plan",
    "short_digest",
    "short_run",
    "trace",
    "trace_artifact",
    "trace_from_dict",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"tracline.lineage.{module}"), name)
    globals()[name] = value
    return value
