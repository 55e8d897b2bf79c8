"""A run's GPU cost: measured GPU use (or declared GPUs × wall time) × the price table.

The result carries how its figures were obtained (``measured`` from NVML, ``declared`` by
the user with ``--gpus N --gpu-model M``), and the price's source and date, so a reader can
redo the arithmetic: ``cost = gpuSeconds / 3600 × pricePerGpuHour``. It is a fact of the
run's record, named as the ``tracline_gpuCost`` facet's fields (its JSON Schema's names);
``tracline.events.gpu_cost_facet`` makes the facet of it.
"""

from __future__ import annotations

import logging
from typing import Any

from tracline.config import Config
from tracline.errors import TraclineError, ValidationError
from tracline.gpu.sampler import GpuUsage

__all__ = ["gpu_cost"]

log = logging.getLogger("tracline.gpu")


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
) -> dict[str, Any] | None:
    """The cost of a run (``tracline_gpuCost``'s fields, absent ones left out): measured when
    NVML saw GPUs in use, else declared, else None."""
    if usage is not None and (usage.count > 0 or not declared_gpus):
        result: dict[str, Any] = {
            "measurement": "measured", "gpuModel": usage.model, "gpuCount": usage.count,
            "gpuSeconds": usage.gpu_seconds, "gpuUuids": usage.uuids or None,
            "wallSeconds": usage.wall_seconds, "meanUtilization": usage.mean_utilization,
            "energyJoules": usage.energy_joules, "peakMemoryBytes": usage.peak_memory_bytes,
        }
    elif declared_gpus:
        if not declared_model:
            raise ValidationError("gpu_model", "--gpus was given without --gpu-model",
                                  hint="name the model, e.g. --gpus 8 --gpu-model H100")
        result = {
            "measurement": "declared", "gpuModel": declared_model, "gpuCount": declared_gpus,
            "gpuSeconds": round(declared_gpus * wall_seconds, 3),
            "wallSeconds": round(wall_seconds, 3),
        }
    else:
        return None
    price = _price(result["gpuModel"], config) if result["gpuCount"] else None
    if price is not None:
        per_hour = float(price.per_gpu_hour)
        result.update(pricePerGpuHour=per_hour, currency=price.currency,
                      priceSource=price.source, priceAsOf=price.as_of.isoformat(),
                      cost=round(result["gpuSeconds"] / 3600.0 * per_hour, 6))
    elif result["gpuCount"] == 0:
        result["cost"] = 0.0
    return {key: value for key, value in result.items() if value is not None}
