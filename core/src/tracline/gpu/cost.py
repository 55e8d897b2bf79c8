"""A run's GPU cost: measured GPU use (or declared GPUs × wall time) × the price table.

The result carries how its figures were obtained (``measured`` from NVML, ``declared`` by
the user with ``--gpus N --gpu-model M``), and the price's source and date, so a reader can
redo the arithmetic: ``cost = gpuSeconds / 3600 × pricePerGpuHour``.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import attrs

from tracline.config import Config
from tracline.errors import TraclineError, ValidationError
from tracline.gpu.sampler import GpuUsage

__all__ = ["GpuCost", "gpu_cost"]

log = logging.getLogger("tracline.gpu")

Measurement = Literal["measured", "declared", "estimated"]


@attrs.define
class GpuCost:
    """The figures of a ``tracline_gpuCost`` facet, before it becomes one."""

    measurement: Measurement
    gpu_model: str
    gpu_count: int
    gpu_seconds: float
    wall_seconds: float | None = None
    gpu_uuids: list[str] | None = None
    mean_utilization: float | None = None
    energy_joules: float | None = None
    peak_memory_bytes: int | None = None
    price_per_gpu_hour: float | None = None
    currency: str | None = None
    price_source: str | None = None
    price_as_of: str | None = None
    cost: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """The facet's fields as JSON values (absent ones left out)."""
        fields = {
            "measurement": self.measurement, "gpuModel": self.gpu_model,
            "gpuCount": self.gpu_count, "gpuSeconds": self.gpu_seconds,
            "gpuUuids": self.gpu_uuids, "wallSeconds": self.wall_seconds,
            "meanUtilization": self.mean_utilization, "energyJoules": self.energy_joules,
            "peakMemoryBytes": self.peak_memory_bytes,
            "pricePerGpuHour": self.price_per_gpu_hour, "currency": self.currency,
            "priceSource": self.price_source, "priceAsOf": self.price_as_of, "cost": self.cost,
        }
        return {k: v for k, v in fields.items() if v is not None}

    def facet(self) -> Any:
        """The ``TraclineGpuCostRunFacet`` (imports openlineage-python)."""
        from tracline.events import PRODUCER
        from tracline.facets import TraclineGpuCostRunFacet

        return TraclineGpuCostRunFacet(**self.as_dict(), producer=PRODUCER)


def _price(model: str, config: Config | None) -> Any:
    from tracline.gpu.prices import price_for

    try:
        return price_for(model, config)
    except ValidationError as e:
        log.warning("tracline: no price for GPU model %r: %s", model, e.hint or e)
        return None
    except TraclineError as e:
        log.warning("tracline: GPU prices unavailable: %s", e)
        return None


def gpu_cost(
    usage: GpuUsage | None,
    *,
    wall_seconds: float,
    declared_gpus: int | None = None,
    declared_model: str | None = None,
    config: Config | None = None,
) -> GpuCost | None:
    """The cost of a run: measured when NVML saw GPUs in use, else declared, else None."""
    if usage is not None and (usage.count > 0 or not declared_gpus):
        result = GpuCost(
            measurement="measured", gpu_model=usage.model, gpu_count=usage.count,
            gpu_seconds=usage.gpu_seconds, wall_seconds=usage.wall_seconds,
            gpu_uuids=usage.uuids or None, mean_utilization=usage.mean_utilization,
            energy_joules=usage.energy_joules, peak_memory_bytes=usage.peak_memory_bytes,
        )
    elif declared_gpus:
        if not declared_model:
            raise ValidationError("gpu_model", "--gpus was given without --gpu-model",
                                  hint="name the model, e.g. --gpus 8 --gpu-model H100")
        result = GpuCost(
            measurement="declared", gpu_model=declared_model, gpu_count=declared_gpus,
            gpu_seconds=round(declared_gpus * wall_seconds, 3),
            wall_seconds=round(wall_seconds, 3),
        )
    else:
        return None
    price = _price(result.gpu_model, config) if result.gpu_count else None
    if price is not None:
        per_hour = float(price.per_gpu_hour)
        result.price_per_gpu_hour = per_hour
        result.currency = price.currency
        result.price_source = price.source
        result.price_as_of = price.as_of.isoformat()
        result.cost = round(result.gpu_seconds / 3600.0 * per_hour, 6)
    elif result.gpu_count == 0:
        result.cost = 0.0
    return result
