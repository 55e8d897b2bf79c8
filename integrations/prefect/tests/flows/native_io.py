"""featurize → arrays → store → pack: each task reads and writes through native code.

pandas/pyarrow write and read Parquet, NumPy saves, loads and memory-maps arrays, h5py writes
HDF5, and a C program (its path given as ``pack_program``, compiled by the test) turns the
weights into the model. None of these files is opened by Python's ``open``: capture sees them
only through its interposer, preloaded into the flow-run process by tracline's Prefect plugin.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from tracline_prefect import flow, task


@task
def featurize(data: str) -> None:
    import pandas as pd

    raw = pd.read_csv(Path(data) / "raw.csv")
    raw.assign(n=raw["text"].str.len()).to_parquet(Path(data) / "features.parquet")


@task
def arrays(data: str) -> None:
    import numpy as np
    import pyarrow.parquet as pq

    folder = Path(data)
    table = pq.read_table(folder / "features.parquet")
    np.save(folder / "matrix.npy", table.column("n").to_numpy().astype("float64"))
    kept = np.memmap(folder / "cache.dat", dtype="float64", mode="w+", shape=(3,))
    kept[:] = np.load(folder / "matrix.npy")
    kept.flush()


@task
def store(data: str) -> None:
    import h5py
    import numpy as np

    folder = Path(data)
    values = np.memmap(folder / "cache.dat", dtype="float64", mode="r", shape=(3,))
    with h5py.File(folder / "weights.h5", "w") as f:
        f["w"] = np.asarray(values) * 2


@task
def pack(data: str, pack_program: str) -> None:
    folder = Path(data)
    subprocess.run([pack_program, str(folder / "weights.h5"), str(folder / "model.bin")],
                   check=True)


@flow
def native_io(data: str, pack_program: str) -> None:
    """Each step through a different library's native I/O."""
    featurize(data)
    arrays(data)
    store(data)
    pack(data, pack_program)
