"""Fixtures for the lineage tests: a registry on SQLite or PostgreSQL, fed through the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracline.config import reset_config

from .pipeline import Pipeline


@pytest.fixture
def pipeline(store_url: str, tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """A project directory whose registry (SQLite or PostgreSQL) is fed through the outbox."""
    monkeypatch.setenv("TRACLINE_REGISTRY_URL", store_url)
    reset_config()
    return Pipeline(tracline_home.parent)
