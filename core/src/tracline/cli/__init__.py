"""The `tracline` command line.

``main`` imports click only when it needs it: the everyday ``tracline run`` forms start the
user's command without it (see :mod:`tracline.cli._runner`).
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NoReturn

    import click

    app: click.Group

#: Subcommand -> the module that registers it. Modules load on first use, so that e.g.
#: `tracline run` does not pay for importing every other command's dependencies.
COMMANDS = {
    "diff": "tracline.cli._lineage",
    "doctor": "tracline.cli._doctor",
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

__all__ = ["app", "main"]


def __getattr__(name: str) -> object:
    if name == "app":  # the click group (imports click)
        from tracline.cli._common import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input gives one clear line and exit code 2, never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    code = None
    if args[:1] == ["run"]:
        from tracline.cli._runner import run_quick

        code = run_quick(args[1:])
    finished = code is not None
    if code is None:
        from tracline.cli import _common

        code = _main(argv)
        finished = _common.finished
    if argv is None and finished:
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
    import click

    from tracline.cli._common import app, err_console
    from tracline.errors import TraclineError

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
