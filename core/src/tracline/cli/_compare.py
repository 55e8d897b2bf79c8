"""`tracline reproduce|diff|leakage`: an artifact's steps run again, two runs side by side, a
model's upstream data against a test set."""

from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path

import click

from tracline.cli._app import app
from tracline.cli._compare_views import diff_view, leakage_view, reproduce_view
from tracline.cli._lineage import DEPTH, lookup_registry
from tracline.cli._output import json_option, line, note, print_json, show
from tracline.errors import ReproduceError
from tracline.lineage import Plan, diff_runs, leakage, reproduce, run_plan


@app.command("reproduce")
@click.argument("artifact")
@click.option("--run", "execute", is_flag=True,
              help="Re-run the plan in a scratch git worktree and compare the outputs.")
@click.option("--keep", is_flag=True, help="Keep the scratch worktree to inspect it.")
@click.option("--yes", is_flag=True,
              help="With --run: run commands recorded on other machines without asking.")
@DEPTH
@json_option
def reproduce_cmd(*, artifact: str, execute: bool, keep: bool, yes: bool, depth: int,
                  as_json: bool) -> None:
    """Show the steps that made ARTIFACT, in order; with --run, repeat them and compare.

    Before running a command that was recorded on another machine (lineage someone else
    posted), the steps are printed and you are asked; --yes skips the question.
    """
    registry = lookup_registry()
    report = reproduce(artifact, run=False, depth=depth, registry=registry)
    if execute:
        _confirm_foreign(report.plan, yes)
        report = run_plan(registry, report.plan, keep=keep)
    if as_json:
        print_json(report)
    else:
        note(report.plan.trace.note)
        show(reproduce_view(report, executed=execute))
    if execute and not report.identical:
        raise click.exceptions.Exit(1)


def _confirm_foreign(plan: Plan, yes: bool) -> None:
    """Ask before running commands recorded elsewhere; refuse when nobody can be asked."""
    here = socket.gethostname()
    foreign = [step for step in plan.steps if step.argv and
               (step.execution.get("host") or {}).get("hostname") != here]
    if not foreign or yes:
        return
    line(f"tracline: {len(foreign)} step(s) were recorded on another machine (not {here}); "
         "--run would execute:", stderr=True)
    for step in foreign:
        host = (step.execution.get("host") or {}).get("hostname") or "an unknown machine"
        line(f"  on {host}: {step.run.job_name}: {shlex.join(step.argv)}", stderr=True)
    if not sys.stdin.isatty():
        raise ReproduceError("refusing to run commands recorded on another machine without "
                             "confirmation", hint="read them above, then pass --yes")
    if not click.confirm("Run these commands here?", default=False, err=True):
        raise click.exceptions.Exit(1)


@app.command("diff")
@click.argument("run_a")
@click.argument("run_b")
@json_option
def diff_cmd(run_a: str, run_b: str, as_json: bool) -> None:
    """Compare two runs: command, code, packages, environment, inputs, outputs and cost."""
    result = diff_runs(run_a, run_b, registry=lookup_registry())
    if as_json:
        print_json(result)
    else:
        show(diff_view(result))


@app.command("leakage")
@click.argument("model")
@click.option("--test", "test_set", required=True,
              type=click.Path(exists=True, path_type=Path),
              help="The test set: a file or a folder of files.")
@DEPTH
@json_option
def leakage_cmd(model: str, test_set: Path, depth: int, as_json: bool) -> None:
    """Check MODEL's upstream data against a test set, by file and by row; exit 1 on a leak."""
    report = leakage(model, test_set, depth=depth, registry=lookup_registry())
    if as_json:
        print_json(report)
    else:
        show(leakage_view(report))
    if report.leaked:
        raise click.exceptions.Exit(1)
