"""The Airflow side of `tracline doctor` (entry point ``tracline.doctor``), and the task-time
warning when Airflow's OpenLineage provider is off.

With no ``[openlineage] transport`` Airflow's OpenLineage provider switches itself off: tasks
report no lineage and tracline's plugin has nothing to complete — silently. The doctor reads
the settings the way Airflow does (``AIRFLOW__SECTION__KEY`` over airflow.cfg) without
importing Airflow, which would write an airflow.cfg; the doctor changes nothing.
"""

from __future__ import annotations

import configparser
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

from tracline.cli import Check

__all__ = ["THREAD_HINT", "TRANSPORT_HINT", "checks", "warn_if_lineage_is_off"]

log = logging.getLogger(__name__)

#: How to send the provider's events through tracline.
TRANSPORT_HINT = ("export AIRFLOW__OPENLINEAGE__TRANSPORT='{\"type\": \"tracline\"}' for every "
                  "Airflow process (or transport = {\"type\": \"tracline\"} in the openlineage "
                  "section of airflow.cfg)")
#: How to have the provider emit a task's events in a thread rather than a forked child.
THREAD_HINT = ("export AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD=True for the workers (or "
               "execute_in_thread = True in the openlineage section of airflow.cfg; "
               "apache-airflow-providers-openlineage 2.20 or later)")
_TRACLINE_TYPES = {"tracline", "tracline_airflow.transport.TraclineTransport"}
_warned: set[str] = set()


def _airflow_cfg() -> tuple[str, configparser.ConfigParser]:
    """airflow.cfg as Airflow finds it ($AIRFLOW_CONFIG, else $AIRFLOW_HOME/airflow.cfg)."""
    home = os.path.expanduser(os.environ.get("AIRFLOW_HOME") or "~/airflow")
    path = os.path.expanduser(os.environ.get("AIRFLOW_CONFIG")
                              or os.path.join(home, "airflow.cfg"))
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error:
        pass  # an unreadable file is Airflow's to report; its options count as unset
    return path, parser


def _option(section: str, key: str) -> tuple[str | None, str]:
    """(value, where it was set) of an Airflow option; (None, "") when unset."""
    variable = f"AIRFLOW__{section.upper()}__{key.upper()}"
    if os.environ.get(variable, "").strip():
        return os.environ[variable].strip(), variable
    path, parser = _airflow_cfg()
    value = parser.get(section, key, fallback="").strip()
    return (value, path) if value else (None, "")


def _transport() -> Check:
    name = "airflow: OpenLineage transport"
    disabled, where = _option("openlineage", "disabled")
    if (disabled or "").lower() == "true" or os.environ.get("OPENLINEAGE_DISABLED") == "true":
        return Check(name, "warn", f"OpenLineage is disabled ({where or 'OPENLINEAGE_DISABLED'}): "
                     "tasks report no lineage", "remove the setting to record lineage")
    value, where = _option("openlineage", "transport")
    if value is None:
        if _option("openlineage", "config_path")[0] or os.environ.get("OPENLINEAGE_URL"):
            return Check(name, "warn", "events go to openlineage.yml's or OPENLINEAGE_URL's "
                         "transport, not through tracline: no files, digests or outbox",
                         TRANSPORT_HINT)
        return Check(name, "warn", "not set: Airflow's OpenLineage provider is off, so tasks "
                     "report no lineage and tracline's plugin records nothing", TRANSPORT_HINT)
    try:
        kind = json.loads(value).get("type")
    except (ValueError, AttributeError):
        return Check(name, "fail", f"{value!r} ({where}) is not a JSON object",
                     TRANSPORT_HINT)
    if kind in _TRACLINE_TYPES:
        return Check(name, "ok", f"{kind} ({where})")
    return Check(name, "warn", f"type {kind!r} ({where}): the provider's events bypass "
                 "tracline (no files, digests or outbox)", TRANSPORT_HINT)


def _emission() -> Check:
    """The provider's default forks the task's process for each of its events; the tracline
    transport only commits the event to the local outbox, so a thread does the same work
    without copying the process (and, as the provider documents, without the fork's risk of
    leaving a task stuck in running when emission blocks)."""
    name = "airflow: OpenLineage emission"
    value, where = _option("openlineage", "execute_in_thread")
    if (value or "").lower() == "true":
        return Check(name, "ok", f"in a thread of the task's process ({where})")
    return Check(name, "warn", "each task event forks the task's process (the provider's "
                 "default): the fork, not tracline's capture, is most of a task's overhead",
                 THREAD_HINT)


def _dags_folder() -> Check | None:
    value, where = _option("core", "dags_folder")
    if value is None or os.path.isabs(os.path.expanduser(value)):
        return None
    return Check("airflow: DAGs folder", "warn", f"{value!r} ({where}) is relative: Airflow "
                 "finds the DAGs only when started in the folder above it",
                 f"set it to an absolute path, e.g. {os.path.abspath(value)}")


def _shared_config() -> Check:
    name = "airflow: tracline configuration"
    config = os.environ.get("TRACLINE_CONFIG")
    if config:
        return Check(name, "ok", f"TRACLINE_CONFIG={config}")
    return Check(name, "warn", "TRACLINE_CONFIG is not set: each Airflow process reads the "
                 "tracline.toml above the folder it started in",
                 "set TRACLINE_CONFIG for the scheduler, triggerer and workers alike, so that "
                 "gates and tasks share one request store and one set of sinks")


def checks() -> Iterator[Check]:
    """The Airflow settings tracline depends on, transport first."""
    yield _transport()
    yield _emission()
    if (folder := _dags_folder()) is not None:
        yield folder
    yield _shared_config()


def warn_if_lineage_is_off(task_instance: Any) -> None:
    """Once per process: say that this task's lineage is not recorded because Airflow's
    OpenLineage provider is off (no transport configured, or disabled)."""
    from tracline_airflow import compat

    if _warned or compat.openlineage_active():
        return
    _warned.add("lineage off")
    log.warning("tracline: Airflow's OpenLineage provider is off (no transport in the "
                "openlineage section of its configuration, or disabled), so the lineage of "
                "%s.%s and of every task in this process is not recorded; %s",
                task_instance.dag_id, task_instance.task_id, TRANSPORT_HINT)
