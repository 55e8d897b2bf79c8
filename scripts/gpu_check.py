"""Exercise GPU sampling and cost on a machine with an NVIDIA GPU, in one short run.

Run from the repository root: ``python scripts/gpu_check.py [--seconds 3]`` (core installed,
or ``PYTHONPATH=core/src``; needs ``nvidia-ml-py``; uses ``torch`` when importable).

1. lists the GPUs NVML sees (name, UUID, memory);
2. samples while this process runs a small matmul loop on ``cuda:0`` (with torch), or while
   the GPUs sit idle (without) — then prints the ``tracline_gpuCost`` facet as JSON;
3. runs the same workload as a child under ``tracline run`` (capture path, process matching)
   and prints the facet recorded in that run's COMPLETE event.

Exits 0 when a GPU was sampled (and, with torch, found busy), 1 otherwise, saying why.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORKLOAD = """
import sys, time


def run(seconds):
    import torch

    x = torch.randn(4096, 4096, device="cuda")
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        x = torch.tanh(x @ x)
    torch.cuda.synchronize()
    print("workload done on", torch.cuda.get_device_name(0))


if __name__ == "__main__":
    run(float(sys.argv[1]))
"""


def has_torch_cuda() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def list_gpus() -> None:
    import pynvml

    pynvml.nvmlInit()
    try:
        print(f"driver {pynvml.nvmlSystemGetDriverVersion()}")
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            print(f"  gpu {i}: {pynvml.nvmlDeviceGetName(handle)} "
                  f"{pynvml.nvmlDeviceGetUUID(handle)} {memory.total / 2**30:.0f} GiB")
    finally:
        pynvml.nvmlShutdown()


def sample_here(seconds: float, torch_ok: bool) -> dict[str, object] | None:
    from tracline.config import load_config
    from tracline.gpu.cost import gpu_cost
    from tracline.gpu.sampler import GpuSampler

    sampler = GpuSampler(os.getpid(), interval=0.2).start()
    started = time.monotonic()
    if torch_ok:
        namespace: dict[str, object] = {"__name__": "workload"}
        exec(compile(WORKLOAD, "workload", "exec"), namespace)
        namespace["run"](seconds)  # type: ignore[operator]
    else:
        time.sleep(seconds)
    usage = sampler.stop()
    print(f"sampler: {usage!r}" if usage else f"sampler: nothing sampled ({sampler.error})")
    cost = gpu_cost(usage, wall_seconds=time.monotonic() - started, config=load_config())
    facet = cost.as_dict() if cost else None
    print("in-process tracline_gpuCost:", json.dumps(facet, indent=2))
    return facet


def sample_run(seconds: float, torch_ok: bool) -> dict[str, object] | None:
    with tempfile.TemporaryDirectory(prefix="gpu-check-") as tmp:
        script = Path(tmp) / "work.py"
        idle = "import sys, time\ntime.sleep(float(sys.argv[1]))\n"
        script.write_text(WORKLOAD if torch_ok else idle)
        env = {**os.environ, "TRACLINE_HOME": f"{tmp}/.tracline",
               "TRACLINE__CAPTURE__DELIVER": "inline"}
        done = subprocess.run([sys.executable, "-m", "tracline", "run", "--", sys.executable,
                               str(script), str(seconds)], cwd=tmp, env=env, check=False)
        events = [json.loads(line) for line in
                  (Path(tmp) / ".tracline" / "events.jsonl").read_text().splitlines()]
        end = [e for e in events if e["eventType"] != "START"]
        facet = end[-1]["run"]["facets"].get("tracline_gpuCost") if end else None
        print(f"tracline run exit {done.returncode}; recorded tracline_gpuCost:",
              json.dumps(facet, indent=2))
        return facet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    from tracline.gpu.sampler import driver_present

    if not driver_present():
        print("no NVIDIA driver on this machine: nothing to check")
        return 1
    list_gpus()
    torch_ok = has_torch_cuda()
    print(f"workload: {'torch matmul on cuda:0' if torch_ok else 'none (idle GPUs; no torch)'}"
          f" for {args.seconds:g} s")
    here = sample_here(args.seconds, torch_ok)
    child = sample_run(args.seconds, torch_ok)
    if here is None:
        print("FAIL: NVML sampled nothing")
        return 1
    if torch_ok and not (child and child.get("gpuCount")):
        print("FAIL: the GPU workload under `tracline run` was not attributed to a GPU")
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
