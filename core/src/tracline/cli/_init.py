"""`tracline init`: a tracline.toml to start from, in this folder."""

from __future__ import annotations

from pathlib import Path

import click

from tracline.cli._app import app
from tracline.cli._output import json_option, line, print_json
from tracline.config import CONFIG_FILE
from tracline.errors import ConfigError

_TEMPLATE = """\
# tracline's configuration (see docs/configuration.md). Environment variables
# (TRACLINE_*) win over this file; relative paths are relative to this folder.

[tracline]
namespace = "{namespace}"    # OpenLineage namespace of this project's jobs
home = ".tracline"           # outbox, registry (the local index), caches

# The local registry (.tracline/tracline.db) indexes every run for trace, receipt,
# reproduce and leakage, whatever sinks are configured below.
{marquez}
# Every event also as JSON lines:
# [sinks.archive]
# type = "file"
# path = ".tracline/events.jsonl"
"""

_MARQUEZ = """
[sinks.marquez]
type = "marquez"
url = "{url}"
"""

_NO_MARQUEZ = """
# Deliver to Marquez too:
# [sinks.marquez]
# type = "marquez"
# url = "http://localhost:5000"
"""


@app.command("init")
@click.option("--namespace", default="default", show_default=True,
              help="OpenLineage namespace of this project's jobs.")
@click.option("--marquez", "marquez_url", default=None, metavar="URL",
              help="Also deliver events to the Marquez at URL.")
@click.option("--force", is_flag=True, help="Replace an existing tracline.toml.")
@json_option
def init(namespace: str, marquez_url: str | None, force: bool, as_json: bool) -> None:
    """Write a tracline.toml in this folder (the local registry on; Marquez if given)."""
    path = Path.cwd() / CONFIG_FILE
    if path.exists() and not force:
        raise ConfigError(f"{path} already exists", hint="edit it, or pass --force to replace it")
    if not namespace.strip() or '"' in namespace:
        raise ConfigError(f"namespace {namespace!r} is not usable",
                          hint="give a name such as ml-team (no quotes)")
    if marquez_url is not None and not marquez_url.startswith(("http://", "https://")):
        raise ConfigError(f"--marquez {marquez_url!r} is not an http(s) URL",
                          hint="e.g. --marquez http://localhost:5000")
    marquez = _MARQUEZ.format(url=marquez_url) if marquez_url else _NO_MARQUEZ
    path.write_text(_TEMPLATE.format(namespace=namespace, marquez=marquez), encoding="utf-8")
    if as_json:
        print_json({"written": str(path), "namespace": namespace, "marquez": marquez_url})
    else:
        line(f"wrote {path}; record a run with `tracline run -- python train.py`")
