"""The `tracline` command line (click); each subcommand's module loads when it is used."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    app: click.Group

#: Subcommand -> the module that registers it. Modules load on first use, so that e.g.
#: `tracline run` does not pay for importing every other command's dependencies.
COMMANDS = {
    "admin": "tracline.cli._admin",
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
    import click

    from tracline.cli import _common  # its err_console (rich) is made on first use
    from tracline.errors import TraclineError

    try:
        result = _common.app(args=argv, prog_name="tracline", standalone_mode=False)
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
