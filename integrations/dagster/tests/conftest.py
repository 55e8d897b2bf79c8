"""Fixtures of the Dagster integration's tests: a project folder with tracline.toml, a real
Dagster instance on a temporary DAGSTER_HOME, and the test Definitions."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _dagster_harness import Project, make_project


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """A project folder (the working directory), tracline.toml and a Dagster instance."""
    with make_project(tmp_path, monkeypatch) as made:
        yield made


def load_pipeline() -> Any:
    """The test Definitions module (tests/defs/pipeline.py), imported once."""
    name = "tracline_dagster_test_pipeline"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parent / "defs" / "pipeline.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def pipeline(project: Project) -> Any:
    """The test Definitions module (imported with the project as working directory)."""
    return load_pipeline()
