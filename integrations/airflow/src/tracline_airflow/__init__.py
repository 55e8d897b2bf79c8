"""tracline for Apache Airflow: approval gate, gate enforcement policy, and run capture that
adds content hashes and GPU cost to the runs Airflow's OpenLineage provider reports.

    from tracline_airflow import gate, tracline_gated, TraclineApprovalGate

Installing the package registers the provider, the plugin (listeners) and the cluster policy
through entry points; see ``docs/airflow.md`` for the few options to set.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracline_airflow.approval_gate import TraclineApprovalGate, gate, tracline_gated
    from tracline_airflow.triggers import TraclineRequestTrigger

__all__ = [
    "TraclineApprovalGate",
    "TraclineRequestTrigger",
    "__version__",
    "gate",
    "get_provider_info",
    "tracline_gated",
]

__version__ = "0.1.0"

# Airflow imports the provider metadata while it starts up: the operator API is imported
# on first use, never by ``get_provider_info``.
_LAZY = {
    "TraclineApprovalGate": "tracline_airflow.approval_gate",
    "gate": "tracline_airflow.approval_gate",
    "tracline_gated": "tracline_airflow.approval_gate",
    "TraclineRequestTrigger": "tracline_airflow.triggers",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tracline_airflow' has no attribute {name!r}")


def get_provider_info() -> dict[str, Any]:
    """Airflow's provider metadata (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "tracline-airflow",
        "name": "tracline",
        "description": "Observed lineage, content hashes, GPU cost and approval gates.",
        "versions": [__version__],
    }
