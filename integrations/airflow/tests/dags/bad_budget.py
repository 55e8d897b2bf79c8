"""A gate whose request has a negative budget: the DAG file fails to load, naming the field."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from tracline_airflow import tracline_gated


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def bad_budget() -> None:
    @tracline_gated(request={
        "title": "Train", "requester": "agent:trainer", "project": "tests",
        "datasets": ["{{ ti.xcom_pull(task_ids='prepare') }}"], "gpu_model": "H100",
        "gpu_count": 1, "hours": 1, "budget": -5, "rationale": "A test.",
        "reviewers": ["user:chris"]})
    @task
    def train() -> None:
        return None

    train()


bad_budget()
