"""``tracline-prefect``: the watcher that resumes gated flow runs, and the worker set-up."""

from __future__ import annotations

import logging
import sys

import click

from tracline.errors import TraclineError

__all__ = ["main"]


@click.group()
def main() -> None:
    """tracline for Prefect."""


@main.command()
@click.option("--poll-interval", type=click.FloatRange(min=0.1), default=1.0, show_default=True,
              help="Seconds between looks at the suspended flow runs and their requests.")
@click.option("--once", is_flag=True, help="Look once and exit (for cron-like set-ups).")
def watch(poll_interval: float, once: bool) -> None:
    """Resume suspended flow runs whose training request tracline has decided."""
    from tracline_prefect._watcher import watch as run
    from tracline_prefect._watcher import watch_once

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpcore", "prefect"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        if once:
            for resumed in watch_once():
                click.echo(f"{resumed.flow_run_id} {resumed.verdict}: {resumed.reason}")
            return
        run(poll_interval=poll_interval)
    except TraclineError as e:
        click.echo(f"tracline-prefect: error: {e.message}", err=True)
        if e.hint:
            click.echo(f"hint: {e.hint}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        pass


@main.command()
def environment() -> None:
    """Print the variables to start a Prefect worker with, so that tasks' native file I/O
    (Parquet, HDF5, NumPy memmaps, C programs) is captured: ``export $(tracline-prefect
    environment)``."""
    from tracline.capture import worker_environment

    for key, value in worker_environment().items():
        click.echo(f"{key}={value}")
