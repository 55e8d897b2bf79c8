"""Terminal views (rich) of diffs and leakage reports."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from tracline.lineage._common import short_digest, short_run
from tracline.lineage._diff import SECTIONS, RunDiff
from tracline.lineage._leakage import LeakageReport
from tracline.lineage._reproduce import ReproduceReport

__all__ = ["diff_renderable", "leakage_renderable", "reproduce_renderable"]


def _show(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def diff_renderable(diff: RunDiff) -> RenderableType:
    """A diff as one table per section that differs."""
    a, b = diff.a, diff.b
    head = Text.assemble(
        ("A ", "bold"), f"{a.job_name} run {a.run_id} ({a.state})\n",
        ("B ", "bold"), f"{b.job_name} run {b.run_id} ({b.state})")
    parts: list[RenderableType] = [head]
    if not diff.changes:
        parts.append(Text("identical: same command, code, packages, environment, data and cost",
                          style="green"))
        return Group(*parts)
    verdict = ("same recipe (command, code, packages, environment, inputs)"
               if diff.same_recipe else "different recipe")
    parts.append(Text(verdict, style="green" if diff.same_recipe else "yellow"))
    for section in SECTIONS:
        changes = diff.section(section)
        if not changes:
            continue
        table = Table(section, f"A …{short_run(a.run_id)}", f"B …{short_run(b.run_id)}",
                      title_justify="left", show_edge=False)
        for change in changes:
            table.add_row(change.key, _show(change.before), _show(change.after))
        parts += [Text(""), table]
    return Group(*parts)


def leakage_renderable(report: LeakageReport) -> RenderableType:
    """A leakage report: verdict, identical files, overlapping rows with examples."""
    parts: list[RenderableType] = []
    checked = len(report.upstream_checked)
    if report.leaked:
        parts.append(Text(
            f"LEAK: upstream of {report.model} shares content with {report.test_set} — "
            f"{len(report.file_matches)} identical file(s), {report.leaked_rows} test row(s)",
            style="bold red"))
    else:
        parts.append(Text(f"no overlap between {checked} upstream artifact(s) of {report.model} "
                          f"and {report.test_set} ({report.test_files} file(s))", style="green"))
    if report.file_matches:
        table = Table("upstream", "test file", "digest", title="identical files",
                      title_justify="left", show_edge=False)
        for m in report.file_matches:
            table.add_row(m.upstream, m.test_file, m.digest)
        parts += [Text(""), table]
    leaks = [o for o in report.row_overlaps if o.leaked_rows]
    if leaks:
        table = Table("upstream", "test file", "test rows found", "example rows",
                      title="overlapping rows", title_justify="left", show_edge=False)
        for o in leaks:
            examples = "\n".join(json.dumps(e, default=str) for e in o.examples)
            table.add_row(o.upstream + (f"\n({o.note})" if o.note else ""), o.test_file,
                          f"{o.leaked_rows} of {o.test_rows}", examples)
        parts += [Text(""), table]
    if report.shared_ancestors:
        parts.append(Text("\nalso upstream of the test set (its source, overlap expected): "
                          + ", ".join(report.shared_ancestors), style="dim"))
    for name, reason in report.skipped.items():
        parts.append(Text(f"{name}: {reason}", style="dim"))
    return Group(*parts)


def _plan_table(report: ReproduceReport) -> Table:
    table = Table("#", "step", "command", "commit", "inputs", title="plan", title_justify="left",
                  show_edge=False)
    for number, step in enumerate(report.plan.steps, 1):
        inputs = "\n".join(
            f"{i.label} {short_digest(i.digest)}"
            + ("" if i.made_by else f" (source, {i.status})") for i in step.inputs)
        table.add_row(str(number), f"{step.run.job_name}\n…{short_run(step.run.run_id)}",
                      " ".join(step.argv) or "(not recorded)", (step.commit or "—")[:12], inputs)
    return table


def reproduce_renderable(report: ReproduceReport, *, executed: bool) -> RenderableType:
    """The plan and, after a re-run, per output: identical, or what differed."""
    parts: list[RenderableType] = [_plan_table(report)]
    for problem in report.plan.problems:
        parts.append(Text(f"! {problem}", style="yellow"))
    if not executed:
        parts.append(Text("\nrun again with --run to repeat these steps in a scratch worktree",
                          style="dim"))
        return Group(*parts)
    for result in report.steps:
        parts.append(Text(f"\n{result.job_name} (run …{short_run(result.run_id)})", style="bold"))
        if result.error:
            parts.append(Text(f"  failed: {result.error}", style="red"))
        for output in result.outputs:
            if output.identical:
                parts.append(Text(f"  identical  {output.name} {short_digest(output.recorded)}",
                                  style="green"))
            else:
                parts.append(Text(
                    f"  DIFFERS    {output.name}: recorded {short_digest(output.recorded)}, "
                    f"reproduced {short_digest(output.reproduced)}", style="red"))
        for change in result.inputs:
            parts.append(Text(f"  input changed: {change.key} recorded "
                              f"{short_digest(change.before)}, now {short_digest(change.after)}"))
        for change in result.recipe:
            parts.append(Text(f"  {change.section} {change.kind}: {change.key} "
                              f"{_show(change.before)} → {_show(change.after)}"))
    skipped = len(report.plan.steps) - len(report.steps)
    if skipped:
        parts.append(Text(f"\n{skipped} later step(s) not run", style="yellow"))
    verdict = ("reproduced: every output identical" if report.identical
               else "NOT reproduced: see the differences above")
    parts.append(Text("\n" + verdict, style="bold green" if report.identical else "bold red"))
    if report.kept:
        parts.append(Text(f"scratch worktree kept at {report.kept}", style="dim"))
    return Group(*parts)
