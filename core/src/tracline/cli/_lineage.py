"""`tracline trace|receipt`: an artifact's upstream lineage, and its receipt."""

from __future__ import annotations

from pathlib import Path

import click

from tracline.cli._app import app
from tracline.cli._output import json_option, line, note, print_json, show, warn
from tracline.cli._receipt_view import RECEIPT_FORMATS, receipt_view, render_receipt
from tracline.cli._trace_view import render_trace, trace_tree
from tracline.config import get_config
from tracline.errors import ConfigError, TraclineError, ValidationError
from tracline.lineage import (
    Receipt,
    Trace,
    deliver_to_registry,
    open_remote_lineage,
    receipt,
    short_digest,
    trace,
)
from tracline.registry import Registry

DEPTH = click.option("--depth", default=50, show_default=True, type=click.IntRange(0),
                      help="How many levels of runs to walk upstream.")
FROM = click.option("--from", "source", type=click.Choice(["auto", "local", "marquez"]),
                     default="auto", show_default=True,
                     help="Where to look: the local registry, Marquez ([marquez] url), or "
                     "(auto) the team server when TRACLINE_URL is set, else the registry and "
                     "then Marquez when the registry does not know it.")


def lookup_registry() -> Registry:
    """The configured registry, after delivering what the outbox still holds for it."""
    config = get_config()
    if not any(s.type == "registry" for s in config.sinks):
        raise ConfigError("the local registry is turned off ([registry] enabled = false), so "
                          "no run is indexed here to look up",
                          hint="ask Marquez with --from marquez, or remove `enabled = false` "
                          f"from [registry] in {config.source or 'tracline.toml'} and record "
                          "the runs again")
    error = deliver_to_registry()
    if error:  # the query still answers from what was delivered
        warn(f"pending events not delivered: {error}")
    return Registry(config.registry_url)


def answered_by(source: str | None) -> None:
    """Say so on standard error when Marquez or the team server, not the local registry,
    answered."""
    if source and source.startswith(("Marquez", "the team server")):
        line(f"answered by {source}", "dim", stderr=True)


def find_trace(artifact: str, depth: int, source: str) -> Trace:
    """The trace from the store ``--from`` names: with ``auto``, the team server when
    ``TRACLINE_URL`` is set."""
    remote = open_remote_lineage() if source == "auto" else None
    if remote is not None:
        try:
            return remote.trace(artifact, depth)
        finally:
            remote.close()
    return trace(artifact, depth=depth, source=source,
                 registry=None if source == "marquez" else lookup_registry())


def find_receipt(artifact: str, depth: int, source: str) -> Receipt:
    """The receipt from the store ``--from`` names (as :func:`find_trace`)."""
    remote = open_remote_lineage() if source == "auto" else None
    if remote is not None:
        try:
            return remote.receipt(artifact, depth)
        finally:
            remote.close()
    return receipt(artifact, depth=depth, source=source,
                   registry=None if source == "marquez" else lookup_registry())


@app.command("trace")
@click.argument("artifact")
@click.option("--format", "fmt", type=click.Choice(["tree", "mermaid", "dot"]), default="tree",
              show_default=True, help="Tree for people; Mermaid or Graphviz DOT for diagrams.")
@DEPTH
@FROM
@json_option
def trace_cmd(artifact: str, fmt: str, depth: int, source: str, as_json: bool) -> None:
    """Show the upstream lineage of ARTIFACT (a path, a digest or its prefix, a dataset name)."""
    result = find_trace(artifact, depth, source)
    answered_by(result.source)
    if as_json:
        print_json(result)
        return
    note(result.note)
    if fmt == "tree":
        show(trace_tree(result))
    else:
        click.echo(render_trace(result, fmt), nl=False)


@app.command("receipt")
@click.argument("artifact")
@click.option("--format", "fmt", type=click.Choice(sorted(RECEIPT_FORMATS)), default=None,
              help="text (default), json, markdown or html.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the receipt to this file instead of the terminal.")
@DEPTH
@FROM
@json_option
def receipt_cmd(artifact: str, fmt: str | None, output: Path | None, *, depth: int, source: str,
                as_json: bool) -> None:
    """One page on how ARTIFACT was made: run, recipe, cost, approval, upstream digests.

    --json prints the receipt as JSON; with -o FILE it prints what was written.
    """
    if as_json and output is None and fmt not in {None, "json"}:
        raise ValidationError("--format", f"--json prints JSON, not {fmt}",
                              hint=f"write the {fmt} receipt to a file with -o FILE")
    fmt = fmt or ("json" if as_json and output is None else "text")
    made = find_receipt(artifact, depth, source)
    answered_by(made.trace.source)
    if output is None:
        if fmt == "text":
            note(made.trace.note)
            show(receipt_view(made))
        else:
            click.echo(render_receipt(made, fmt), nl=False)
        return
    try:
        output.write_text(render_receipt(made, fmt), encoding="utf-8")
    except OSError as e:
        raise TraclineError(f"cannot write {output}: {e.strerror}",
                            hint="check the folder exists and is writable") from e
    if as_json:
        print_json({"written": str(output), "format": fmt, "artifact": made.artifact.digest,
                    "note": made.trace.note})
        return
    note(made.trace.note)
    line(f"wrote the {fmt} receipt of {short_digest(made.artifact.digest)} to {output}")
