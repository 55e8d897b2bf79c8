"""Fixtures of the Airflow integration's tests: one real Airflow environment per session."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest
from _airflow_harness import AirflowEnv, make_env

_HOME: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Give the test process its own Airflow home before anything imports Airflow."""
    _HOME.append(tempfile.mkdtemp(prefix="tracline-airflow-home-"))
    os.environ["AIRFLOW_HOME"] = _HOME[0]
    os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the test process's Airflow home."""
    for home in _HOME:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def airflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowEnv]:
    """A migrated Airflow (SQLite) running the example DAGs, with tracline serve behind it."""
    yield from make_env(tmp_path_factory.mktemp("airflow"))
