"""`tracline run`'s quick parse (no click before the command starts) agrees with click."""

from __future__ import annotations

import click
import pytest

from tracline.cli._run import run
from tracline.cli._runner import OPTIONS, quick_parse

#: Command lines the quick parse takes (what follows `tracline run`).
TAKEN = [
    ["--", "true"],
    ["true"],
    ["python", "train.py", "--job", "mine", "--json"],
    ["--job", "j", "--", "echo", "--json"],
    ["--job=j", "--namespace=ns", "echo"],
    ["--gpus", "2", "--gpu-model", "H100", "--", "python", "-c", "pass"],
    ["--gpus=08", "--gpu-model=A100", "x"],
    ["--capture", "strace", "make"],
    ["--json", "--capture=audit", "--request", "req-1", "--", "x", "--", "y"],
    ["--", "--json"],
    ["--", "-"],
    ["--job", "", "x"],
]
#: Command lines left to click: help, bad values, unknown or repeated options, no command.
LEFT = [
    [], ["--"], ["--help"], ["-h"], ["--job"], ["--job", "--json", "x"], ["--gpus", "0", "x"],
    ["--gpus", "two", "x"], ["--gpus", "٣", "x"], ["--capture", "magic", "x"],
    ["--unknown", "x"], ["--json=yes", "x"], ["--job", "a", "--job", "b", "x"], ["-", "x"],
    ["--json"],
]


def click_params(args: list[str]) -> dict[str, object]:
    with run.make_context("run", list(args)) as ctx:
        return dict(ctx.params)


def test_options_are_the_click_commands() -> None:
    """OPTIONS names every option of the click command, with its parameter and whether it
    takes a value."""
    declared = {opt: (p.name, not p.is_flag) for p in run.params
                if isinstance(p, click.Option) for opt in p.opts}
    assert declared == OPTIONS


@pytest.mark.parametrize("args", TAKEN, ids=" ".join)
def test_quick_parse_equals_click(args: list[str]) -> None:
    """For a well-formed command line the quick parse gives exactly click's parameters."""
    assert quick_parse(args) == click_params(args)


@pytest.mark.parametrize("args", LEFT, ids=lambda a: " ".join(a) or "(nothing)")
def test_anything_else_goes_to_click(args: list[str]) -> None:
    """Help, a bad value, an unknown or repeated option and a missing command are left to
    click (which gives its usual message)."""
    assert quick_parse(args) is None
