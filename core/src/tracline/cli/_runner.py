"""What `tracline run` does, without click: its options, the quick parse of a well-formed
command line, and running the command captured.

`tracline run` starts the user's command as early as it can, and click (with what it imports)
is a large part of a Python command line's start. So :func:`tracline.cli.main` hands a
well-formed `tracline run ...` to :func:`quick_parse` first and runs the command without
importing click; anything else — help, an unknown option, a bad value, a missing command —
goes to the click command in :mod:`tracline.cli._run`, which gives the usual messages. A test
holds :data:`OPTIONS` equal to the click command's options and both parses equal.
"""

from __future__ import annotations

import sys

from tracline.errors import CommandNotFound, ValidationError

TYPE_CHECKING = False  # no typing at run time: this is on the path to the command's start
if TYPE_CHECKING:
    from typing import Any

    from tracline.capture import FileRecord, RunRecord

__all__ = ["OPTIONS", "quick_parse", "run_command", "run_params", "summary", "warn"]

#: `tracline run`'s options: the option -> (its parameter, whether it takes a value).
OPTIONS: dict[str, tuple[str, bool]] = {
    "--capture": ("mode", True),
    "--gpu-model": ("gpu_model", True),
    "--gpus": ("gpus", True),
    "--job": ("job", True),
    "--json": ("as_json", False),
    "--namespace": ("namespace", True),
    "--request": ("request_id", True),
}


def quick_parse(args: list[str]) -> dict[str, Any] | None:
    """The parameters click gives the `run` command for ``args`` (what follows ``run``), or
    None where this is not a plain, valid command line and click should parse it."""
    from tracline.capture import CAPTURE_MODES

    params: dict[str, Any] = {"job": None, "namespace": None, "gpus": None, "gpu_model": None,
                              "request_id": None, "mode": "auto", "as_json": False}
    seen: set[str] = set()
    i = 0
    while i < len(args) and args[i].startswith("-"):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        option, has_value, value = arg.partition("=")
        if option not in OPTIONS or option in seen:
            return None
        seen.add(option)
        name, takes_value = OPTIONS[option]
        if not takes_value:
            if has_value:
                return None
            params[name] = True
            i += 1
            continue
        if not has_value:
            if i + 1 >= len(args) or args[i + 1].startswith("-"):
                return None
            value = args[i + 1]
            i += 1
        i += 1
        if name == "gpus":
            if not (value.isascii() and value.isdigit()) or int(value) < 1:
                return None
            params[name] = int(value)
        elif name == "mode" and value not in CAPTURE_MODES:
            return None
        else:
            params[name] = value
    command = args[i:]
    if not command:
        return None
    params["command"] = tuple(command)
    return params


def run_params(params: dict[str, Any]) -> int:
    """Run `tracline run` with its parsed parameters; the exit code. A command that does not
    exist is one line on stderr (exit 127 or 126, as in a shell); with --json, and for every
    other error, the error is raised for :func:`tracline.cli.main` to report."""
    as_json = bool(params["as_json"])
    try:
        return run_command(list(params["command"]), job=params["job"],
                           namespace=params["namespace"], gpus=params["gpus"],
                           gpu_model=params["gpu_model"], request_id=params["request_id"],
                           mode=params["mode"], as_json=as_json)
    except CommandNotFound as e:
        if as_json:
            raise
        sys.stderr.write(f"tracline: error: {e}\n")
        return e.exit_code


def warn(message: str) -> None:
    """One warning line on stderr."""
    sys.stderr.write(f"tracline: warning: {message}\n")


def run_command(command: list[str], *, job: str | None = None, namespace: str | None = None,
                gpus: int | None = None, gpu_model: str | None = None,
                request_id: str | None = None, mode: str = "auto", as_json: bool = False) -> int:
    """Run ``command`` captured (claiming ``request_id`` first, if given); its exit code.
    ``as_json``: then print the run's summary as one line of JSON (:func:`summary`).

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
    from tracline.capture import capture_command, new_run_id

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
    if as_json:
        import json

        sys.stdout.flush()
        sys.stdout.write("\n" + json.dumps(summary(record), separators=(",", ":")) + "\n")
    return record.exit_code if record.exit_code is not None else 1


def summary(record: RunRecord) -> dict[str, Any]:
    """What ``run --json`` prints: the run, how it ended, its files by digest."""
    def files(found: list[FileRecord]) -> list[dict[str, Any]]:
        return [{"path": f.path, "digest": f.digest, "size": f.size} for f in found]

    return {"run_id": record.run_id, "job": record.job, "namespace": record.namespace,
            "exit_code": record.exit_code, "signal": record.signal,
            "wall_seconds": record.wall_seconds, "inputs": files(record.inputs),
            "outputs": files(record.outputs), "warnings": list(record.warnings)}


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
