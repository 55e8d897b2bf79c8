"""Core's tests use tracline's pytest plugin (enabled in the root pyproject's addopts)."""

from tracline.testing.plugin import IN_CI, require_service

__all__ = ["IN_CI", "require_service"]
