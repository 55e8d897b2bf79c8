"""The Airflow integration installs into its own environment beside Airflow 3.3."""

from __future__ import annotations

from importlib.metadata import entry_points, version
from pathlib import Path

import tracline
import tracline_airflow


def test_airflow_pinned_to_3_3() -> None:
    """The environment runs Airflow 3.3.x with its OpenLineage provider."""
    assert version("apache-airflow").startswith("3.3.")
    assert version("apache-airflow-providers-openlineage")


def test_core_comes_from_the_working_tree() -> None:
    """tracline (core) is installed from this repository, not from a registry."""
    repo = Path(__file__).resolve().parents[3]
    assert Path(tracline.__file__).resolve().is_relative_to(repo / "core" / "src")


def test_provider_entry_point_is_registered() -> None:
    """Airflow discovers the provider through the apache_airflow_provider entry point."""
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith(
        "tracline_airflow")]
    info = ep.load()()
    assert info["package-name"] == "tracline-airflow"
    assert info["versions"] == [tracline_airflow.__version__]
