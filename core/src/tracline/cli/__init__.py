"""The `tracline` command line."""

from __future__ import annotations

import sys

import click

from tracline.cli import (
    _lineage,  # noqa: F401 - registers `tracline trace|receipt|reproduce|diff|leakage`
    _outbox,  # noqa: F401 - registers `tracline outbox`
    _request,  # noqa: F401 - registers `tracline request` and `tracline spend`
    _serve,  # noqa: F401 - registers `tracline serve`
)
from tracline.cli._common import app, err_console
from tracline.errors import TraclineError

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input gives one clear line and exit code 2, never a traceback."""
    try:
        result = app(args=argv, prog_name="tracline", standalone_mode=False)
    except TraclineError as e:
        err_console.print(f"tracline: error: {e}", markup=False, soft_wrap=True)
        return 2
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.exceptions.Abort:
        err_console.print("tracline: aborted")
        return 130
    return result if isinstance(result, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
