"""Everything that depends on Dagster's version or reaches past its top-level API, in one place.

tracline supports Dagster 1.13 (pinned in ``pyproject.toml``).
"""

from __future__ import annotations

from typing import Any

import dagster as dg
from dagster._core.storage.tags import MAX_RUNTIME_SECONDS_TAG

__all__ = [
    "DAGSTER_VERSION",
    "MAX_RUNTIME_TAG",
    "add_asset_metadata",
    "dagster_folders",
    "job_name",
    "op_context",
    "step_key",
]

DAGSTER_VERSION: str = dg.__version__
#: The run tag Dagster's run monitoring reads: the run is stopped after this many seconds.
MAX_RUNTIME_TAG: str = MAX_RUNTIME_SECONDS_TAG


def step_key(context: dg.OpExecutionContext) -> str:
    """The step's key in the run's execution plan (``features``, ``graph.op``)."""
    return str(context.get_step_execution_context().step.key)


def op_context(context: Any) -> dg.OpExecutionContext:
    """The op context behind an asset's or an op's context argument."""
    if isinstance(context, dg.AssetExecutionContext):
        return context.op_execution_context
    return context  # type: ignore[no-any-return]


def add_asset_metadata(context: dg.OpExecutionContext, key: dg.AssetKey,
                       metadata: dict[str, dg.MetadataValue]) -> None:
    """Add ``metadata`` to the materialization of ``key`` that this step is making."""
    dg.AssetExecutionContext(context).add_asset_metadata(metadata, asset_key=key)


def job_name(name: str) -> str:
    """A Dagster job's name for lineage (Dagster's implicit asset job reads ``assets``)."""
    return "assets" if name.startswith("__") and "asset_job" in name.lower() else name


def dagster_folders(context: dg.OpExecutionContext) -> list[str]:
    """Folders that hold Dagster's own state (instance storage, logs): never a step's data."""
    import os

    folders = [os.environ.get("DAGSTER_HOME", "")]
    folders.append(str(getattr(context.instance, "root_directory", "") or ""))
    return sorted({os.path.realpath(f) for f in folders if f})
