"""Run diffs, leakage reports and reproduction plans for people."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from tracline.cli._output import Column, table
from tracline.lineage import (
    NOT_RUNNABLE_HINT,
    LeakageReport,
    ReproduceReport,
    RunDiff,
    short_digest,
    short_run,
)

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.text import Text

__all__ = ["diff_view", "leakage_view", "reproduce_view"]


def _value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _line(text: str, style: str = "") -> Text:
    from rich.text import Text

    return Text(text, style=style)


def diff_view(diff: RunDiff) -> RenderableType:
    """A diff as one table per section that differs."""
    from rich.console import Group
    from rich.text import Text

    a, b = diff.a, diff.b
    head = Text.assemble(
        ("A ", "bold"), f"{a.job_name} run {a.run_id} ({a.state})\n",
        ("B ", "bold"), f"{b.job_name} run {b.run_id} ({b.state})")
    parts: list[RenderableType] = [head]
    if not diff.changes:
        parts.append(_line("identical: same command, code, packages, environment, data and "
                           "cost", "green"))
        return Group(*parts)
    verdict = ("same recipe (command, code, packages, environment, inputs)"
               if diff.same_recipe else "different recipe")
    parts.append(_line(verdict, "green" if diff.same_recipe else "yellow"))
    for section, changes in diff.by_section():
        columns = [Column(section, flexible=True, min_width=12),
                   Column(f"A …{short_run(a.run_id)}", flexible=True, min_width=16),
                   Column(f"B …{short_run(b.run_id)}", flexible=True, min_width=16)]
        rows = [(c.key, _value(c.before), _value(c.after)) for c in changes]
        parts += [_line(""), table(columns, rows)]
    return Group(*parts)


def leakage_view(report: LeakageReport) -> RenderableType:
    """A leakage report: verdict, identical files, overlapping rows with examples."""
    from rich.console import Group

    parts: list[RenderableType] = []
    checked = len(report.upstream_checked)
    if report.leaked:
        parts.append(_line(
            f"LEAK: upstream of {report.model} shares content with {report.test_set} — "
            f"{len(report.file_matches)} identical file(s), {report.leaked_rows} test row(s)",
            "bold red"))
    else:
        parts.append(_line(f"no overlap between {checked} upstream artifact(s) of "
                           f"{report.model} and {report.test_set} ({report.test_files} "
                           "file(s))", "green"))
    if report.file_matches:
        columns = [Column("upstream", flexible=True, cut="middle"),
                   Column("test file", flexible=True, cut="middle"),
                   Column("digest", flexible=True, min_width=20)]
        parts += [_line(""), table(columns, [(m.upstream, m.test_file, m.digest)
                                             for m in report.file_matches],
                                   title="identical files")]
    leaks = [o for o in report.row_overlaps if o.leaked_rows]
    if leaks:
        columns = [Column("upstream", flexible=True), Column("test file", flexible=True),
                   Column("test rows found"), Column("example rows", flexible=True)]
        overlaps = [(o.upstream + (f"\n({o.note})" if o.note else ""), o.test_file,
                     f"{o.leaked_rows} of {o.test_rows}",
                     "\n".join(json.dumps(e, default=str) for e in o.examples)) for o in leaks]
        parts += [_line(""), table(columns, overlaps, title="overlapping rows")]
    if report.shared_ancestors:
        parts.append(_line("\nalso upstream of the test set (its source, overlap expected): "
                           + ", ".join(report.shared_ancestors), "dim"))
    for name, reason in report.skipped.items():
        parts.append(_line(f"{name}: {reason}", "dim"))
    return Group(*parts)


def _plan_table(report: ReproduceReport) -> RenderableType:
    columns = [Column("#"), Column("step", flexible=True, min_width=14),
               Column("command", flexible=True, min_width=16, cut="middle"), Column("commit"),
               Column("inputs", flexible=True, min_width=20)]
    rows = []
    for number, step in enumerate(report.plan.steps, 1):
        inputs = "\n".join(
            f"{i.label} {short_digest(i.digest)}"
            + ("" if i.made_by else f" (source, {i.status})") for i in step.inputs)
        rows.append((str(number), f"{step.run.job_name}\n…{short_run(step.run.run_id)}",
                     " ".join(step.argv) or "(not recorded)", (step.commit or "—")[:12],
                     inputs))
    return table(columns, rows, title="plan")


def reproduce_view(report: ReproduceReport, *, executed: bool) -> RenderableType:
    """The plan and, after a re-run, per output: identical, or what differed."""
    from rich.console import Group

    plan = report.plan
    parts: list[RenderableType] = [_plan_table(report)]
    for problem in plan.problems:
        parts.append(_line(f"! {problem}", "yellow"))
    if not executed:
        if plan.runnable:
            parts.append(_line("\nrun again with --run to repeat these steps in a scratch "
                               "worktree", "dim"))
        elif plan.steps:
            parts.append(_line(f"\nthese steps cannot be re-run: {NOT_RUNNABLE_HINT}", "dim"))
        return Group(*parts)
    for result in report.steps:
        parts.append(_line(f"\n{result.job_name} (run …{short_run(result.run_id)})", "bold"))
        if result.error:
            parts.append(_line(f"  failed: {result.error}", "red"))
        for output in result.outputs:
            if output.identical:
                parts.append(_line(f"  identical  {output.name} "
                                   f"{short_digest(output.recorded)}", "green"))
            else:
                parts.append(_line(
                    f"  DIFFERS    {output.name}: recorded {short_digest(output.recorded)}, "
                    f"reproduced {short_digest(output.reproduced)}", "red"))
        for change in result.inputs:
            parts.append(_line(f"  input changed: {change.key} recorded "
                               f"{short_digest(change.before)}, now "
                               f"{short_digest(change.after)}"))
        for change in result.recipe:
            parts.append(_line(f"  {change.section} {change.kind}: {change.key} "
                               f"{_value(change.before)} → {_value(change.after)}"))
    skipped = len(plan.steps) - len(report.steps)
    if skipped:
        parts.append(_line(f"\n{skipped} later step(s) not run", "yellow"))
    verdict = ("reproduced: every output identical" if report.identical
               else "NOT reproduced: see the differences above")
    parts.append(_line("\n" + verdict, "bold green" if report.identical else "bold red"))
    if report.kept:
        parts.append(_line(f"scratch worktree kept at {report.kept}", "dim"))
    return Group(*parts)
