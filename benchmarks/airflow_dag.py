"""Benchmark: the per-task overhead of tracline's capture in an Airflow DAG of 10 small tasks,
as a ratio to the same DAG run without the tracline plugin, measured side by side in one run.

    .venv/airflow/bin/python benchmarks/airflow_dag.py [--rounds 5] [--rows 2000]

The DAG is ten tasks in a chain, each reading the previous task's CSV (``--rows`` rows) and
writing its own. Each run is a whole ``airflow dags test`` process (imports, DAG parsing, the
ten tasks, its exit), timed from start to exit (wall time, and the CPU time of its whole
process tree), in one Airflow home with a migrated SQLite
database in a temporary folder:

- **plain**: the tracline-airflow distribution hidden from Airflow (no plugin, listener,
  transport or policy), the OpenLineage provider off and no interposer preloaded — Airflow as
  it is before tracline is installed;
- **tracline**: the installed plugin, the provider sending through the ``tracline`` transport
  from a thread of the task's process (``execute_in_thread``), the interposer preloaded — as
  docs/airflow.md asks of workers — every task try captured (its
  files hashed, recipe) and its events committed to the outbox.

Runs alternate (plain, tracline, plain, ...) after one warm-up of each, so both see the same
machine load; the medians over ``--rounds`` are compared. Before a figure is printed, the
script checks that both variants wrote the same ten files with the same bytes, and that the
tracline variant recorded every task (delivered from the outbox, each task's COMPLETE event
names its output with the file's digest); a variant that did no work or a capture that recorded
nothing ends the script with that message instead of a ratio. The outbox's deliverer runs
detached, outside the timed tree (as in production: delivery is off the tasks' path); its CPU
is printed beside the figures. Goal: tracline within 1.1× plain; prints MISSED when not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

GOAL = 1.1
TASKS = 10
DAG_ID = "tracline_bench_chain"
BIN = Path(sys.executable).parent

DAG = textwrap.dedent(f'''\
    """{TASKS} small tasks in a chain: each reads the previous CSV and writes its own."""

    import os
    from pathlib import Path

    import pendulum
    from airflow.sdk import dag, task


    @task
    def step(index: int) -> None:
        folder = Path(os.environ["BENCH_OUT"])
        source = folder.parent / "source.csv" if index == 0 else folder / f"t{{index - 1}}.csv"
        lines = source.read_text().splitlines()
        out = [lines[0] + f",t{{index}}"] + [f"{{line}},{{index}}" for line in lines[1:]]
        (folder / f"t{{index}}.csv").write_text("\\n".join(out) + "\\n")


    @dag(dag_id="{DAG_ID}", schedule=None, start_date=pendulum.datetime(2026, 1, 1),
         catchup=False)
    def chain():
        previous = None
        for index in range({TASKS}):
            current = step.override(task_id=f"t{{index}}")(index)
            if previous is not None:
                previous >> current
            previous = current


    chain()
''')

#: Put on PYTHONPATH of the plain variant: every process of its tree sees Python's installed
#: distributions without tracline-airflow, so Airflow loads none of its entry points.
HIDE_PLUGIN = textwrap.dedent('''\
    import importlib
    import importlib.metadata


    def _hide(metadata):
        distributions = metadata.distributions

        def without_tracline(**kwargs):
            for dist in distributions(**kwargs):
                name = (dist.metadata["Name"] or "").lower().replace("_", "-")
                if name != "tracline-airflow":
                    yield dist

        metadata.distributions = without_tracline


    _hide(importlib.metadata)
    try:  # Airflow reads entry points through the backport before Python 3.12
        _hide(importlib.import_module("importlib_metadata"))
    except ImportError:
        pass
''')

TRACLINE_TOML = """\
[tracline]
namespace = "bench"

[sinks.file]
type = "file"
path = "events.jsonl"
"""


def environments(root: Path) -> dict[str, dict[str, str]]:
    """The environment of each variant's ``airflow dags test``."""
    from tracline.capture import worker_environment

    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "TRACLINE", "OPENLINEAGE", "PYTHONPATH"))
            and k != "LD_PRELOAD"}
    base.update({
        "PATH": f"{BIN}{os.pathsep}{base.get('PATH', '')}",
        "AIRFLOW_HOME": str(root / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(root / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
    })
    (root / "hide-plugin").mkdir()
    (root / "hide-plugin" / "sitecustomize.py").write_text(HIDE_PLUGIN)
    plain = {**base, "PYTHONPATH": str(root / "hide-plugin"), "BENCH_OUT": str(root / "plain"),
             "AIRFLOW__OPENLINEAGE__DISABLED": "True"}
    traced = {**base, "BENCH_OUT": str(root / "tracline"),
              "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "tracline"}),
              "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
              "AIRFLOW__OPENLINEAGE__NAMESPACE": "bench",
              "TRACLINE_CONFIG": str(root / "tracline.toml"), **worker_environment(base)}
    return {"plain": plain, "tracline": traced}


def run(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> tuple[float, float]:
    """Run ``args`` to its end; its wall time and the CPU time of its whole process tree, in
    seconds (exit on failure, with its output)."""
    with log.open("w") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(["timeout", "-s", "KILL", "900", *args], env=env, cwd=cwd,
                                stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed ({proc.returncode}):\n"
                         f"{log.read_text()[-4000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime


def plugins(env: dict[str, str], root: Path) -> set[str]:
    """The names of the plugins Airflow loads in ``env``."""
    log = root / "plugins.json"
    run([str(BIN / "airflow"), "plugins", "-o", "json"], env, root, log)
    text = log.read_text()
    start = text.find("[")
    return {p["name"] for p in json.loads(text[start:])} if start >= 0 else set()


def same_work(root: Path) -> str | None:
    """Why the two variants' outputs differ (None: ten files each, byte for byte equal)."""
    for index in range(TASKS):
        plain, traced = root / "plain" / f"t{index}.csv", root / "tracline" / f"t{index}.csv"
        if not plain.exists() or not traced.exists():
            return f"t{index}.csv is missing from {'plain' if not plain.exists() else 'tracline'}"
        if plain.read_bytes() != traced.read_bytes():
            return f"t{index}.csv differs between the variants"
    return None


def recorded(root: Path, env: dict[str, str]) -> tuple[int, str | None]:
    """The tracline variant's COMPLETE task events, and what is missing (None: every task's
    event names its output file with that file's digest, and no plain file is recorded)."""
    from tracline.hashing import digest_path

    run([str(BIN / "tracline"), "outbox", "flush", "--timeout", "600"], env, root,
        root / "flush.log")
    path = root / "events.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    complete = [e for e in events if e.get("eventType") == "COMPLETE"
                and e["job"]["name"].startswith(f"{DAG_ID}.")]
    if any(str(root / "plain") in json.dumps(e) for e in events):
        return len(complete), "the plain variant was captured too"
    for index in range(TASKS):
        out = root / "tracline" / f"t{index}.csv"
        digest = digest_path(out).digest
        if not any(e["job"]["name"] == f"{DAG_ID}.t{index}" and any(
                d["name"].endswith(out.name)
                and (d.get("facets") or {}).get("version", {}).get("datasetVersion") == digest
                for d in e.get("outputs", [])) for e in complete):
            return len(complete), f"no event of task t{index} names {out.name} with its digest"
    return len(complete), None


def stop_deliverers(root: Path) -> float:
    """Stop the long-lived deliverers the tracline variant's tasks started (they run detached,
    outside the timed process tree, until idle); the CPU seconds they had used."""
    import signal

    used = 0.0
    for pid_file in (root / ".tracline").glob(".deliverer-*.pid"):
        pid = int(pid_file.read_text().split()[0])
        try:
            if b"tracline.delivery" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            used += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError, IndexError):
            continue
        deadline = time.monotonic() + 60
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant")
    parser.add_argument("--rows", type=int, default=2000, help="rows of the source CSV")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="tracline-bench-airflow-") as tmp:
        root = Path(tmp)
        for folder in ("airflow-home", "dags", "plain", "tracline", "logs"):
            (root / folder).mkdir()
        (root / "dags" / "bench_chain.py").write_text(DAG)
        (root / "tracline.toml").write_text(TRACLINE_TOML)
        (root / "source.csv").write_text(
            "id,value\n" + "".join(f"{i},{i * 7 % 100}\n" for i in range(args.rows)))
        envs = environments(root)
        try:
            run([str(BIN / "airflow"), "db", "migrate"], envs["plain"], root, root / "migrate.log")
            loaded = {name: plugins(env, root) for name, env in envs.items()}
            if "tracline" in loaded["plain"] or "tracline" not in loaded["tracline"]:
                raise SystemExit(f"the variants are not what they claim: plugins loaded {loaded}")
            times: dict[str, list[float]] = {name: [] for name in envs}
            cpus: dict[str, list[float]] = {name: [] for name in envs}
            command = [str(BIN / "airflow"), "dags", "test", DAG_ID]
            for round_ in range(args.rounds + 1):  # round 0: warm-up (bytecode, first DAG run)
                for name, env in envs.items():
                    elapsed, cpu = run(command, env, root,
                                       root / "logs" / f"{name}-{round_}.log")
                    if round_:
                        times[name].append(elapsed)
                        cpus[name].append(cpu)
            differs = same_work(root)
            if differs:
                raise SystemExit(f"the variants did not do the same work: {differs}")
            events, missing = recorded(root, envs["tracline"])
            if missing:
                raise SystemExit(f"capture recorded nothing to compare ({events} COMPLETE task "
                                 f"events): {missing}")
        finally:
            delivery_cpu = stop_deliverers(root)
    load_after = os.getloadavg()
    plain, traced = (statistics.median(times[n]) for n in ("plain", "tracline"))
    ratio = traced / plain
    from importlib.metadata import version

    print(f"{TASKS}-task DAG (`airflow dags test`, whole process), {args.rows} rows per CSV, "
          f"{args.rounds} rounds each after a warm-up, Python {sys.version.split()[0]}, "
          f"Airflow {version('apache-airflow')}, {os.cpu_count()} CPUs")
    print(f"load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"{'':10} {'median s':>9} {'min s':>7} {'max s':>7} {'CPU s':>7}")
    for name in ("plain", "tracline"):
        values = times[name]
        print(f"{name:10} {statistics.median(values):9.2f} {min(values):7.2f} "
              f"{max(values):7.2f} {statistics.median(cpus[name]):7.2f}")
    print(f"recorded: {events} COMPLETE task events, every task's output with its digest; "
          "outputs of both variants identical")
    print(f"delivery off the tasks' path (the detached deliverer, not in the timed tree): "
          f"{delivery_cpu:.1f} s CPU for the events of {events} task runs")
    cpu_plain, cpu_traced = (statistics.median(cpus[n]) for n in ("plain", "tracline"))
    print(f"CPU of the whole process tree, tracline / plain: {cpu_traced / cpu_plain:.2f}x, "
          f"{(cpu_traced - cpu_plain) * 1000 / TASKS:+.0f} ms per task (less swayed by load "
          "than wall time; the goal is on wall time)")
    verdict = "ok" if ratio < GOAL else "MISSED"
    print(f"ratio tracline / plain: {ratio:.2f}x (goal < {GOAL}x) {verdict}; "
          f"{(traced - plain) * 1000 / TASKS:+.0f} ms per task")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
