"""The Airflow plugin (entry point ``airflow.plugins``): tracline's task listeners.

Loading it also registers the ``tracline`` OpenLineage transport type, so the provider can be
configured with ``[openlineage] transport = {"type": "tracline"}``.
"""

from __future__ import annotations

from tracline_airflow import compat
from tracline_airflow import transport as _transport  # noqa: F401 - registers "tracline"
from tracline_airflow.listener import after, before

__all__ = ["TraclinePlugin"]


class TraclinePlugin(compat.AirflowPlugin):
    """Run capture on the OpenLineage provider's runs, and the approval-gate trigger."""

    name = "tracline"
    listeners = [before, after]
