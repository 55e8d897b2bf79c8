"""tracline's OpenLineage facets, schema-first: JSON Schemas ship in ``schemas/``."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from tracline.facets._facets import (
    DATASET_FACETS,
    RUN_FACETS,
    SCHEMA_BASE_URL,
    CodeVersion,
    Estimate,
    Host,
    Interpreter,
    Money,
    PackageRef,
    PackageSet,
    TaskCallable,
    TraclineApprovalRunFacet,
    TraclineContentHashDatasetFacet,
    TraclineExecutionRunFacet,
    TraclineGpuCostRunFacet,
    default_producer,
)

__all__ = [
    "DATASET_FACETS",
    "RUN_FACETS",
    "SCHEMA_BASE_URL",
    "CodeVersion",
    "Estimate",
    "Host",
    "Interpreter",
    "Money",
    "PackageRef",
    "PackageSet",
    "TaskCallable",
    "TraclineApprovalRunFacet",
    "TraclineContentHashDatasetFacet",
    "TraclineExecutionRunFacet",
    "TraclineGpuCostRunFacet",
    "default_producer",
    "schema_path",
]


def schema_path(schema_url: str) -> Path:
    """Map a tracline facet ``_schemaURL`` to the JSON Schema file shipped in the package."""
    if not schema_url.startswith(SCHEMA_BASE_URL.rsplit("/", 2)[0]):
        raise ValueError(f"{schema_url} is not a tracline facet schema URL")
    relative = schema_url.split("#", 1)[0][len(SCHEMA_BASE_URL.rsplit("/", 2)[0]) + 1 :]
    path = Path(str(resources.files("tracline.facets") / "schemas" / relative))
    if not path.is_file():
        raise FileNotFoundError(f"no schema file for {schema_url} (looked for {path})")
    return path
