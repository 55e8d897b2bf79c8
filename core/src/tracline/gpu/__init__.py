"""GPU prices (and, next to them, sampling and cost): what a GPU-hour costs and why."""

from __future__ import annotations

from tracline.gpu.cost import GpuCost, gpu_cost
from tracline.gpu.prices import BUILTIN_PRICES, Price, known_models, normalize_model, price_for
from tracline.gpu.sampler import GpuSampler, GpuUsage

__all__ = [
    "BUILTIN_PRICES",
    "GpuCost",
    "GpuSampler",
    "GpuUsage",
    "Price",
    "gpu_cost",
    "known_models",
    "normalize_model",
    "price_for",
]
