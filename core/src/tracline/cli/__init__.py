"""The `tracline` command line (click); each subcommand's module loads when it is used."""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from tracline.cli._doctor import Check
    from tracline.cli._receipt_view import render_receipt
    from tracline.cli._trace_view import render_trace
    from tracline.errors import TraclineError

    app: click.Group

#: Subcommand -> (the module that registers it, its one-line help). Modules load on first
#: use, so that e.g. `tracline run` does not pay for importing every other command's
#: dependencies, and `tracline --help` for none (a test holds the help equal to the commands').
COMMANDS = {
    "admin": ("tracline.cli._admin", "Issue and revoke the team server's API tokens."),
    "diff": ("tracline.cli._compare", "Compare two runs: recipe, inputs, outputs, cost."),
    "doctor": ("tracline.cli._doctor", "Check that this machine can capture, store and "
               "deliver lineage."),
    "init": ("tracline.cli._init", "Write a tracline.toml in this folder."),
    "leakage": ("tracline.cli._compare", "Check a model's upstream data against a test set."),
    "outbox": ("tracline.cli._outbox", "Inspect and deliver the local event outbox."),
    "receipt": ("tracline.cli._lineage", "One page on how an artifact was made."),
    "reproduce": ("tracline.cli._compare", "Show (or repeat) the steps that made an artifact."),
    "request": ("tracline.cli._request", "File, review, claim and audit training requests."),
    "run": ("tracline.cli._run", "Run a command and record what it read and wrote."),
    "serve": ("tracline.cli._serve", "Run the team server: requests, approvals, lineage."),
    "spend": ("tracline.cli._request", "GPU-hours and money, estimate against actual."),
    "trace": ("tracline.cli._lineage", "Show the upstream lineage of an artifact."),
}

__all__ = ["COMMANDS", "Check", "app", "console", "main", "render_receipt", "render_trace"]


def __getattr__(name: str) -> object:
    if name == "app":  # the click group (imports click)
        from tracline.cli._app import app

        return app
    if name == "Check":  # one line of `tracline doctor`, for integrations' own checks
        from tracline.cli._doctor import Check

        return Check
    if name == "render_receipt":
        from tracline.cli._receipt_view import render_receipt

        return render_receipt
    if name == "render_trace":
        from tracline.cli._trace_view import render_trace

        return render_trace
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input gives one clear line (or, with --json, a JSON error) and exit
    code 2, never a traceback."""
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:  # the version needs neither click nor any command
        from tracline._version import __version__

        sys.stdout.write(f"tracline, version {__version__}\n")
        return 0
    from tracline.errors import TraclineError

    as_json = wants_json(args)
    if args[:1] == ["run"]:
        from tracline.cli._runner import quick_parse, run_params

        params = quick_parse(args[1:])
        if params is not None:  # a plain `tracline run ...`: its command starts without click
            try:
                return run_params(params)
            except TraclineError as e:
                return _failed(e, as_json)
    import click

    from tracline.cli._app import app

    try:
        result = app(args=args, prog_name="tracline", standalone_mode=False)
    except TraclineError as e:
        return _failed(e, as_json)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        from tracline.cli._output import error_json

        if as_json:
            error_json(e, exit_code=e.exit_code)
        else:
            e.show()
        return e.exit_code
    except click.exceptions.Abort:
        sys.stderr.write("tracline: aborted\n")
        return 130
    return result if isinstance(result, int) else 0


def console() -> None:
    """The ``tracline`` executable (and ``python -m tracline``): :func:`main`, then exit.

    `tracline run` leaves without tearing the interpreter down: by then its records are
    committed, its capture folder is removed and the user's command has ended, so all that is
    left is freeing memory, on the clock of whoever waits for the command.
    """
    code = main()
    if sys.argv[1:2] == ["run"]:
        import os

        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):  # a closed pipe: Python's own exit reports it
            sys.exit(code)
        if "logging" in sys.modules:
            import logging

            logging.shutdown()
        os._exit(code)
    sys.exit(code)


def _failed(error: TraclineError, as_json: bool) -> int:
    """Report a :class:`TraclineError` (one line, or a JSON error); its exit code."""
    from tracline.cli._output import error_json, line

    code = int(getattr(error, "exit_code", 2))
    if as_json:
        error_json(error, exit_code=code)
    else:
        line(f"tracline: error: {error}", stderr=True)
    return code


def wants_json(args: list[str]) -> bool:
    """Whether the command line asks for JSON (``--json`` before any ``--``)."""
    end = args.index("--") if "--" in args else len(args)
    return "--json" in args[:end]


if __name__ == "__main__":  # pragma: no cover
    console()
