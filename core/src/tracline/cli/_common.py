"""Shared CLI plumbing: the root group, output helpers, error rendering."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import click
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


@click.group(name="tracline", context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tracline")
def app() -> None:
    """Observed lineage, content hashes, GPU cost and approvals for ML runs."""


def json_option(func: F) -> F:
    """Add ``--json`` (machine-readable output) to a command."""
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(
        func
    )


def to_jsonable(value: Any) -> Any:
    if attrs.has(type(value)):
        return to_jsonable(attrs.asdict(value, recurse=False))
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "__fspath__"):
        return str(value)
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True) + "\n")
