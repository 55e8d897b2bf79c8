"""The integration's options: Airflow's ``[tracline]`` section, else tracline.toml ``[airflow]``.

::

    [tracline]                      # airflow.cfg, or AIRFLOW__TRACLINE__GATED_POOLS=... etc.
    enforce = True                  # the cluster policy refuses ungated expensive tasks
    gated_pools = gpu, a100         # tasks in these pools are expensive
    gated_tags = gpu                # every task after the start of a DAG with this tag is
    gated_operators = KubernetesPodOperator, mypkg.TrainOperator
    gpu_resources = True            # tasks asking for GPUs (executor_config, resources)
    poll_interval = 1.0             # seconds between the gate trigger's looks at the store

tracline.toml takes the same keys under ``[airflow]`` (lists as TOML arrays). An option set in
Airflow's configuration wins over tracline.toml.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import attrs

from tracline.config import Config, get_config
from tracline.errors import ConfigError, TraclineError
from tracline_airflow import compat

__all__ = ["AirflowSettings", "load_settings"]

SECTION = "tracline"
_KEYS = ("enforce", "gated_pools", "gated_tags", "gated_operators", "gpu_resources",
         "poll_interval")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


@attrs.frozen
class AirflowSettings:
    """What makes a task expensive, and how the gate waits."""

    enforce: bool = True
    gated_pools: frozenset[str] = frozenset()
    gated_tags: frozenset[str] = frozenset()
    gated_operators: frozenset[str] = frozenset()
    gpu_resources: bool = True
    poll_interval: float = 1.0

    def describe(self) -> str:
        """The rules in force, for messages."""
        rules = []
        if self.gated_pools:
            rules.append(f"pools {', '.join(sorted(self.gated_pools))}")
        if self.gated_tags:
            rules.append(f"DAG tags {', '.join(sorted(self.gated_tags))}")
        if self.gated_operators:
            rules.append(f"operators {', '.join(sorted(self.gated_operators))}")
        if self.gpu_resources:
            rules.append("GPU resources")
        return "; ".join(rules) or "none"


def _names(value: Any, key: str) -> frozenset[str]:
    items: Iterable[Any]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list | tuple):
        items = value
    else:
        raise ConfigError(f"[{SECTION}] {key} = {value!r} is not a list of names",
                          hint=f'write e.g. {key} = "gpu, a100"')
    return frozenset(str(item).strip() for item in items if str(item).strip())


def _bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE | _FALSE:
        return text in _TRUE
    raise ConfigError(f"[{SECTION}] {key} = {value!r} is not a boolean", hint="write True or False")


def _seconds(value: Any, key: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = -1.0
    if not 0.05 <= number <= 3600:
        raise ConfigError(f"[{SECTION}] {key} = {value!r} is not a number of seconds from 0.05 "
                          "to 3600", hint=f"write e.g. {key} = 1.0")
    return number


def load_settings(config: Config | None = None) -> AirflowSettings:
    """Read the options; raise :class:`ConfigError` naming a bad one."""
    raw: dict[str, Any] = {}
    try:
        table = (config or get_config()).section("airflow")
    except TraclineError:
        table = {}
    unknown = set(table) - set(_KEYS)
    if unknown:
        raise ConfigError(f"unknown key {sorted(unknown)[0]!r} in [airflow] of tracline.toml",
                          hint=f"known keys: {', '.join(_KEYS)}")
    raw.update(table)
    for key in _KEYS:
        value = compat.airflow_config(SECTION, key)
        if value is not None:
            raw[key] = value
    return AirflowSettings(
        enforce=_bool(raw.get("enforce", True), "enforce"),
        gated_pools=_names(raw.get("gated_pools", ()), "gated_pools"),
        gated_tags=_names(raw.get("gated_tags", ()), "gated_tags"),
        gated_operators=_names(raw.get("gated_operators", ()), "gated_operators"),
        gpu_resources=_bool(raw.get("gpu_resources", True), "gpu_resources"),
        poll_interval=_seconds(raw.get("poll_interval", 1.0), "poll_interval"),
    )
