"""`tracline run`'s work, and a parser for its common forms that needs no click.

``tracline run`` is on the path of every command it wraps, and click costs ~20 ms to import
on a small machine: a run whose options are among ``--job``, ``--namespace`` and
``--capture`` (the everyday forms) is parsed here and its command starts before click is
ever imported. Anything else — help, ``--request``, ``--gpus``, a malformed option — goes to
the click command in :mod:`tracline.cli._run`, which owns the interface and its messages;
both call :func:`run_command`. A test holds the two parsers equal.
"""

from __future__ import annotations

import sys

from tracline.errors import CommandNotFound, TraclineError, ValidationError

__all__ = ["CAPTURE_MODES", "parse_quick", "run_command", "run_quick"]

CAPTURE_MODES = ("auto", "preload", "audit", "strace")
#: The options parsed without click: option -> run_command's keyword.
_QUICK = {"--job": "job", "--namespace": "namespace", "--capture": "mode"}


def parse_quick(args: list[str]) -> tuple[dict[str, str], list[str]] | None:
    """``(options, command)`` for the arguments after ``run``, or None when click must parse
    them (help, other options, a repeated option, a missing or invalid value, no command)."""
    options: dict[str, str] = {}
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--" or not word.startswith("-"):
            command = args[i + 1:] if word == "--" else args[i:]
            if not command or options.get("mode", "auto") not in CAPTURE_MODES:
                return None
            return options, command
        name, equals, value = word.partition("=")
        key = _QUICK.get(name)
        if key is None or key in options:
            return None
        if not equals:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            i += 1
            value = args[i]
        options[key] = value
        i += 1
    return None


def warn(message: str) -> None:
    """One warning line on stderr."""
    sys.stderr.write(f"tracline: warning: {message}\n")


def run_command(command: list[str], *, job: str | None = None, namespace: str | None = None,
                gpus: int | None = None, gpu_model: str | None = None,
                request_id: str | None = None, mode: str = "auto") -> int:
    """Run ``command`` captured (claiming ``request_id`` first, if given); its exit code.

    Raises :class:`TraclineError` for bad input before the command starts, and
    :class:`CommandNotFound` for a program that does not exist or may not be run.
    """
    from tracline.config import get_config

    config = get_config()
    if config.disabled and not request_id:  # a gated run still claims and settles
        _exec_plain(command)
    if gpus is not None and not gpu_model:
        raise ValidationError("--gpu-model", "--gpus needs the GPU model",
                              hint="e.g. --gpus 8 --gpu-model H100")
    if gpu_model is not None:
        from tracline.gpu.prices import price_for

        if gpus is None:
            raise ValidationError("--gpus", "--gpu-model needs the GPU count", hint="e.g. --gpus 1")
        price_for(gpu_model, config)
    from tracline.capture._command import capture_command
    from tracline.capture._names import new_run_id

    run_id = new_run_id()
    gated, start_facets, time_limit = None, None, None
    if request_id:
        from tracline.cli._gated import GatedCommand

        gated = GatedCommand.claim_for(request_id, run_id, command, config, job)
        start_facets, time_limit = gated.start_facets(), gated.time_limit
        if gpus is None:  # the approved GPUs, unless the user declared others
            gpus, gpu_model = gated.claim.gpu_count, gated.claim.gpu_model
    try:
        record = capture_command(
            command, job, namespace=namespace, gpus=gpus, gpu_model=gpu_model, mode=mode,
            config=config, start_facets=start_facets, time_limit=time_limit, run_id=run_id,
            subreaper=True,
        )
    except CommandNotFound as e:
        if gated is not None:
            gated.fail(str(e))
        raise
    for message in record.warnings:
        warn(message)
    if gated is not None:
        gated.settle(record)
    return record.exit_code if record.exit_code is not None else 1


def run_quick(args: list[str]) -> int | None:
    """Run ``tracline run ARGS`` without click; None when :func:`parse_quick` declines.
    Errors are one line on stderr, with the exit codes the click command gives."""
    parsed = parse_quick(args)
    if parsed is None:
        return None
    options, command = parsed
    try:
        return run_command(command, job=options.get("job"), namespace=options.get("namespace"),
                           mode=options.get("mode", "auto"))
    except CommandNotFound as e:
        sys.stderr.write(f"tracline: error: {e}\n")
        return e.exit_code
    except TraclineError as e:
        sys.stderr.write(f"tracline: error: {e}\n")
        return 2


def _exec_plain(command: list[str]) -> None:
    """TRACLINE_DISABLED: become the command (no capture, no events)."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        raise CommandNotFound(f"command not found: {command[0]}",
                              hint="check the spelling, or give the program's path") from None
    except PermissionError:
        raise CommandNotFound(f"permission denied: {command[0]}", exit_code=126) from None
