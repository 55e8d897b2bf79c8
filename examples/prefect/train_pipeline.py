"""Retrain a churn model with Prefect — only once a human has approved the GPU spend.

    download → featurize → to_arrays → [approval] → train → evaluate

Every task run is captured by tracline (the files it read and wrote with their BLAKE3
digests, its code, its cost) and reported as OpenLineage runs under the flow run. Before
``train``, the flow files a training request (1 × H100 for ``hours``, within a $50 budget,
bound to the digest of the exact training arrays) and is *suspended* until a reviewer decides:
no process, no worker slot while it waits. Approved, ``train`` runs under a time limit that
the approved GPU-hours pay for; rejected, the flow fails with the reviewer's reason.

See docs/prefect.md for the set-up and a walk-through. In short: a process worker that takes
resumed flow runs promptly, tracline's watcher next to it, and this file deployed:

    PREFECT_PLUGINS_ENABLED=true PREFECT_WORKER_QUERY_SECONDS=1 prefect worker start --pool gpu
    tracline-prefect watch --poll-interval 0.5
    python train_pipeline.py                 # deploys "train-pipeline/weekly" to the pool gpu
    prefect deployment run train-pipeline/weekly
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tracline_prefect import AT_RUN_TIME, ApprovalGate, flow, task

DATA = Path(os.environ.get("TRACLINE_EXAMPLE_DATA", "data")).resolve()

approval = ApprovalGate(
    "approve-training",
    request={
        "title": "Retrain {model} on this week's churn features",  # {…}: flow parameters
        "requester": "agent:churn-bot",
        "project": "churn",
        "datasets": AT_RUN_TIME,  # the arrays the flow builds, hashed when it files
        "gpu_model": "H100",
        "gpu_count": 1,
        "hours": "{hours}",
        "budget": 50,
        "rationale": "Weekly retrain: churn drifted three points since the last model.",
    },
)


@task
def download() -> str:
    """This week's customers (a fixed synthetic sample, so digests repeat)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    n = 2_000
    frame = pd.DataFrame({
        "tenure_months": rng.integers(1, 72, n),
        "monthly_spend": rng.normal(60, 15, n).round(2),
        "support_calls": rng.poisson(1.5, n),
    })
    frame["churned"] = ((frame.support_calls > 2) & (frame.tenure_months < 24)).astype(int)
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / "customers.csv"
    frame.to_csv(path, index=False)
    return str(path)


@task
def featurize(raw: str) -> str:
    """Features as Parquet (written by pyarrow's C++ code, not Python's open)."""
    import pandas as pd

    frame = pd.read_csv(raw)
    frame["spend_per_month_of_tenure"] = frame.monthly_spend / frame.tenure_months
    path = DATA / "features.parquet"
    frame.to_parquet(path, index=False)
    return str(path)


@task
def to_arrays(features: str) -> str:
    """The training matrix as a NumPy array file."""
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(features).to_pandas()
    path = DATA / "train.npy"
    np.save(path, table.to_numpy(dtype="float64"))
    return str(path)


TRAINER = Path(__file__).with_name("trainer.py")


@task
def train(arrays: str, epochs: int) -> str:
    """Fit the model in a training process (with its own data-loader worker, as torchrun or
    a DataLoader would start), and return the model file."""
    path = DATA / "model.npz"
    subprocess.run([sys.executable, str(TRAINER), arrays, str(path), str(epochs)], check=True)
    return str(path)


@task
def evaluate(model: str, arrays: str) -> str:
    """Accuracy on the training arrays, as a small JSON report."""
    import numpy as np

    weights = np.load(model)["weights"]
    data = np.load(arrays)
    x, y = data[:, :-1], data[:, -1]
    x = np.c_[np.ones(len(x)), (x - x.mean(0)) / x.std(0)]
    accuracy = float(((x @ weights > 0) == y).mean())
    path = DATA / "metrics.json"
    path.write_text(json.dumps({"accuracy": accuracy}))
    return str(path)


@flow(persist_result=True, log_prints=True)
def train_pipeline(model: str = "churn-v2", hours: str = "0.5", epochs: int = 3,
                   request_id: str = "") -> str:
    """Retrain the churn model behind an approval gate."""
    raw = download()
    features = featurize(raw)
    arrays = to_arrays(features)
    # Files the request (or attaches to ``request_id``), then suspends until it is decided.
    claim = approval.wait(request_id=request_id or None, datasets=[arrays])
    # ``train`` under the approval: stopped, its processes too, past the approved time.
    model_path = approval.capped(train, claim)(arrays, epochs)
    return evaluate(model_path, arrays)


#: The worker starts Prefect's engine directly: one new process per flow run (a resumed one
#: included) instead of a workspace-preparing process that then becomes the engine.
JOB_VARIABLES = {"command": "python -m prefect.engine"}

if __name__ == "__main__":
    train_pipeline.from_source(str(Path(__file__).parent), "train_pipeline.py:train_pipeline") \
        .deploy("weekly", work_pool_name=os.environ.get("PREFECT_WORK_POOL", "gpu"),
                job_variables=JOB_VARIABLES)
