"""`tracline run [--job NAME] [--gpus N --gpu-model M] [--request ID] -- CMD ...`.

The everyday forms are parsed without click (:mod:`tracline.cli._runner`); this command is
the interface's definition, its help and its messages, and runs every other form.
"""

from __future__ import annotations

import sys

import click

from tracline.cli import _common
from tracline.cli._common import app
from tracline.cli._runner import CAPTURE_MODES, run_command
from tracline.errors import CommandNotFound


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
              help="How files are observed: auto picks audit hooks for Python, else strace.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(*, job: str | None, namespace: str | None, gpus: int | None, gpu_model: str | None,
        request_id: str | None, mode: str, command: tuple[str, ...]) -> int:
    """Run CMD and record what it read and wrote, its recipe and its GPU cost.

    The command's output, exit status and signals are its own; lineage goes to the outbox.
    """
    try:
        code = run_command(list(command), job=job, namespace=namespace, gpus=gpus,
                           gpu_model=gpu_model, request_id=request_id, mode=mode)
    except CommandNotFound as e:
        sys.stderr.write(f"tracline: error: {e}\n")
        raise click.exceptions.Exit(e.exit_code) from None
    _common.finished = True
    return code
