"""A classic operator in the gated pool ``gpu``, with no approval gate: refused."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

with DAG("ungated_pool", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    PythonOperator(task_id="finetune", python_callable=lambda: None, pool="gpu")
