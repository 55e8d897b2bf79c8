"""A DAG that asks for two GPUs and has no approval gate: the policy refuses it."""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task


@dag(schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False)
def ungated_gpu() -> None:
    @task
    def fetch() -> str:
        return "data"

    @task(executor_config={"pod_override": {"spec": {"containers": [
        {"name": "base", "resources": {"limits": {"nvidia.com/gpu": 2}}}]}}})
    def train_on_gpu(data: str) -> str:
        return data

    train_on_gpu(fetch())


ungated_gpu()
