"""A flow that needs a worker slot: it runs only if no other flow run holds the worker's."""

from __future__ import annotations

from prefect import flow


@flow
def tiny() -> str:
    """Nothing but a flow run."""
    return "ran"
