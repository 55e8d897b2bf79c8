"""`tracline run [--job NAME] [--gpus N --gpu-model M] [--request ID] [--capture MODE] -- CMD`.

The command starts as early as it can: before it, only the configuration is read, the
program resolved and git's state taken (see :mod:`tracline.capture`). A well-formed command
line does not even come here: :mod:`tracline.cli._runner` parses it without click.
"""

from __future__ import annotations

import click

from tracline.capture import CAPTURE_MODES
from tracline.cli._app import app
from tracline.cli._runner import run_params

__all__ = ["run"]


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
    return run_params({"job": job, "namespace": namespace, "gpus": gpus, "gpu_model": gpu_model,
                       "request_id": request_id, "mode": mode, "as_json": as_json,
                       "command": command})
