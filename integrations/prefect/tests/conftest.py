"""Fixtures of the Prefect integration's tests: one real Prefect (server, process worker)
and tracline's watcher per session, started by the tests themselves."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from _prefect_harness import PrefectEnv, free_port, make_env

_STATE: dict[str, str] = {}


def pytest_configure(config: pytest.Config) -> None:
    """Point this process's Prefect at the session's own server before Prefect is imported
    (otherwise the first flow run would start a temporary server of its own)."""
    home = tempfile.mkdtemp(prefix="tracline-prefect-home-")
    port = free_port()
    _STATE.update(home=home, port=str(port))
    os.environ.update({
        "PREFECT_HOME": home,
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
    })


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the session's Prefect home."""
    if "home" in _STATE:
        shutil.rmtree(_STATE["home"], ignore_errors=True)


@pytest.fixture(scope="session")
def prefect_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrefectEnv]:
    """A running Prefect server, process work pool + worker, and tracline's watcher."""
    from tracline.config import reset_config

    root = tmp_path_factory.mktemp("prefect")
    envs = make_env(root, int(_STATE["port"]), Path(_STATE["home"]))
    env = next(envs)
    saved = os.environ.get("TRACLINE_CONFIG")
    os.environ["TRACLINE_CONFIG"] = str(env.config)  # the flows' modules load here too
    reset_config()
    try:
        yield env
    finally:
        if saved is None:
            os.environ.pop("TRACLINE_CONFIG", None)
        else:
            os.environ["TRACLINE_CONFIG"] = saved
        reset_config()
        next(envs, None)
