"""Load a DAG folder into Airflow's DagBag (cluster policies applied) and print, as one JSON
line, each DAG's tasks and which of them carry a gate's approval check, and the import errors.

Run by the tests in a subprocess with the test session's Airflow environment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag


def main(folder: str) -> None:
    bag = DagBag(dag_folder=folder)
    dags = {
        dag_id: {
            "tasks": sorted(dag.task_dict),
            "capped": sorted(t.task_id for t in dag.tasks
                             if getattr(t, "_tracline_budget_cap", ())),
        }
        for dag_id, dag in bag.dags.items()
    }
    errors = {Path(path).name: message for path, message in bag.import_errors.items()}
    print(json.dumps({"dags": dags, "errors": errors}))


if __name__ == "__main__":
    main(sys.argv[1])
