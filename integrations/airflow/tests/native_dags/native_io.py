"""featurize → arrays → store → pack: each step reads and writes through native code.

pandas/pyarrow write and read Parquet, NumPy saves, loads and memory-maps arrays, h5py writes
HDF5, and a C program (``NATIVE_PACK``, compiled by the test) turns the weights into the
model. None of these files is opened by Python's ``open``: capture sees them only through its
interposer, preloaded into the worker.
"""

from __future__ import annotations

import os
from pathlib import Path

import pendulum
from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import dag, task

DATA = Path(os.environ.get("NATIVE_DATA", "data"))


@dag(schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
def native_io() -> None:
    @task
    def featurize() -> None:
        import pandas as pd

        raw = pd.read_csv(DATA / "raw.csv")
        raw.assign(n=raw["text"].str.len()).to_parquet(DATA / "features.parquet")

    @task
    def arrays() -> None:
        import numpy as np
        import pyarrow.parquet as pq

        table = pq.read_table(DATA / "features.parquet")
        np.save(DATA / "matrix.npy", table.column("n").to_numpy().astype("float64"))
        kept = np.memmap(DATA / "cache.dat", dtype="float64", mode="w+", shape=(3,))
        kept[:] = np.load(DATA / "matrix.npy")
        kept.flush()

    @task
    def store() -> None:
        import h5py
        import numpy as np

        data = np.memmap(DATA / "cache.dat", dtype="float64", mode="r", shape=(3,))
        with h5py.File(DATA / "weights.h5", "w") as f:
            f["w"] = np.asarray(data) * 2

    pack = BashOperator(
        task_id="pack",
        bash_command=f'"$NATIVE_PACK" {DATA / "weights.h5"} {DATA / "model.bin"}',
    )
    featurize() >> arrays() >> store() >> pack


native_io()
