"""Cross-package tests: fixtures come from tracline's pytest plugin (root pyproject)."""
