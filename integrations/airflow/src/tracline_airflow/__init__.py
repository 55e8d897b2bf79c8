"""tracline for Apache Airflow: approval gate, gate enforcement policy, and run capture that
adds content hashes and GPU cost to the runs Airflow's OpenLineage provider reports."""

from __future__ import annotations

from typing import Any

__all__ = ["__version__", "get_provider_info"]

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """Airflow's provider metadata (entry point ``apache_airflow_provider``)."""
    return {
        "package-name": "tracline-airflow",
        "name": "tracline",
        "description": "Observed lineage, content hashes, GPU cost and approval gates.",
        "versions": [__version__],
    }
