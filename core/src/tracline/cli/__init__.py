"""The `tracline` command line."""

from __future__ import annotations

import sys

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
