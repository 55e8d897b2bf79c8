"""Fixtures for the training-request tests: a settable clock, a service per store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from request_helpers import Clock, make_config

from tracline.approvals import RequestService


@pytest.fixture
def clock() -> Clock:
    """A hand-moved clock."""
    return Clock()


@pytest.fixture
def service(store_url: str, clock: Clock) -> Iterator[RequestService]:
    """A request service on SQLite and on PostgreSQL, with the standard policy."""
    svc = RequestService(store_url, make_config(), clock=clock)
    yield svc
    svc.close()


@pytest.fixture
def sqlite_service(tmp_path: Any, clock: Clock) -> Iterator[RequestService]:
    """A request service on SQLite only (for the fast, store-independent tests)."""
    svc = RequestService(f"sqlite:///{tmp_path / 'requests.db'}", make_config(), clock=clock)
    yield svc
    svc.close()
