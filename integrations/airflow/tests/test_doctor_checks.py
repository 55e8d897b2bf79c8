"""`tracline doctor` checks Airflow's side: the OpenLineage transport first (unset, the
provider is off and nothing is recorded — silently), emission in a thread rather than a fork
per event, a relative DAGs folder, a shared TRACLINE_CONFIG; and a task run with the
transport unset says so in its log."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from _airflow_harness import BIN, AirflowEnv

TRANSPORT = "airflow: OpenLineage transport"


def doctor(tmp_path: Path, **env: str) -> dict[str, dict[str, Any]]:
    """`tracline doctor --json` in a clean environment (plus ``env``), by check name."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "TRACLINE", "OPENLINEAGE"))}
    base["AIRFLOW_HOME"] = str(tmp_path / "airflow-home")
    done = subprocess.run([str(BIN / "tracline"), "doctor", "--json"], cwd=tmp_path,
                          env={**base, **env}, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return {c["name"]: c for c in json.loads(done.stdout)}


def test_unset_transport_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    """No transport anywhere: a warning saying nothing is recorded, and the export to fix it
    (brackets and braces intact); the doctor writes no airflow.cfg."""
    check = doctor(tmp_path)[TRANSPORT]
    assert check["status"] == "warn" and "provider is off" in check["detail"]
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT='{\"type\": \"tracline\"}'" in check["hint"]
    assert not (tmp_path / "airflow-home").exists()


def test_tracline_transport_is_ok_from_env_or_airflow_cfg(tmp_path: Path) -> None:
    """The tracline transport set by variable or in airflow.cfg is ok, naming where; another
    transport type is a warning (events bypass tracline); bad JSON is a failure."""
    check = doctor(tmp_path, AIRFLOW__OPENLINEAGE__TRANSPORT='{"type": "tracline"}')[TRANSPORT]
    assert check["status"] == "ok" and "AIRFLOW__OPENLINEAGE__TRANSPORT" in check["detail"]
    home = tmp_path / "airflow-home"
    home.mkdir()
    (home / "airflow.cfg").write_text('[openlineage]\ntransport = {"type": "console"}\n')
    check = doctor(tmp_path)[TRANSPORT]
    assert check["status"] == "warn" and "'console'" in check["detail"]
    assert str(home / "airflow.cfg") in check["detail"]
    check = doctor(tmp_path, AIRFLOW__OPENLINEAGE__TRANSPORT="tracline")[TRANSPORT]
    assert check["status"] == "fail" and "not a JSON object" in check["detail"]


def test_forked_emission_is_a_warning_with_the_fix(tmp_path: Path) -> None:
    """Without execute_in_thread the provider forks per event: a warning with the setting that
    avoids it; set by variable or in airflow.cfg it is ok, naming where."""
    emission = "airflow: OpenLineage emission"
    check = doctor(tmp_path)[emission]
    assert check["status"] == "warn" and "forks" in check["detail"]
    assert "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD=True" in check["hint"]
    check = doctor(tmp_path, AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD="True")[emission]
    assert check["status"] == "ok" and "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD" in check["detail"]
    home = tmp_path / "airflow-home"
    home.mkdir()
    (home / "airflow.cfg").write_text("[openlineage]\nexecute_in_thread = true\n")
    check = doctor(tmp_path)[emission]
    assert check["status"] == "ok" and str(home / "airflow.cfg") in check["detail"]


def test_relative_dags_folder_and_shared_config(tmp_path: Path) -> None:
    """A relative DAGs folder is a warning with its absolute form; TRACLINE_CONFIG set is ok."""
    (tmp_path / "tracline.toml").write_text("[tracline]\nnamespace = 'x'\n")
    checks = doctor(tmp_path, AIRFLOW__CORE__DAGS_FOLDER="examples/airflow/dags",
                    TRACLINE_CONFIG=str(tmp_path / "tracline.toml"))
    folder = checks["airflow: DAGs folder"]
    assert folder["status"] == "warn" and str(tmp_path / "examples/airflow/dags") in folder["hint"]
    assert checks["airflow: tracline configuration"]["status"] == "ok"
    assert doctor(tmp_path)["airflow: tracline configuration"]["status"] == "warn"


def test_a_task_without_transport_warns_in_its_log(airflow: AirflowEnv) -> None:
    """With the transport unset the DAG still runs, and the task's log says its lineage is
    not recorded and how to fix it."""
    env = {k: v for k, v in airflow.env.items() if k != "AIRFLOW__OPENLINEAGE__TRANSPORT"}
    code, output = airflow.test_dag("tutorial_objectstorage", env=env)
    assert code == 0, output[-4000:]
    assert "Airflow's OpenLineage provider is off" in output, output[-4000:]
    assert "AIRFLOW__OPENLINEAGE__TRANSPORT" in output
