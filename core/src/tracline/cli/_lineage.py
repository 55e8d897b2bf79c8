"""`tracline trace|receipt|reproduce|diff|leakage`: lineage queries over the registry."""

from __future__ import annotations

import shlex
import socket
import sys
from pathlib import Path

import click
from rich.console import RenderableType

from tracline.cli._common import app, console, err_console, json_option, print_json
from tracline.config import get_config
from tracline.errors import ReproduceError, TraclineError
from tracline.lineage import (
    Plan,
    diff_runs,
    leakage,
    receipt,
    render_receipt,
    render_trace,
    reproduce,
    run_plan,
    trace,
)
from tracline.lineage._common import deliver_to_registry, short_digest
from tracline.lineage._receipt_render import FORMATS, receipt_renderable
from tracline.lineage._trace_render import plain, trace_tree
from tracline.lineage._views import diff_renderable, leakage_renderable, reproduce_renderable
from tracline.registry import Registry

_DEPTH = click.option("--depth", default=50, show_default=True, type=click.IntRange(0),
                      help="How many levels of runs to walk upstream.")
_FROM = click.option("--from", "source", type=click.Choice(["auto", "local", "marquez"]),
                     default="auto", show_default=True,
                     help="Where to look: the local registry, Marquez ([marquez] url), or "
                     "the registry and then Marquez when the registry does not know it.")


def _registry() -> Registry:
    """The configured registry, after delivering what the outbox still holds for it."""
    error = deliver_to_registry()
    if error:  # the query still answers from what was delivered
        err_console.print(f"tracline: warning: pending events not delivered: {error}",
                          markup=False)
    return Registry(get_config().registry_url)


def _show(renderable: RenderableType) -> None:
    """Print for a terminal; piped or redirected, as wide plain text (digests never cut)."""
    if console.is_terminal:
        console.print(renderable)
    else:
        click.echo(plain(renderable, width=max(console.width, 200)), nl=False)


def _answered_by(source: str | None) -> None:
    if source and source.startswith("Marquez"):
        err_console.print(f"answered by {source}", style="dim", markup=False)


def _note(text: str | None) -> None:
    if text:
        err_console.print(f"note: {text}", style="yellow", markup=False)


@app.command("trace")
@click.argument("artifact")
@click.option("--format", "fmt", type=click.Choice(["tree", "mermaid", "dot"]), default="tree",
              show_default=True, help="Tree for people; Mermaid or Graphviz DOT for diagrams.")
@_DEPTH
@_FROM
@json_option
def trace_cmd(artifact: str, fmt: str, depth: int, source: str, as_json: bool) -> None:
    """Show the upstream lineage of ARTIFACT (a path, a digest or its prefix, a dataset name)."""
    result = trace(artifact, depth=depth, source=source,
                   registry=None if source == "marquez" else _registry())
    _answered_by(result.source)
    if as_json:
        print_json(result.to_dict())
        return
    _note(result.note)
    if fmt == "tree":
        _show(trace_tree(result))
    else:
        click.echo(render_trace(result, fmt), nl=False)


@app.command("receipt")
@click.argument("artifact")
@click.option("--format", "fmt", type=click.Choice(sorted(FORMATS)), default="text",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the receipt to this file instead of the terminal.")
@_DEPTH
@_FROM
def receipt_cmd(artifact: str, fmt: str, output: Path | None, depth: int, source: str) -> None:
    """One page on how ARTIFACT was made: run, recipe, cost, approval, upstream digests."""
    made = receipt(artifact, depth=depth, source=source,
                   registry=None if source == "marquez" else _registry())
    _answered_by(made.trace.source)
    if output is not None:
        try:
            output.write_text(render_receipt(made, fmt), encoding="utf-8")
        except OSError as e:
            raise TraclineError(f"cannot write {output}: {e.strerror}",
                                hint="check the folder exists and is writable") from e
        _note(made.trace.note)
        console.print(f"wrote the {fmt} receipt of {short_digest(made.artifact.digest)} "
                      f"to {output}", markup=False)
    elif fmt == "text":
        _note(made.trace.note)
        _show(receipt_renderable(made))
    else:
        click.echo(render_receipt(made, fmt), nl=False)


@app.command("reproduce")
@click.argument("artifact")
@click.option("--run", "execute", is_flag=True,
              help="Re-run the plan in a scratch git worktree and compare the outputs.")
@click.option("--keep", is_flag=True, help="Keep the scratch worktree to inspect it.")
@click.option("--yes", is_flag=True,
              help="With --run: run commands recorded on other machines without asking.")
@_DEPTH
@json_option
def reproduce_cmd(*, artifact: str, execute: bool, keep: bool, yes: bool, depth: int,
                  as_json: bool) -> None:
    """Show the steps that made ARTIFACT, in order; with --run, repeat them and compare.

    Before running a command that was recorded on another machine (lineage someone else
    posted), the steps are printed and you are asked; --yes skips the question.
    """
    registry = _registry()
    report = reproduce(artifact, run=False, depth=depth, registry=registry)
    if execute:
        _confirm_foreign(report.plan, yes)
        report = run_plan(registry, report.plan, keep=keep)
    if as_json:
        print_json(report.to_dict())
    else:
        _note(report.plan.trace.note)
        _show(reproduce_renderable(report, executed=execute))
    if execute and not report.identical:
        raise click.exceptions.Exit(1)


def _confirm_foreign(plan: Plan, yes: bool) -> None:
    """Ask before running commands recorded elsewhere; refuse when nobody can be asked."""
    here = socket.gethostname()
    foreign = [step for step in plan.steps if step.argv and
               (step.execution.get("host") or {}).get("hostname") != here]
    if not foreign or yes:
        return
    err_console.print(f"tracline: {len(foreign)} step(s) were recorded on another machine "
                      f"(not {here}); --run would execute:", markup=False)
    for step in foreign:
        host = (step.execution.get("host") or {}).get("hostname") or "an unknown machine"
        err_console.print(f"  on {host}: {step.run.job_name}: {shlex.join(step.argv)}",
                          markup=False)
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
    result = diff_runs(run_a, run_b, registry=_registry())
    if as_json:
        print_json(result.to_dict())
    else:
        _show(diff_renderable(result))


@app.command("leakage")
@click.argument("model")
@click.option("--test", "test_set", required=True,
              type=click.Path(exists=True, path_type=Path),
              help="The test set: a file or a folder of files.")
@_DEPTH
@json_option
def leakage_cmd(model: str, test_set: Path, depth: int, as_json: bool) -> None:
    """Check MODEL's upstream data against a test set, by file and by row; exit 1 on a leak."""
    report = leakage(model, test_set, depth=depth, registry=_registry())
    if as_json:
        print_json(report.to_dict())
    else:
        _show(leakage_renderable(report))
    if report.leaked:
        raise click.exceptions.Exit(1)
