"""Benchmark: the wall time of a 10-task Prefect flow with tracline's capture and without it,
measured side by side in one run.

    .venv/prefect/bin/python benchmarks/prefect_flow.py [--rounds 5] [--tasks 10]

Both flows are the same code — ten tasks in a chain, each reading the previous task's small
file and writing its own — once with Prefect's ``flow``/``task`` and once with
tracline_prefect's (capture of every task run: files hashed, recipe, events through the
outbox). Runs alternate (plain, captured, plain, ...) after one warm-up of each, against a
Prefect server this script starts on loopback; the medians are compared. Goal: the captured
flow within 1.1× the plain one (the per-task goal of the Airflow integration); MISSED when
not.
With capture's interposer built, run the script with ``LD_PRELOAD`` set as a worker would
(``export $(.venv/prefect/bin/tracline-prefect environment)``) to measure that set-up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

GOAL = 1.1


@contextlib.contextmanager
def prefect_server(home: Path) -> Iterator[str]:
    """``prefect server start`` on a free loopback port, with its own home."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PREFECT_HOME": str(home), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
    env.pop("PREFECT_API_URL", None)
    env.pop("LD_PRELOAD", None)
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("prefect")), "server", "start", "--host",
         "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health",
                                                                      timeout=2):
                break
            if server.poll() is not None:
                raise SystemExit("prefect server start exited")
            time.sleep(0.5)
        else:
            raise SystemExit("prefect server did not start in 600 s")
        yield url
    finally:
        os.killpg(server.pid, 15)
        server.wait(timeout=60)


def build_flows(folder: Path, tasks: int) -> tuple[Callable[[], Any], Callable[[], Any]]:
    """The same chain of ``tasks`` tasks as a plain Prefect flow and a captured one."""
    import prefect

    import tracline_prefect

    def chain(flow_deco: Any, task_deco: Any, name: str) -> Callable[[], Any]:
        @task_deco
        def step(index: int, previous: str | None) -> str:
            data = Path(previous).read_bytes() if previous else b"seed"
            path = folder / f"{name}-{index}.bin"
            path.write_bytes(data[-64:] + index.to_bytes(4, "big") * 256)
            return str(path)

        @flow_deco(name=f"bench-{name}")
        def run() -> str | None:
            previous = None
            for index in range(tasks):
                previous = step(index, previous)
            return previous

        return run  # type: ignore[no-any-return]

    return (chain(prefect.flow, prefect.task, "plain"),
            chain(tracline_prefect.flow, tracline_prefect.task, "captured"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracline-bench-prefect-") as tmp:
        root = Path(tmp)
        with prefect_server(root / "prefect-home") as api:
            os.environ.update({
                "PREFECT_API_URL": api, "PREFECT_HOME": str(root / "prefect-home"),
                "PREFECT_LOGGING_LEVEL": "WARNING", "TRACLINE_HOME": str(root / ".tracline"),
                "TRACLINE_NAMESPACE": "bench",
            })
            (root / "data").mkdir()
            os.chdir(root)
            plain, captured = build_flows(root / "data", args.tasks)
            timings: dict[str, list[float]] = {"plain": [], "captured": []}
            for warm_up in (plain, captured):
                warm_up()  # imports, the first connection to the API
            for _ in range(args.rounds):
                for label, run in (("plain", plain), ("captured", captured)):
                    started = time.perf_counter()
                    run()
                    timings[label].append(time.perf_counter() - started)
            from tracline.delivery import get_emitter

            get_emitter().flush(timeout=60)
    plain_s = statistics.median(timings["plain"])
    captured_s = statistics.median(timings["captured"])
    ratio = captured_s / plain_s
    preload = "on" if "_preload.so" in os.environ.get("LD_PRELOAD", "") else "off"
    print(f"{args.tasks}-task flow, {args.rounds} rounds each, {os.cpu_count()} CPUs, "
          f"interposer preloaded: {preload}")
    print(f"{'':30} {'median s':>9} {'min s':>7} {'max s':>7}")
    for label in ("plain", "captured"):
        values = timings[label]
        print(f"{'Prefect ' + label:30} {statistics.median(values):9.2f} {min(values):7.2f} "
              f"{max(values):7.2f}")
    per_task = (captured_s - plain_s) / args.tasks * 1000
    verdict = "ok" if ratio <= GOAL else "MISSED"
    print(f"ratio captured / plain: {ratio:.2f}x (goal <= {GOAL}x) {verdict}; "
          f"{per_task:+.0f} ms per task")


if __name__ == "__main__":
    main()
