"""What a captured step tells Dagster: the content digest as the asset's data version, and
materialization metadata with the digest, the files, the cost and the approval.

The data version of an asset is the content digest of what its step wrote: the digest of
the file (or folder) when it wrote one; when it wrote several, the digest of their list
(each file's name relative to the step's working directory and its digest, one per line,
sorted); when the asset's definition names its file in metadata (``path`` or
``dagster/uri``), that file's digest. A step that wrote no file keeps Dagster's own version.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import dagster as dg

from tracline.capture import FileRecord, RunRecord
from tracline.hashing import digest_bytes

__all__ = ["asset_digest", "asset_metadata"]

#: Asset-definition metadata keys that name the asset's file.
PATH_KEYS = ("path", "dagster/uri")


def _named(files: Sequence[FileRecord], named: str, cwd: str) -> list[FileRecord]:
    target = os.path.realpath(os.path.join(cwd, named.removeprefix("file://")))
    return [f for f in files if os.path.realpath(f.path) == target]


def asset_digest(record: RunRecord, definition_metadata: Mapping[str, Any] | None = None
                 ) -> str | None:
    """The content digest that versions an asset this step materialized (None: no file)."""
    files = [f for f in record.outputs if f.digest]
    for key in PATH_KEYS:
        value = (definition_metadata or {}).get(key)
        text = getattr(value, "value", value)
        if isinstance(text, str) and text:
            named = _named(files, text, record.cwd)
            if named:
                files = named
                break
    if not files:
        return None
    if len(files) == 1:
        return files[0].digest
    algorithm = str(files[0].digest).split(":", 1)[0]
    lines = sorted(f"{os.path.relpath(f.path, record.cwd)}\t{f.digest}" for f in files)
    return digest_bytes("\n".join(lines).encode(), algorithm)


def _files_table(files: Sequence[FileRecord], cwd: str) -> str:
    rows = ["| file | digest | bytes |", "| --- | --- | --- |"]
    for f in files:
        name = os.path.relpath(f.path, cwd) if f.path.startswith(cwd + os.sep) else f.path
        rows.append(f"| `{name}` | `{f.digest or f.error or 'not hashed'}` | {f.size or 0} |")
    return "\n".join(rows)


def _cost(facet: Any) -> str:
    seconds = float(facet.gpuSeconds)
    used = f"{seconds:.1f} GPU-seconds" if seconds < 360 else f"{seconds / 3600:.2f} GPU-hours"
    text = f"{facet.measurement}: {facet.gpuCount} × {facet.gpuModel}, {used}"
    if facet.cost is not None:
        text += f", {facet.cost:.4f} {facet.currency or ''}".rstrip()
    return text


def _approval(facet: Any) -> str:
    budget = f"{facet.budget.amount:g} {facet.budget.currency}"
    return (f"{facet.requestId} approved by {', '.join(facet.approvedBy)} at {facet.decidedAt}; "
            f"budget {budget}; request digest {facet.requestDigest}")


def asset_metadata(*, digest: str | None, record: RunRecord, run_facets: Mapping[str, Any],
                   lineage_run_id: str) -> dict[str, dg.MetadataValue]:
    """The materialization metadata tracline adds (shown on the asset's page in Dagster)."""
    metadata: dict[str, dg.MetadataValue] = {}
    if digest is not None:
        metadata["tracline/digest"] = dg.MetadataValue.text(digest)
    if record.outputs:
        metadata["tracline/outputs"] = dg.MetadataValue.md(_files_table(record.outputs,
                                                                         record.cwd))
    if record.inputs:
        metadata["tracline/inputs"] = dg.MetadataValue.md(_files_table(record.inputs,
                                                                        record.cwd))
    cost = run_facets.get("tracline_gpuCost")
    metadata["tracline/gpu_cost"] = dg.MetadataValue.text(
        _cost(cost) if cost is not None else "none: no GPU measured or declared")
    approval = run_facets.get("tracline_approval")
    metadata["tracline/approval"] = dg.MetadataValue.text(
        _approval(approval) if approval is not None else "none (no training request paid for "
        "this run)")
    metadata["tracline/run_id"] = dg.MetadataValue.text(lineage_run_id)
    return metadata
