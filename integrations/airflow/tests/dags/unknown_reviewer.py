"""A gate whose request names a reviewer policy does not know: the DAG file fails to load."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from tracline_airflow import gate

with DAG("unknown_reviewer", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    train = PythonOperator(task_id="train", python_callable=lambda: None)
    gate(train, request={
        "title": "Train", "requester": "agent:trainer", "project": "tests",
        "datasets": ["s3://bucket/data@sha256:" + "ab" * 32], "gpu_model": "H100",
        "gpu_count": 1, "hours": 1, "budget": 50, "rationale": "A test.",
        "reviewers": ["user:mallory"]})
