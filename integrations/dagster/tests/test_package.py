"""The Dagster integration installs into its own environment beside Dagster 1.13."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import tracline
import tracline_dagster


def test_dagster_pinned_to_1_13() -> None:
    """The environment runs Dagster 1.13.x."""
    assert version("dagster").startswith("1.13.")
    assert tracline_dagster.__version__


def test_core_comes_from_the_working_tree() -> None:
    """tracline (core) is installed from this repository, not from a registry."""
    repo = Path(__file__).resolve().parents[3]
    assert Path(tracline.__file__).resolve().is_relative_to(repo / "core" / "src")
