"""``[openlineage] custom_run_facets`` hook: tracline's run facets for a task try.

For deployments that keep another transport than :class:`~tracline_airflow.transport.
TraclineTransport`: the provider calls :func:`run_facets` while it builds each task event and
puts what it returns on that event (approval, execution, GPU cost). Files and their content
hashes, and the outbox's durability, need the tracline transport::

    [openlineage]
    custom_run_facets = tracline_airflow.custom_run_facets.run_facets
"""

from __future__ import annotations

from typing import Any

from tracline_airflow import _runs, compat

__all__ = ["run_facets"]


def run_facets(task_instance: Any, ti_state: Any) -> dict[str, Any]:
    """The tracline run facets registered for this try (empty when it did not run here)."""
    try:
        run = _runs.get(compat.ol_task_run_id(task_instance))
    except Exception:  # noqa: BLE001 - the provider's event goes out without them
        return {}
    return dict(run.run_facets) if run is not None else {}
