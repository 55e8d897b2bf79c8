"""A pipeline whose every step does its I/O in native code: pandas/pyarrow Parquet, NumPy
``save``/``load`` and ``memmap``, h5py, and a C program — the kind of pipeline Python's own
``open()`` hooks cannot see. The C program's source sits beside this file; the ``model``
step compiles it (``cc``) unless ``TRACLINE_TEST_READER`` names a built one."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import dagster as dg
import h5py
import numpy as np
import pandas as pd

from tracline_dagster import TraclineResource, traced

DATA = Path("data")
READER = Path(__file__).with_name("reader.c")


@dg.asset
@traced
def features() -> None:
    """CSV in, Parquet out (pandas over pyarrow)."""
    frame = pd.read_csv(DATA / "raw.csv")
    frame["ratio"] = frame["value"] / frame["id"]
    frame.to_parquet(DATA / "features.parquet", engine="pyarrow")


@dg.asset(deps=[features])
@traced
def arrays() -> None:
    """Parquet in (pyarrow), a NumPy array out (np.save)."""
    frame = pd.read_parquet(DATA / "features.parquet", engine="pyarrow")
    np.save(DATA / "arrays.npy", frame.to_numpy(dtype="float64"))


@dg.asset(deps=[arrays])
@traced
def scaled() -> None:
    """np.load in, a memory-mapped array out (np.memmap)."""
    values = np.load(DATA / "arrays.npy")
    mapped = np.memmap(DATA / "scaled.mmap", dtype="float64", mode="w+", shape=values.shape)
    mapped[:] = values / values.max()
    mapped.flush()
    del mapped


@dg.asset(deps=[scaled])
@traced
def table() -> None:
    """The memory map read back (np.memmap), an HDF5 file out (h5py)."""
    shape = np.load(DATA / "arrays.npy", mmap_mode="r").shape
    values = np.memmap(DATA / "scaled.mmap", dtype="float64", mode="r", shape=shape)
    with h5py.File(DATA / "table.h5", "w") as handle:
        handle.create_dataset("scaled", data=np.asarray(values))


@dg.asset(deps=[table])
@traced
def model() -> None:
    """A C program reads the HDF5 file's bytes and writes the model."""
    reader = os.environ.get("TRACLINE_TEST_READER") or str(DATA / "reader")
    if not Path(reader).exists():
        subprocess.run(["cc", "-O1", "-o", reader, str(READER)], check=True)
    subprocess.run([reader, str(DATA / "table.h5"), str(DATA / "model.bin")], check=True)


defs = dg.Definitions(assets=[features, arrays, scaled, table, model],
                      resources={"tracline": TraclineResource()})
