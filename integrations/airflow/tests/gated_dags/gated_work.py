"""A gate in front of one small piece of work, for the gated-run lifecycle's conformance suite.

``gated_work`` runs its work once (``fail`` makes it fail for good; ``overrun`` makes it start
a child process and run far past any approved time); ``gated_work_retried`` fails its first
try and succeeds on the retry. The work appends a line to ``marker`` each time it runs, so a
test can count the tries from outside.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time

import pendulum
from airflow.sdk import DAG, get_current_context, task

from tracline.testing import OVERRUN_CHILD
from tracline_airflow import gate

PARAMS = {"request_id": "", "marker": "", "fail": False, "overrun": False}


def _work() -> None:
    context = get_current_context()
    params, ti = context["params"], context["ti"]
    with open(params["marker"], "a") as handle:
        handle.write(f"try {ti.try_number}\n")
    if params["overrun"]:
        subprocess.Popen([sys.executable, "-c", OVERRUN_CHILD, params["marker"]])
        time.sleep(3600)
    if params["fail"] or (ti.task.retries and ti.try_number == 1):
        raise RuntimeError("the work failed")


for dag_id, retries in (("gated_work", 0), ("gated_work_retried", 1)):
    with DAG(dag_id, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
             catchup=False, params=PARAMS):
        work = task(_work, task_id="work", retries=retries,
                    retry_delay=dt.timedelta(seconds=0))()
        gate(work, request_id="{{ params.request_id }}")
