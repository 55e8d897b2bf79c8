"""Fixtures of the Dagster integration's tests: a project folder with tracline.toml, a real
Dagster instance on a temporary DAGSTER_HOME, and the test Definitions."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from _dagster_harness import Project, make_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project folder (the working directory), tracline.toml and a Dagster instance."""
    with make_project(tmp_path, monkeypatch) as made:
        yield made


@pytest.fixture(scope="session")
def pipeline() -> object:
    """The test Definitions module (tests/defs/pipeline.py)."""
    path = Path(__file__).parent / "defs" / "pipeline.py"
    spec = importlib.util.spec_from_file_location("tracline_dagster_test_pipeline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
