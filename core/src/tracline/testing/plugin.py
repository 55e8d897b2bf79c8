"""tracline's pytest plugin: fixtures for tests of tracline and its integrations.

Enabled for the whole repository with ``-p tracline.testing.plugin`` (root pyproject).

Services (PostgreSQL, Marquez) come from ``scripts/devstack.sh`` through environment
variables (``TRACLINE_TEST_PG_URL``, ``TRACLINE_TEST_MARQUEZ_URL``). A test that needs one
skips, saying why, when it is absent — except under ``CI=true``, where it fails, because CI
must run everything.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracline.config import reset_config
from tracline.delivery import reset_emitter

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(variable: str, what: str) -> str:
    """Return the service URL in ``variable``, or skip (fail under CI) when it is not set."""
    value = os.environ.get(variable)
    if value:
        return value
    message = (
        f"{what} not available: set {variable}"
        " (scripts/devstack.sh start; eval $(scripts/devstack.sh env))"
    )
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def tracline_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated working directory with its own .tracline home and no inherited config;
    the long-lived deliverers its processes start exit two seconds after their last work
    (a session starts one per test)."""
    for key in list(os.environ):
        if key.startswith(("TRACLINE", "OPENLINEAGE")) and not key.startswith("TRACLINE_TEST_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRACLINE__OUTBOX__DELIVERER_IDLE", "2")
    monkeypatch.chdir(tmp_path)
    reset_config()
    reset_emitter()
    yield tmp_path / ".tracline"
    reset_config()
    reset_emitter()


@pytest.fixture
def pg_url() -> str:
    """A PostgreSQL URL for a scratch database (from scripts/devstack.sh)."""
    return require_service("TRACLINE_TEST_PG_URL", "PostgreSQL")


@pytest.fixture(scope="session")
def marquez_url() -> str:
    """The base URL of a running Marquez 0.50 (scripts/devstack.sh's, or any reachable one).

    Where Marquez could not be obtained at all (devstack reports why in
    ``TRACLINE_TEST_MARQUEZ_UNAVAILABLE``), the test is skipped with that reason, in CI too:
    the skip is reported, never counted as a pass.
    """
    reason = os.environ.get("TRACLINE_TEST_MARQUEZ_UNAVAILABLE")
    if reason and not os.environ.get("TRACLINE_TEST_MARQUEZ_URL"):
        pytest.skip(f"Marquez unavailable: {reason}")
    return require_service("TRACLINE_TEST_MARQUEZ_URL", "Marquez")


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    url = require_service("TRACLINE_TEST_PG_URL", "PostgreSQL")
    return _fresh_schema(url, tmp_path.name)


def _fresh_schema(url: str, name: str) -> str:
    """A new, empty PostgreSQL schema for one test, via the URL's search_path option."""
    import re

    import sqlalchemy as sa

    from tracline.db import make_engine

    schema = "t_" + re.sub(r"[^a-z0-9_]", "_", name.lower())[-50:]
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if any event emitted by any test breaks the OpenLineage schemas."""
    from tracline.testing import sweep_outboxes

    factory = getattr(session.config, "_tmp_path_factory", None)
    if factory is None or session.config.option.collectonly:
        return
    try:
        base = factory.getbasetemp()
    except (OSError, ValueError):
        return
    count, problems = sweep_outboxes(base)
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems and "spec folder was not found" in problems[0] and not IN_CI:
        if reporter:
            reporter.write_line(f"tracline: event contract sweep skipped: {problems[0]}")
        return
    if reporter:
        reporter.write_line(
            f"tracline: event contract sweep: {count} emitted events checked,"
            f" {len(problems)} problem(s)"
        )
        for line in problems[:50]:
            reporter.write_line(f"  {line}")
    if problems:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
