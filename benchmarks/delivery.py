"""Benchmark: what delivering one `tracline run` costs, in CPU time of every process involved.

    .venv/core/bin/python benchmarks/delivery.py [--runs 20] [--files 0]

Each run is `tracline run -- python -c '<read --files small files>'` in a fresh project with
tracline's default sinks (the registry and a JSON-lines file). Measured side by side:

* **long-lived deliverer** (tracline's default): the run commits its records and pokes the
  deliverer, which stays up between runs; its CPU per run is read from /proc (its start, paid
  once per idle period, is reported apart);
* **a flush per run** (how delivery worked before): `tracline run` with delivery off, then a
  fresh `python -m tracline outbox flush` per run, whose whole CPU is counted.

Both count the `tracline run` process too (its children's rusage). Target: the fixed cost of
delivery per run — the deliverer's CPU per run of a trivial command — under 100 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tracline.config import Config, load_config

PY = sys.executable
TRACLINE = str(Path(PY).parent / "tracline")


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def project(root: Path, files: int) -> list[str]:
    root.mkdir(parents=True)
    (root / "data").mkdir()
    for i in range(files):
        (root / "data" / f"{i}.txt").write_text(str(i))
    script = f"for i in range({files}): open(f'data/{{i}}.txt').read()"
    return [TRACLINE, "run", "--", PY, "-c", script]


def environment(root: Path, deliver: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACLINE", "OPENLINEAGE"))}
    env.update(TRACLINE_HOME=str(root / ".tracline"), TRACLINE__CAPTURE__DELIVER=deliver)
    return env


def config_of(root: Path, env: dict[str, str]) -> Config:
    return load_config(env, root)


def long_lived(root: Path, command: list[str], runs: int) -> dict[str, float]:
    """CPU per run with the long-lived deliverer: the run process + the deliverer's share."""
    from tracline.delivery import service_pid, wait_delivered

    env = environment(root, "background")
    config = config_of(root, env)
    subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
    start = time.monotonic()
    wait_delivered(config, deliver=False)
    pid = service_pid(config)
    assert pid is not None, "no deliverer is running"
    first = cpu_of(pid)  # its start-up and the first run's delivery
    runs_cpu, deliverer, walls = [], [], []
    for _ in range(runs):
        before, served = children_cpu(), cpu_of(pid)
        start = time.monotonic()
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
        wait_delivered(config, deliver=False)
        walls.append(time.monotonic() - start)
        runs_cpu.append(children_cpu() - before)
        deliverer.append(cpu_of(pid) - served)
    assert service_pid(config) == pid, "the deliverer restarted during the measurement"
    return {"run": statistics.median(runs_cpu), "delivery": statistics.median(deliverer),
            "wall": statistics.median(walls), "start": first}


def flush_per_run(root: Path, command: list[str], runs: int) -> dict[str, float]:
    """CPU per run when each run's events are delivered by a fresh `tracline outbox flush`."""
    env = environment(root, "none")
    runs_cpu, flushes, walls = [], [], []
    for _ in range(runs + 1):
        before = children_cpu()
        start = time.monotonic()
        subprocess.run(command, cwd=root, env=env, check=True, capture_output=True)
        middle = children_cpu()
        subprocess.run([PY, "-m", "tracline", "outbox", "flush", "--timeout", "900"], cwd=root,
                       env=env, check=True, capture_output=True)
        walls.append(time.monotonic() - start)
        runs_cpu.append(middle - before)
        flushes.append(children_cpu() - middle)
    return {"run": statistics.median(runs_cpu[1:]), "delivery": statistics.median(flushes[1:]),
            "wall": statistics.median(walls[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--files", type=int, default=0, help="small files each run reads")
    parser.add_argument("--flush-per-run-only", action="store_true",
                        help="measure only a flush per run (e.g. with an earlier tracline)")
    args = parser.parse_args()
    if args.flush_per_run_only:
        with tempfile.TemporaryDirectory(prefix="tracline-bench-") as tmp:
            command = project(Path(tmp) / "b", args.files)
            fig = flush_per_run(Path(tmp) / "b", command, args.runs)
        print(f"a flush process per run: run {fig['run']:.3f} s, delivery {fig['delivery']:.3f} s "
              f"CPU per run (median of {args.runs}), wall {fig['wall']:.3f} s")
        return
    with tempfile.TemporaryDirectory(prefix="tracline-bench-") as tmp:
        command = project(Path(tmp) / "a", args.files)
        project(Path(tmp) / "b", args.files)
        ours = long_lived(Path(tmp) / "a", command, args.runs)
        before = flush_per_run(Path(tmp) / "b", command, args.runs)
    print(f"{args.runs} runs reading {args.files} files each; {os.cpu_count()} CPUs; "
          "median CPU seconds per run")
    print(f"{'':34} {'run':>8} {'delivery':>9} {'total':>8} {'wall':>8}")
    for name, fig in (("a flush process per run (before)", before),
                      ("long-lived deliverer", ours)):
        print(f"{name:34} {fig['run']:8.3f} {fig['delivery']:9.3f} "
              f"{fig['run'] + fig['delivery']:8.3f} {fig['wall']:8.3f}")
    print(f"the deliverer's start (once per idle period): {ours['start']:.3f} s CPU")
    ms = ours["delivery"] * 1000
    ratio = before["delivery"] / max(ours["delivery"], 1e-4)
    if args.files:  # the target is the fixed cost; here it is the cost of the files too
        print(f"delivery CPU per run: {ms:.0f} ms ({ms * 1000 / args.files:.0f} µs per file); "
              f"{ratio:.0f}x less than a flush per run")
    else:
        verdict = "ok" if ms < 100 else "MISSED"
        print(f"fixed delivery CPU per run: {ms:.0f} ms (target < 100 ms {verdict}); "
              f"{ratio:.0f}x less than a flush per run")


if __name__ == "__main__":
    main()
