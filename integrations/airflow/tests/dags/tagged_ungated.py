"""A DAG tagged ``gpu`` (a gated tag in the tests' configuration) with no gate: refused."""

from __future__ import annotations

import pendulum
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG

with DAG("tagged_ungated", schedule=None, tags=["gpu"],
         start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    load = PythonOperator(task_id="load", python_callable=lambda: None)
    embed = PythonOperator(task_id="embed", python_callable=lambda: None)
    load >> embed
