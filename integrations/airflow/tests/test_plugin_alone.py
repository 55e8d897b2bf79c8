"""A realistic DAG written without tracline (adapted from Airflow's tutorial_objectstorage)
gains content-hashed lineage from the installed plugin alone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _airflow_harness import EXAMPLE_DAGS, AirflowEnv

from tracline.hashing import digest_path

DAG_ID = "tutorial_objectstorage"
SAMPLE = EXAMPLE_DAGS.parent / "data" / "air_quality_delhi_2024-03-01.json"


@pytest.fixture(scope="module")
def events(airflow: AirflowEnv) -> list[dict[str, Any]]:
    """The tutorial run's task events, as tracline serve received them."""
    code, output = airflow.test_dag(DAG_ID)
    assert code == 0, output[-4000:]
    airflow.run("tracline", "outbox", "flush", "--timeout", "600")
    return [e for e in airflow.server.events() if e["job"]["name"].startswith(f"{DAG_ID}.")]


def _complete(events: list[dict[str, Any]], task_id: str) -> dict[str, Any]:
    (event,) = [e for e in events
                if e["job"]["name"] == f"{DAG_ID}.{task_id}" and e["eventType"] == "COMPLETE"]
    return event


def _hashed(event: dict[str, Any], side: str) -> dict[str, dict[str, Any]]:
    return {Path(d["name"]).name: d["facets"] for d in event[side]
            if "tracline_contentHash" in (d.get("facets") or {})}


def test_the_dag_does_not_know_tracline() -> None:
    """The DAG file imports nothing of tracline."""
    source = (EXAMPLE_DAGS / f"{DAG_ID}.py").read_text()
    assert "import tracline" not in source and "from tracline" not in source


def test_files_read_and_written_are_content_hashed(events: list[dict[str, Any]]) -> None:
    """The task that read the API sample and wrote a CSV reports both, with their digests."""
    fetch = _complete(events, "get_air_quality_data")
    inputs, outputs = _hashed(fetch, "inputs"), _hashed(fetch, "outputs")
    assert inputs[SAMPLE.name]["version"]["datasetVersion"] == digest_path(SAMPLE).digest
    (csv_name,) = outputs
    assert csv_name.startswith("air_quality_") and csv_name.endswith(".csv")
    assert {"airflow", "tracline_execution"} <= set(fetch["run"]["facets"])


def test_the_tasks_connect_through_the_csv_digest(events: list[dict[str, Any]]) -> None:
    """analyze read exactly the version get_air_quality_data wrote."""
    written = _hashed(_complete(events, "get_air_quality_data"), "outputs")
    read = _hashed(_complete(events, "analyze"), "inputs")
    (name,) = written
    assert read[name]["tracline_contentHash"]["digest"] == written[name]["version"][
        "datasetVersion"]
