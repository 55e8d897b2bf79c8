"""tracline for Prefect: approval gating and run capture (see the repository's docs)."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
