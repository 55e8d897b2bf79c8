"""tracline for Dagster: content digests as data versions, run capture, and an approval
sensor that launches expensive runs only for approved training requests.

    import dagster as dg
    from tracline_dagster import TraclineResource, traced

    @dg.asset
    @traced
    def features() -> None: ...

    defs = dg.Definitions(assets=[features], resources={"tracline": TraclineResource()})

See the repository's ``docs/dagster.md``.
"""

from __future__ import annotations

from tracline_dagster._lineage_sensor import lineage_sensor
from tracline_dagster._resource import TraclineResource
from tracline_dagster._sensor import approval_sensor
from tracline_dagster._step import traced

__all__ = ["TraclineResource", "__version__", "approval_sensor", "lineage_sensor", "traced"]

__version__ = "0.1.0"
