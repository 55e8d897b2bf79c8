"""Measure a run's GPU use with NVML (``pynvml`` from nvidia-ml-py) in a sampling thread.

``GpuSampler(root_pid).start()`` before the run, ``.stop()`` after: the result is the GPUs the
run used (those its processes appeared on; else those that were busy), their model, UUIDs,
GPU-seconds, mean utilisation, energy (the driver's total-energy counter, or integrated
power) and peak memory. Without a GPU, a driver or NVML, ``stop()`` returns None: sampling
never raises and never delays the run.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import attrs

__all__ = ["GpuSampler", "GpuUsage", "driver_present", "process_tree"]

log = logging.getLogger("tracline.gpu")


@attrs.define
class GpuUsage:
    """What the GPUs used by a run did while it ran."""

    model: str
    count: int
    uuids: list[str]
    wall_seconds: float
    gpu_seconds: float
    mean_utilization: float | None = None
    energy_joules: float | None = None
    peak_memory_bytes: int | None = None
    samples: int = 0


def driver_present() -> bool:
    """True when an NVIDIA driver is loaded (cheap: no NVML call)."""
    return os.path.exists("/proc/driver/nvidia/version") or os.path.exists("/dev/nvidiactl")


def process_tree(root: int) -> set[int]:
    """``root`` and all its descendants, from ``/proc``."""
    children: dict[int, list[int]] = {}
    try:
        names = os.listdir("/proc")
    except OSError:
        return {root}
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


@attrs.define
class _Device:
    handle: Any
    uuid: str
    name: str
    energy_start: int | None = None
    baseline_memory: int = 0
    util: list[int] = attrs.field(factory=list)
    power_mw: list[tuple[float, int]] = attrs.field(factory=list)
    peak_memory: int = 0
    peak_own_memory: int = 0
    own: bool = False


def _visible(nvml: Any, spec: str | None) -> list[Any]:
    count = nvml.nvmlDeviceGetCount()
    if spec is None:
        return [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
    handles = []
    for item in (s.strip() for s in spec.split(",")):
        if not item or item.startswith("-"):
            break
        if item.isdigit():
            if int(item) < count:
                handles.append(nvml.nvmlDeviceGetHandleByIndex(int(item)))
        else:
            try:
                handles.append(nvml.nvmlDeviceGetHandleByUUID(item))
            except nvml.NVMLError:
                continue
    return handles


class GpuSampler:
    """Samples the visible GPUs every ``interval`` seconds in a daemon thread."""

    def __init__(self, root_pid: int | None = None, *, interval: float = 0.5,
                 visible: str | None = None, check_driver: bool = True,
                 pids: Callable[[], set[int]] | None = None) -> None:
        self.root_pid = root_pid
        self.interval = interval
        self.visible = visible if visible is not None else os.environ.get("CUDA_VISIBLE_DEVICES")
        self.check_driver = check_driver
        self._pids = pids
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._devices: list[_Device] = []
        self._nvml: Any = None
        self._started = 0.0
        self.error: str | None = None

    def start(self) -> GpuSampler:
        """Begin sampling (returns at once; a machine without GPUs costs nothing)."""
        self._started = time.monotonic()
        if self.check_driver and not driver_present():
            self.error = "no NVIDIA driver"
            return self
        self._thread = threading.Thread(target=self._run, name="tracline-gpu", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self._open()
        except Exception as e:  # noqa: BLE001 - no GPU (or a broken driver) is not an error
            self.error = f"{type(e).__name__}: {e}"
            log.debug("tracline: GPU sampling off: %s", self.error)
            self._ready.set()
            return
        self._ready.set()
        while True:
            self._sample()
            if self._stop.wait(self.interval):
                break
        self._sample()

    def _open(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        for handle in _visible(pynvml, self.visible):
            device = _Device(handle, _text(pynvml.nvmlDeviceGetUUID(handle)),
                             _text(pynvml.nvmlDeviceGetName(handle)))
            try:
                device.energy_start = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
            except pynvml.NVMLError:
                device.energy_start = None
            device.baseline_memory = pynvml.nvmlDeviceGetMemoryInfo(handle).used
            self._devices.append(device)

    def _current_pids(self) -> set[int]:
        if self._pids is not None:
            return self._pids()
        return process_tree(self.root_pid) if self.root_pid else set()

    def _sample(self) -> None:
        nvml, now = self._nvml, time.monotonic()
        pids = self._current_pids()
        for device in self._devices:
            try:
                device.util.append(nvml.nvmlDeviceGetUtilizationRates(device.handle).gpu)
                used = nvml.nvmlDeviceGetMemoryInfo(device.handle).used
                device.peak_memory = max(device.peak_memory, used - device.baseline_memory)
                own = [p for p in nvml.nvmlDeviceGetComputeRunningProcesses(device.handle)
                       if p.pid in pids]
                if own:
                    device.own = True
                    mine = sum(p.usedGpuMemory or 0 for p in own)
                    device.peak_own_memory = max(device.peak_own_memory, mine)
                device.power_mw.append((now, nvml.nvmlDeviceGetPowerUsage(device.handle)))
            except nvml.NVMLError as e:
                log.debug("tracline: NVML sample failed: %s", e)

    def stop(self) -> GpuUsage | None:
        """Stop sampling; the run's GPU use, or None when no GPU could be sampled."""
        wall = time.monotonic() - self._started
        if self._thread is None:
            return None
        self._ready.wait(timeout=10)
        self._stop.set()
        self._thread.join(timeout=10)
        if self.error or not self._devices:
            return None
        try:
            return self._usage(wall)
        finally:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass

    def _usage(self, wall: float) -> GpuUsage:
        nvml = self._nvml
        used = [d for d in self._devices if d.own] or [
            d for d in self._devices if any(u > 0 for u in d.util)
        ]
        energy = 0.0
        for device in used:
            end = None
            if device.energy_start is not None:
                try:
                    end = nvml.nvmlDeviceGetTotalEnergyConsumption(device.handle)
                except nvml.NVMLError:
                    end = None
            if end is not None and device.energy_start is not None:
                energy += (end - device.energy_start) / 1000.0
            else:
                energy += _integrate(device.power_mw)
        utils = [u for d in used for u in d.util]
        own = any(d.own for d in used)
        peak = sum(d.peak_own_memory if own else max(d.peak_memory, 0) for d in used)
        model = used[0].name if used else self._devices[0].name
        return GpuUsage(
            model=model, count=len(used), uuids=[d.uuid for d in used],
            wall_seconds=round(wall, 3), gpu_seconds=round(wall * len(used), 3),
            mean_utilization=round(sum(utils) / len(utils), 2) if utils else None,
            energy_joules=round(energy, 3) if used else None,
            peak_memory_bytes=peak if used else None,
            samples=max((len(d.util) for d in self._devices), default=0),
        )


def _integrate(samples: list[tuple[float, int]]) -> float:
    """Joules from (time, milliwatts) samples (trapezoids)."""
    total = 0.0
    for (t0, p0), (t1, p1) in itertools.pairwise(samples):
        total += (t1 - t0) * (p0 + p1) / 2000.0
    return total


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
