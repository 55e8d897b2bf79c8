"""tracline's Prefect plugin (entry point ``prefect.plugins``): a worker started with
``PREFECT_PLUGINS_ENABLED=true`` gets capture's interposer preloaded into the flow-run
processes it starts, so in-process capture sees native file I/O (Parquet, HDF5, memmaps, C
programs) — the same as starting the worker with ``tracline-prefect environment``'s
variables."""

from __future__ import annotations

from typing import Any

from prefect.plugins import HookContext, SetupResult, register_hook

__all__ = ["setup_environment"]


@register_hook
def setup_environment(*, ctx: HookContext) -> Any:
    """The environment of Prefect's processes (and the flow runs they start)."""
    from tracline.capture import worker_environment

    env = worker_environment()
    if not env:
        return None
    return SetupResult(env=env, note="tracline: capture's interposer preloaded for flow runs")
