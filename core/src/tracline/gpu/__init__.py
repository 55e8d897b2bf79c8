"""GPU prices (and, next to them, sampling and cost): what a GPU-hour costs and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tracline.gpu.cost import gpu_cost
    from tracline.gpu.prices import (
        BUILTIN_PRICES,
        Price,
        known_models,
        normalize_model,
        price_for,
    )
    from tracline.gpu.sampler import GpuSampler, GpuUsage

#: Name -> submodule, loaded on first use: `tracline run` samples GPUs without paying for the
#: price table (and decimal) unless a price is needed.
_EXPORTS = {
    "BUILTIN_PRICES": "prices", "GpuSampler": "sampler",
    "GpuUsage": "sampler", "Price": "prices", "gpu_cost": "cost", "known_models": "prices",
    "normalize_model": "prices", "price_for": "prices",
}


def __getattr__(name: str) -> object:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(f"tracline.gpu.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'tracline.gpu' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = [
    "BUILTIN_PRICES",
    "GpuSampler",
    "GpuUsage",
    "Price",
    "gpu_cost",
    "known_models",
    "normalize_model",
    "price_for",
]
