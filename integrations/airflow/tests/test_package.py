"""The Airflow integration installs into its own environment beside Airflow 3.3."""

from __future__ import annotations

import json
from importlib.metadata import entry_points, version
from pathlib import Path

from _airflow_harness import AirflowEnv

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


def test_plugin_and_policy_entry_points_are_registered() -> None:
    """The listeners ship as an airflow.plugins entry point, the policy as airflow.policy."""
    plugins = {e.value for e in entry_points(group="airflow.plugins")}
    policies = {e.value for e in entry_points(group="airflow.policy")}
    assert "tracline_airflow.plugin:TraclinePlugin" in plugins
    assert "tracline_airflow.cluster_policy" in policies


def test_airflow_loads_the_plugin_and_provider(airflow: AirflowEnv) -> None:
    """Airflow itself lists tracline's plugin (with both listeners) and its provider."""
    plugins = json.loads(airflow.run("airflow", "plugins", "-o", "json", check=True).stdout)
    (tracline_plugin,) = [p for p in plugins if p["name"] == "tracline"]
    assert tracline_plugin["listeners"] == ["tracline_airflow.listener._Before",
                                            "tracline_airflow.listener._After"]
    providers = json.loads(airflow.run("airflow", "providers", "list", "-o", "json",
                                       check=True).stdout)
    assert {"package_name": "tracline-airflow", "version": tracline_airflow.__version__} in [
        {k: p[k] for k in ("package_name", "version")} for p in providers]
