"""The Prefect integration installs into its own environment beside Prefect 3.9."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import tracline
import tracline_prefect


def test_prefect_pinned_to_3_9() -> None:
    """The environment runs Prefect 3.9.x, and no Airflow (their pins conflict)."""
    import importlib.util

    assert version("prefect").startswith("3.9.")
    assert importlib.util.find_spec("airflow") is None
    assert tracline_prefect.__version__


def test_core_comes_from_the_working_tree() -> None:
    """tracline (core) is installed from this repository, not from a registry."""
    repo = Path(__file__).resolve().parents[3]
    assert Path(tracline.__file__).resolve().is_relative_to(repo / "core" / "src")
