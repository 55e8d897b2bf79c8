"""The `tracline` command line."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

import click

from tracline.cli import _common
from tracline.cli._common import LazyGroup, app
from tracline.errors import TraclineError

#: Subcommand -> the module that registers it. Modules load on first use, so that e.g.
#: `tracline run` does not pay for importing every other command's dependencies.
COMMANDS = {
    "diff": "tracline.cli._lineage",
    "leakage": "tracline.cli._lineage",
    "outbox": "tracline.cli._outbox",
    "receipt": "tracline.cli._lineage",
    "reproduce": "tracline.cli._lineage",
    "request": "tracline.cli._request",
    "run": "tracline.cli._run",
    "serve": "tracline.cli._serve",
    "spend": "tracline.cli._request",
    "trace": "tracline.cli._lineage",
}
LazyGroup.lazy = COMMANDS

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input gives one clear line and exit code 2, never a traceback."""
    code = _main(argv)
    if argv is None and _common.finished:
        _exit_now(code)
    return code


def _exit_now(code: int) -> NoReturn:
    """End the process without the interpreter's teardown (module clean-up, garbage
    collection, checkpointing SQLite's write-ahead logs: 10-40 ms on every `tracline run`).
    Only when the command has finished: its events are committed (a committed write-ahead
    log is as safe as the database file), and output is flushed here."""
    if "logging" in sys.modules:
        sys.modules["logging"].shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _main(argv: list[str] | None) -> int:
    try:
        result = app(args=argv, prog_name="tracline", standalone_mode=False)
    except TraclineError as e:
        _common.err_console.print(f"tracline: error: {e}", markup=False, soft_wrap=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        _common.err_console.print("tracline: aborted")
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
