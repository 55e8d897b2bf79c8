"""Benchmark: from a reviewer's approval to the gated task's code running again, on a real
Prefect — goal: within 5 s.

    .venv/prefect/bin/python benchmarks/prefect_resume.py [--rounds 5] [--baseline]

A ``prefect server`` on loopback, a process work pool with a real ``prefect worker`` (one slot)
and tracline's watcher, started as the Prefect tests start them (their harness). Each round
runs an example-style gated flow (three captured tasks, then an ``ApprovalGate`` that files a
training request over the arrays they built, then the approved ``train``) through its
deployment; once the flow run is suspended, the benchmark checks that nothing is held — the
flow run's process has exited and the worker has no child process — then approves the
request through tracline (the CLI and the Python API in turn) and times each step from the
approval (the approval's recorded time) to the first line of ``train``:

- resume: the watcher resumes the flow run (Prefect's "Resuming" state);
- pickup: the worker takes it (Pending);
- process: the worker has started the flow-run process;
- engine: Prefect's engine has started in it (Python, ``import prefect``, the flow run and
  its deployment read from the API, the pull steps) and begins to import the flow's module;
- module: the flow's module is imported (tracline_prefect and what it imports);
- to flow: Prefect has loaded the flow run and calls the flow function;
- tasks: the flow has run again up to the gate (the finished tasks return their persisted
  results);
- claim: the gate has found the request approved and claimed it;
- to task: the approved task's own code runs.

The recommended worker set-up is measured (``PREFECT_WORKER_QUERY_SECONDS=1``, the engine
started directly by the ``command`` job variable); ``--baseline`` alternates its rounds with
Prefect's defaults (a query every 10 s, a workspace-preparing process before the engine) on
a second work pool of the same server. The first round of each set-up also checks that the
suspended run holds no worker slot (another flow run completes on the one-slot worker).
Then the imports of a flow-run process, timed alone: ``import prefect.engine`` against
``import prefect.engine`` plus the flow's module (the part tracline adds), medians of a few
runs. Each figure is printed with the machine's load (``os.getloadavg``).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any
from uuid import UUID

HARNESS = Path(__file__).resolve().parents[1] / "integrations" / "prefect" / "tests"
GOAL_S = 5.0
STEPS = ("resume", "pickup", "process", "engine", "module", "to flow", "tasks", "claim",
         "to task")

FLOW = '''\
"""Example-style gated flow of benchmarks/prefect_resume.py: marks when each step starts."""

import time

LOADING = time.time()

import io
import json
import os
import shutil
from pathlib import Path

from tracline_prefect import AT_RUN_TIME, ApprovalGate, flow, task

DATA = Path(os.environ["TRACLINE_EXAMPLE_DATA"])
MARKS = DATA / "marks.jsonl"


def mark(step, at=None):
    """Append when ``step`` happened in this flow run's process."""
    with MARKS.open("a") as out:
        out.write(json.dumps({"run": os.environ.get("PREFECT__FLOW_RUN_ID"), "step": step,
                              "at": at or time.time(), "pid": os.getpid()}) + "\\n")


def process_start():
    """When this process was started (its fork by the worker), from /proc."""
    stat = Path("/proc/self/stat").read_text()
    ticks = int(stat[stat.rfind(")") + 2:].split()[19])
    boot = time.time() - float(Path("/proc/uptime").read_text().split()[0])
    return boot + ticks / os.sysconf("SC_CLK_TCK")


approval = ApprovalGate(
    "approve-training",
    request={
        "title": "Retrain {model} (resume benchmark)",
        "requester": "agent:churn-bot",
        "project": "churn",
        "datasets": AT_RUN_TIME,
        "gpu_model": "H100",
        "gpu_count": 1,
        "hours": "0.5",
        "budget": 50,
        "rationale": "Measuring the time from an approval to the work.",
    },
)


@task
def download(model):
    path = DATA / f"{model}-raw.csv"
    path.write_text("tenure,spend,churned\\n" + "12,60.5,0\\n" * 500)
    return str(path)


@task
def featurize(raw):
    path = Path(raw).with_suffix(".features.csv")
    path.write_text(Path(raw).read_text().upper())
    return str(path)


@task
def to_arrays(features):
    path = Path(features).with_suffix(".arrays")
    path.write_bytes(Path(features).read_bytes()[::-1])
    return str(path)


@task
def train(arrays):
    mark("task")
    path = Path(arrays).with_suffix(".model")
    path.write_bytes(Path(arrays).read_bytes()[:64])
    return str(path)


@flow(persist_result=True)
def gated_train(model: str = "churn"):
    mark("flow")
    arrays = to_arrays(featurize(download(model)))
    mark("gate")
    claim = approval.wait(datasets=[arrays])
    mark("claimed")
    return approval.capped(train, claim)(arrays)


mark("process", process_start())
mark("module", LOADING)
mark("loaded")
'''


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
                found.append(int(entry.name))
    return found


def marks(env: Any, flow_run_id: UUID) -> dict[str, float]:
    """The latest time of each step the flow run's processes marked."""
    path = env.data / "marks.jsonl"
    found: dict[str, float] = {}
    for line in path.read_text().splitlines() if path.exists() else []:
        entry = json.loads(line)
        if entry["run"] == str(flow_run_id):
            found[entry["step"]] = entry["at"]
    return found


def one_round(env: Any, deployment: str, worker: Any, model: str, *, via: str,
              check_slot: str | None) -> dict[str, float]:
    """One gated flow run: suspended, nothing held, approved, timed up to ``train``."""
    from _prefect_harness import wait_for

    flow_run_id = env.run(deployment, model=model)
    suspended = env.wait_suspended(flow_run_id)
    request_id = str((suspended.labels or {})["tracline.request"])
    pid = int(str(suspended.infrastructure_pid).rsplit(":", 1)[-1])
    wait_for("the suspended flow run's process to exit", lambda: True if not alive(pid) else None)
    held = children(worker.process.pid)
    if held:
        raise SystemExit(f"the worker holds processes {held} while the flow run is suspended")
    if check_slot is not None:
        other = env.run(check_slot)
        if not env.wait_final(other).state.is_completed():
            raise SystemExit("the one-slot worker could not run another flow: its slot is held")
        print(f"  while suspended: flow-run process {pid} gone, no worker child, another flow "
              "run completed on the one-slot worker")
    if via == "cli":
        env.tracline("request", "approve", request_id, "--as", "user:chris")
    else:
        service = env.requests()
        try:
            service.approve(request_id, "user:chris")
        finally:
            service.close()
    service = env.requests()
    try:
        approved = service.get(request_id).approvals[0].decided_at.timestamp()
    finally:
        service.close()
    final = env.wait_final(flow_run_id)
    if not final.state.is_completed():
        raise SystemExit(f"flow run {flow_run_id} ended {final.state.name}: "
                         f"{final.state.message}\n{env.logs(flow_run_id)[-3000:]}")
    after = [s for s in env.states(flow_run_id) if s.timestamp.timestamp() > approved]

    def first(kind: str) -> float:
        return next(s.timestamp.timestamp() for s in after if s.type.value == kind)

    seen = marks(env, flow_run_id)
    times = [first("SCHEDULED"), first("PENDING"), seen["process"], seen["module"], seen["loaded"],
             seen["flow"], seen["gate"], seen["claimed"], seen["task"]]
    steps = dict(zip(STEPS, (b - a for a, b in zip([approved, *times[:-1]], times, strict=True)),
                     strict=True))
    steps["total"] = seen["task"] - approved
    return steps


def import_costs(env: Any, entry: Path, rounds: int = 3) -> None:
    """Median wall time of a process importing Prefect's engine, alone and with the flow."""
    def timed(code: str) -> float:
        values = []
        for _ in range(rounds):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env.env, cwd=entry.parent,
                           check=True, capture_output=True)
            values.append(time.perf_counter() - started)
        return statistics.median(values)

    bare = timed("pass")
    engine = timed("import prefect.engine")
    with_flow = timed(f"import prefect.engine; import {entry.stem}")
    print(f"\nimports of a flow-run process ({rounds} runs each, medians, {load()}): "
          f"python {bare:.2f} s; import prefect.engine {engine:.2f} s; + the flow's module "
          f"(tracline_prefect, its gate) {with_flow - engine:+.2f} s")
    # Which packages the flow's module brings in (python -X importtime, self times).
    traced = subprocess.run([sys.executable, "-X", "importtime", "-c",
                             f"import prefect.engine; import {entry.stem}"], env=env.env,
                            cwd=entry.parent, check=True, capture_output=True, text=True)
    rows = [line.split("|") for line in traced.stderr.splitlines()
            if line.startswith("import time:") and "self [us]" not in line]
    names = [row[2].strip() for row in rows]
    after = rows[names.index("prefect.engine") + 1:]  # what the flow's module adds
    by_package: dict[str, float] = {}
    for row in after:
        package = row[2].strip().split(".")[0]
        by_package[package] = by_package.get(package, 0.0) + int(row[0].split(":")[1]) / 1e6
    total = sum(by_package.values())
    top = sorted(by_package.items(), key=lambda item: -item[1])[:6]
    print(f"  -X importtime, the flow's module: {total:.2f} s of imports, of which "
          + ", ".join(f"{name} {seconds:.2f}" for name, seconds in top))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--baseline", action="store_true",
                        help="alternate with rounds on a worker with Prefect's defaults")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="tracline-bench-resume-"))
    sys.path.insert(0, str(HARNESS))
    from _prefect_harness import free_port, make_env

    port = free_port()
    os.environ.update({
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_LOGGING_TO_API_ENABLED": "false",
        "PREFECT_LOGGING_LEVEL": "WARNING",
    })
    envs = make_env(root / "env", port, root / "prefect-home")
    env = next(envs)
    try:
        os.environ["TRACLINE_CONFIG"] = str(env.config)
        flows = root / "bench_flows"
        flows.mkdir()
        (flows / "gated_train.py").write_text(FLOW)
        (flows / "tiny.py").write_text(textwrap.dedent('''\
            from prefect import flow


            @flow
            def tiny():
                return "ran"
            '''))
        quiet = contextlib.redirect_stdout(io.StringIO())  # deploy() prints a table
        quiet.__enter__()
        setups = {"recommended": (env.deploy(flows, "gated_train.py:gated_train"),
                                  env.deploy(flows, "tiny.py:tiny", name="tiny"),
                                  env.services["worker"])}
        if args.baseline:
            worker = env.start_worker("defaults", "defaults-worker", settings={})
            setups["Prefect's defaults"] = (
                env.deploy(flows, "gated_train.py:gated_train", name="defaults",
                           pool="defaults", job_variables={}),
                env.deploy(flows, "tiny.py:tiny", name="tiny-defaults",
                           pool="defaults", job_variables={}),
                worker)
        quiet.__exit__(None, None, None)
        print(f"Prefect {__import__('prefect').__version__}, {os.cpu_count()} CPUs; watcher "
              "every 0.5 s; goal: the gated task runs within "
              f"{GOAL_S:.0f} s of the approval")
        results: dict[str, list[dict[str, float]]] = {label: [] for label in setups}
        for index in range(args.rounds):
            for label, (deployment, tiny, worker) in setups.items():
                via = "cli" if index % 2 == 0 else "api"
                steps = one_round(env, deployment, worker, f"churn-{index}-{len(results[label])}",
                                  via=via, check_slot=tiny if index == 0 else None)
                results[label].append(steps)
                print(f"  {label:18} round {index + 1} ({via}): " + "  ".join(
                    f"{step} {steps[step]:.2f}" for step in STEPS)
                    + f"  => {steps['total']:.2f} s ({load()})")
        for label, rounds in results.items():
            print(f"\n{label}: median s from the approval, {len(rounds)} rounds ({load()})")
            print("  " + "  ".join(f"{step} {statistics.median(r[step] for r in rounds):.2f}"
                                   for step in STEPS))
            totals = [r["total"] for r in rounds]
            median = statistics.median(totals)
            verdict = "ok" if median <= GOAL_S else "MISSED"
            print(f"  approval -> gated task: median {median:.2f} s (min {min(totals):.2f}, "
                  f"max {max(totals):.2f}); goal <= {GOAL_S:.0f} s: {verdict}")
        import_costs(env, flows / "gated_train.py")
    finally:
        next(envs, None)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
