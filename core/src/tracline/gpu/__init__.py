"""GPU prices (and, next to them, sampling and cost): what a GPU-hour costs and why."""

from __future__ import annotations

from tracline.gpu.prices import BUILTIN_PRICES, Price, known_models, normalize_model, price_for

__all__ = ["BUILTIN_PRICES", "Price", "known_models", "normalize_model", "price_for"]
