"""The gate wired by hand (``approve >> finetune``): accepted, and the policy gives the
gated task its approval check as ``gate()`` would."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

from tracline_airflow import TraclineApprovalGate

with DAG("gated_by_hand", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    prepare = PythonOperator(task_id="prepare", python_callable=lambda: None)
    approve = TraclineApprovalGate(
        task_id="approve",
        request={"title": "Fine-tune", "requester": "agent:trainer", "project": "tests",
                 "datasets": ["s3://bucket/data@sha256:" + "ab" * 32], "gpu_model": "A100-80GB",
                 "gpu_count": 8, "hours": 2, "budget": 100, "rationale": "A test.",
                 "reviewers": ["user:dana"]},
    )
    finetune = PythonOperator(task_id="finetune", python_callable=lambda: None, pool="gpu")
    prepare >> approve >> finetune
