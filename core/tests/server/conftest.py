"""Fixtures for the team-server tests: a real `tracline serve` on SQLite and on PostgreSQL.

One server per test module and store (starting one takes seconds); each test snapshots the
tables it must leave untouched, so tests sharing a server stay independent.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from team import TeamServer, make_server

from tracline.db import make_engine
from tracline.testing.plugin import require_service


def fresh_schema(url: str, name: str) -> str:
    """A new, empty PostgreSQL schema, via the URL's search_path option."""
    schema = "s_" + re.sub(r"[^a-z0-9_]", "_", name.lower())[-50:]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def team(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """A running team server (on SQLite, then on PostgreSQL) with the team's tokens."""
    root = tmp_path_factory.mktemp("team")
    if request.param == "sqlite":
        url = f"sqlite:///{root / 'store.db'}"
    else:
        url = fresh_schema(require_service("TRACLINE_TEST_PG_URL", "PostgreSQL"),
                           f"{request.module.__name__}_{root.name}")
    server = make_server(root / "server", url)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def sqlite_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """A running team server on SQLite only (for tests that do not depend on the store)."""
    root = tmp_path_factory.mktemp("team")
    server = make_server(root / "server", f"sqlite:///{root / 'store.db'}")
    server.start()
    yield server
    server.stop()
