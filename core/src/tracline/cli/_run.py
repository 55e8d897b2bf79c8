"""`tracline run [--job NAME] [--gpus N --gpu-model M] [--request ID] [--capture MODE] -- CMD`.

The command starts as early as it can: before it, only the configuration is read, the
program resolved and git's state taken (see :mod:`tracline.capture`).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from tracline.capture import CAPTURE_MODES
from tracline.cli._app import app
from tracline.errors import CommandNotFound, ValidationError

if TYPE_CHECKING:
    from tracline.capture import FileRecord, RunRecord

__all__ = ["run", "run_command"]


@app.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--job", help="Job name (default: the script or program).")
@click.option("--namespace", help="OpenLineage namespace (default: from configuration).")
@click.option("--gpus", type=click.IntRange(min=1), help="Declare GPUs used (no NVML needed).")
@click.option("--gpu-model", help="Declared GPU model, e.g. H100 (with --gpus).")
@click.option("--request", "request_id", help="Claim this approved training request.")
@click.option("--capture", "mode", type=click.Choice(CAPTURE_MODES),
              default="auto", show_default=True,
              help="How files are observed: auto picks the interposer where it is built.")
@click.option("--json", "as_json", is_flag=True,
              help="Once CMD ends, print one line of JSON: run id, job, exit code, files read "
              "and written with their digests.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(*, job: str | None, namespace: str | None, gpus: int | None, gpu_model: str | None,
        request_id: str | None, mode: str, as_json: bool, command: tuple[str, ...]) -> int:
    """Run CMD and record what it read and wrote, its recipe and its GPU cost.

    The command's output, exit status and signals are its own; lineage goes to the outbox.
    With --json, tracline adds one line of JSON to standard output after the command's own
    output (the last line: read that one); errors before CMD starts are JSON errors.
    """
    try:
        code = run_command(list(command), job=job, namespace=namespace, gpus=gpus,
                           gpu_model=gpu_model, request_id=request_id, mode=mode,
                           as_json=as_json)
    except CommandNotFound as e:
        if as_json:
            raise
        sys.stderr.write(f"tracline: error: {e}\n")
        raise click.exceptions.Exit(e.exit_code) from None
    return code


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
