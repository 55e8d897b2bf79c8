"""GPU sampling without a GPU, and GPU cost: measured, declared, priced."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tracline.config import load_config
from tracline.errors import ValidationError
from tracline.gpu.cost import gpu_cost
from tracline.gpu.sampler import GpuSampler, GpuUsage, driver_present, process_tree

from .conftest import Run
from .helpers import PYTHON, last, write

no_gpu = pytest.mark.skipif(driver_present(), reason="this machine has an NVIDIA driver")


@no_gpu
def test_sampler_without_driver_returns_none() -> None:
    """No driver: the sampler starts no thread and reports None."""
    sampler = GpuSampler(os.getpid()).start()
    assert sampler.stop() is None
    assert sampler.error == "no NVIDIA driver"


@no_gpu
def test_sampler_when_nvml_cannot_load_returns_none() -> None:
    """Forced past the driver check, a failing nvmlInit is caught and reported, never raised."""
    sampler = GpuSampler(os.getpid(), check_driver=False, interval=0.01).start()
    assert sampler.stop() is None
    assert sampler.error and "NVML" in sampler.error


def test_process_tree_finds_descendants() -> None:
    """The process tree of this process contains a child it started."""
    import subprocess

    child = subprocess.Popen(["sleep", "5"])
    try:
        assert {os.getpid(), child.pid} <= process_tree(os.getpid())
    finally:
        child.kill()
        child.wait()


def test_declared_cost_is_gpus_times_wall_time(tracline_home: Path) -> None:
    """Declared: GPU-seconds = GPUs × wall time, priced from the table with source and date."""
    cost = gpu_cost(None, wall_seconds=1800.0, declared_gpus=8, declared_model="H100",
                    config=load_config())
    assert cost is not None
    assert (cost["measurement"], cost["gpuCount"], cost["gpuSeconds"]) == ("declared", 8, 14400.0)
    assert cost["pricePerGpuHour"] == 12.29
    assert cost["cost"] == pytest.approx(4 * 12.29)
    assert cost["priceSource"] and cost["priceAsOf"] == "2024-06-01"


def test_measured_use_wins_over_declared(tracline_home: Path) -> None:
    """When NVML saw GPUs in use, the measured figures are recorded, priced by their model."""
    usage = GpuUsage(model="NVIDIA H100 80GB HBM3", count=2, uuids=["GPU-a", "GPU-b"],
                     wall_seconds=360.0, gpu_seconds=720.0, mean_utilization=88.5,
                     energy_joules=1.5e5, peak_memory_bytes=40 << 30, samples=720)
    cost = gpu_cost(usage, wall_seconds=360.0, declared_gpus=8, declared_model="A100",
                    config=load_config())
    assert cost is not None
    assert cost["measurement"] == "measured"
    assert cost["gpuUuids"] == ["GPU-a", "GPU-b"]
    assert cost["cost"] == pytest.approx(0.2 * 12.29)


def test_no_gpu_and_nothing_declared_gives_no_cost() -> None:
    """Without a GPU and without a declaration there is no GPU cost facet."""
    assert gpu_cost(None, wall_seconds=5.0) is None


def test_run_with_declared_gpus(tracline_run: Run, tracline_home: Path) -> None:
    """`tracline run --gpus 2 --gpu-model H100` records a declared, priced gpuCost facet."""
    write(tracline_home.parent / "noop.py", "pass\n")
    done = tracline_run("--gpus", "2", "--gpu-model", "H100", "--", PYTHON, "noop.py")
    assert done.returncode == 0, done.stderr
    facet = last(tracline_home)["run"]["facets"]["tracline_gpuCost"]
    assert facet["measurement"] == "declared"
    assert facet["gpuCount"] == 2
    assert facet["gpuSeconds"] == pytest.approx(2 * facet["wallSeconds"])
    assert facet["currency"] == "USD" and facet["cost"] >= 0


def test_unknown_gpu_model_is_refused_before_running(tracline_run: Run,
                                                    tracline_home: Path) -> None:
    """A declared model the price table does not know stops `tracline run` before the command."""
    write(tracline_home.parent / "touch.py", "open('ran', 'w').close()\n")
    done = tracline_run("--gpus", "1", "--gpu-model", "H1OO", "--", PYTHON, "touch.py")
    assert done.returncode == 2
    assert "unknown GPU model 'H1OO'" in done.stderr
    assert not (tracline_home.parent / "ran").exists()


def test_gpus_without_model_is_refused(tracline_home: Path) -> None:
    """Declaring GPUs without a model names the missing option."""
    with pytest.raises(ValidationError, match="gpu_model"):
        gpu_cost(None, wall_seconds=1.0, declared_gpus=1)
