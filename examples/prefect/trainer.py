"""The training process ``train_pipeline.train`` starts: fits a logistic model with plain
NumPy gradient descent, one epoch a second, while a data-loader worker process (started
here, as a real trainer's would be) prefetches batches and logs a heartbeat.

    python trainer.py ARRAYS MODEL EPOCHS
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def loader(log_path: str) -> None:
    """The data-loader worker: a heartbeat line every 0.2 s until it is stopped."""
    with open(log_path, "a", buffering=1) as log:
        log.write(f"loader pid {os.getpid()}\n")
        while True:
            log.write(f"{time.time()}\n")
            time.sleep(0.2)


def main(arrays: str, model: str, epochs: int) -> None:
    heartbeat = Path(model).with_name("loader.log")
    worker = subprocess.Popen([sys.executable, __file__, "--loader", str(heartbeat)])
    try:
        data = np.load(arrays)
        x, y = data[:, :-1], data[:, -1]
        x = np.c_[np.ones(len(x)), (x - x.mean(0)) / x.std(0)]
        weights = np.zeros(x.shape[1])
        for _ in range(epochs):
            weights -= 0.1 * x.T @ (1 / (1 + np.exp(-x @ weights)) - y) / len(y)
            time.sleep(1)
        np.savez(model, weights=weights)
    finally:
        worker.terminate()
        worker.wait()


if __name__ == "__main__":
    if sys.argv[1] == "--loader":
        loader(sys.argv[2])
    else:
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
