"""`tracline run [--job NAME] [--gpus N --gpu-model M] [--request ID] -- CMD ...`."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import click

from tracline.cli import _common
from tracline.cli._common import app
from tracline.errors import CommandNotFound, TraclineError, ValidationError


def _warn(message: str) -> None:
    sys.stderr.write(f"tracline: warning: {message}\n")


def _fail(error: CommandNotFound) -> NoReturn:
    """One error line and the shell's exit status (127 not found, 126 not executable)."""
    sys.stderr.write(f"tracline: error: {error}\n")
    raise click.exceptions.Exit(error.exit_code)


def _exec_plain(command: tuple[str, ...]) -> None:
    """TRACLINE_DISABLED: become the command (no capture, no events)."""
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], command)
    except FileNotFoundError:
        _fail(CommandNotFound(f"command not found: {command[0]}",
                              hint="check the spelling, or give the program's path"))
    except PermissionError:
        _fail(CommandNotFound(f"permission denied: {command[0]}", exit_code=126))


def _claim(request_id: str, run_id: str, config: Any) -> tuple[Any, dict[str, Any], float]:
    """Claim an approved training request for this run: (service, approval facet, time cap)."""
    from openlineage.client.serde import Serde

    from tracline.events import PRODUCER
    from tracline.requests import approved_time_limit, open_requests

    service = open_requests(config)
    request = service.claim(request_id, run_id)
    facet = service.approval_facet(request_id)
    facet._producer = PRODUCER
    return service, Serde.to_dict(facet), approved_time_limit(request).total_seconds()


def _settle(service: Any, request_id: str, record: Any) -> None:
    facet = record.gpu.facet() if record.gpu is not None else None
    try:
        if record.succeeded and facet is not None:
            service.complete(request_id, facet, run_id=record.run_id)
        elif record.succeeded:
            _warn(f"no GPU use was measured or declared; {request_id} stays claimed "
                  "(pass --gpus/--gpu-model to declare it)")
        else:
            service.fail(request_id, record.error or "failed", gpu_cost=facet,
                         run_id=record.run_id)
    except TraclineError as e:
        _warn(f"could not record the run against {request_id}: {e}")


@app.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option("--job", help="Job name (default: the script or program).")
@click.option("--namespace", help="OpenLineage namespace (default: from configuration).")
@click.option("--gpus", type=click.IntRange(min=1), help="Declare GPUs used (no NVML needed).")
@click.option("--gpu-model", help="Declared GPU model, e.g. H100 (with --gpus).")
@click.option("--request", "request_id", help="Claim this approved training request.")
@click.option("--capture", "mode", type=click.Choice(["auto", "audit", "strace"]),
              default="auto", show_default=True,
              help="How files are observed: auto picks audit hooks for Python, else strace.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(*, job: str | None, namespace: str | None, gpus: int | None, gpu_model: str | None,
        request_id: str | None, mode: str, command: tuple[str, ...]) -> int:
    """Run CMD and record what it read and wrote, its recipe and its GPU cost.

    The command's output, exit status and signals are its own; lineage goes to the outbox.
    """
    from tracline.config import get_config

    config = get_config()
    if config.disabled:
        _exec_plain(command)
    if gpus is not None and not gpu_model:
        raise ValidationError("--gpu-model", "--gpus needs the GPU model",
                              hint="e.g. --gpus 8 --gpu-model H100")
    if gpu_model is not None:
        from tracline.gpu.prices import price_for

        if gpus is None:
            raise ValidationError("--gpus", "--gpu-model needs the GPU count", hint="e.g. --gpus 1")
        price_for(gpu_model, config)
    from tracline.capture._record import new_run_id
    from tracline.capture._run import capture_command

    run_id = new_run_id()
    service, start_facets, time_limit = None, None, None
    if request_id:
        service, approval, time_limit = _claim(request_id, run_id, config)
        start_facets = {"tracline_approval": approval}
    try:
        record = capture_command(
            command, job, namespace=namespace, gpus=gpus, gpu_model=gpu_model, mode=mode,
            config=config, start_facets=start_facets, time_limit=time_limit, run_id=run_id,
        )
    except CommandNotFound as e:
        if service is not None and request_id:
            service.fail(request_id, str(e), run_id=run_id)
        _fail(e)
    for message in record.warnings:
        _warn(message)
    if service is not None and request_id:
        _settle(service, request_id, record)
    _common.finished = True
    return record.exit_code if record.exit_code is not None else 1
