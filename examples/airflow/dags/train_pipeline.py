"""prepare → gated train → evaluate: a training pipeline whose GPU step waits for a human.

``prepare`` writes a small labelled data set; ``train`` fits a model on it (here a
nearest-centroid classifier, and a stand-in for the GPU work that takes ``train_seconds``),
but only once a reviewer approved the training request the gate files in front of it, and
only for the time that approval pays for; ``evaluate`` scores the model on held-out rows.

Trigger it, then approve the request it files::

    airflow dags trigger train_pipeline
    tracline request list --state pending
    tracline request approve REQ-ID --as user:chris

Every task's files (data set, model, metrics) reach lineage with their content hashes, on the
runs Airflow's OpenLineage provider reports; the approval and the run's GPU cost ride along.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any

import pendulum
from airflow.sdk import dag, get_current_context, task

from tracline_airflow import tracline_gated

#: Where the pipeline keeps its files (a folder per DAG run below it).
DATA = Path(os.environ.get("TRACLINE_EXAMPLE_DATA", "~/tracline-example")).expanduser()

#: The training request the gate files; templated fields are rendered when the gate runs.
REQUEST: dict[str, Any] = {
    "title": "Fit the example classifier ({{ dag_run.run_id }})",
    "requester": "{{ params.requester }}",
    "project": "examples/airflow",
    "datasets": ["{{ ti.xcom_pull(task_ids='prepare') }}"],
    "gpu_model": "H100",
    "gpu_count": 1,
    "hours": "{{ params.hours }}",
    "budget": "{{ params.budget }}",
    "rationale": "Nightly refit of the example classifier on freshly prepared data.",
    "reviewers": ["user:chris"],
}


def _run_folder() -> Path:
    run_id = get_current_context()["dag_run"].run_id
    folder = DATA / "".join(c if c.isalnum() or c in "-_." else "_" for c in run_id)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dag(
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    tags=["gpu", "tracline-example"],
    params={
        "requester": "agent:trainer",
        "hours": 0.01,
        "budget": 5,
        "train_seconds": 0.2,
        "request_id": "",
    },
)
def train_pipeline() -> None:
    """Prepare a data set, train on it once a human approved the spend, evaluate the model."""

    @task
    def prepare() -> str:
        """Write 400 labelled points in two clusters (deterministic) as a CSV data set."""
        rng = random.Random(7)
        path = _run_folder() / "points.csv"
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["x", "y", "label"])
            for i in range(400):
                label = i % 2
                writer.writerow([round(rng.gauss(2.0 * label, 0.8), 4),
                                 round(rng.gauss(-1.0 * label, 0.8), 4), label])
        return str(path)

    @tracline_gated(request=REQUEST, request_id="{{ params.request_id }}")
    @task(executor_config={"resources": {"gpus": 1}})
    def train(dataset: str) -> str:
        """Fit centroids on the first 300 rows; work for ``train_seconds`` like a GPU job."""
        params = get_current_context()["params"]
        with open(dataset, newline="") as handle:
            rows = list(csv.DictReader(handle))[:300]
        centroids: dict[str, list[float]] = {}
        for label in ("0", "1"):
            points = [(float(r["x"]), float(r["y"])) for r in rows if r["label"] == label]
            centroids[label] = [sum(p[0] for p in points) / len(points),
                                sum(p[1] for p in points) / len(points)]
        deadline = time.monotonic() + float(params["train_seconds"])
        while time.monotonic() < deadline:  # the stand-in for the expensive part
            time.sleep(0.05)
        model = Path(dataset).with_name("model.json")
        model.write_text(json.dumps({"kind": "nearest-centroid", "centroids": centroids},
                                    indent=2, sort_keys=True))
        return str(model)

    @task
    def evaluate(model: str, dataset: str) -> dict[str, float]:
        """Score the model on the 100 held-out rows and write the metrics next to it."""
        centroids = json.loads(Path(model).read_text())["centroids"]
        with open(dataset, newline="") as handle:
            rows = list(csv.DictReader(handle))[300:]
        correct = 0
        for r in rows:
            point = (float(r["x"]), float(r["y"]))
            guess = min(centroids, key=lambda k: math.dist(point, centroids[k]))
            correct += guess == r["label"]
        metrics = {"accuracy": correct / len(rows), "rows": float(len(rows))}
        Path(model).with_name("metrics.json").write_text(json.dumps(metrics, sort_keys=True))
        return metrics

    data = prepare()
    evaluate(train(data), data)


train_pipeline()
