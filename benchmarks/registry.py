"""Benchmark: `trace` and `receipt` on a registry of 100,000 runs, against a trivial lookup.

    .venv/core/bin/python benchmarks/registry.py [--runs 100000] [--url URL] [--repeat 20]

``--url postgresql://...`` runs it on PostgreSQL, in a fresh schema ``bench_registry``.

The registry is filled with a realistic DAG: 1,000 projects of 100 runs each; within a project
every run reads the previous run's output (a chain 100 runs deep), sometimes an older output
of the same project (fan-in) and sometimes a raw dataset, and a few runs read a dataset shared
across projects. Each run carries the facets `tracline run` records (execution recipe with 20
packages, GPU cost). Rows go into the index tables in bulk (the raw-event table is left empty;
ingest through the normal path is timed on a sample). The deep artifact is the last output of
one project: its trace walks 100 levels. Target: `trace` and `receipt` under 100 ms each.

The baseline, measured in the same run, is the cheapest registry query: one run by id.
SQLite query plans of every statement a trace issues are printed (`EXPLAIN QUERY PLAN`).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import event, insert, text

from tracline.cli import main as cli_main
from tracline.cli import render_receipt
from tracline.lineage import receipt, trace
from tracline.registry import Registry
from tracline.registry import _schema as t

PROJECT_RUNS = 100
PACKAGES = [{"name": f"pkg{i}", "version": f"1.{i}.0"} for i in range(20)]


def _digest(rng: random.Random) -> str:
    return f"blake3:{rng.getrandbits(256):064x}"


def _facets(project: int, step: int, rng: random.Random) -> str:
    gpu_seconds = rng.uniform(60, 7200)
    return json.dumps({
        "tracline_execution": {
            "argv": ["python", "train.py", f"--step={step}"], "cwd": f"/srv/p{project}",
            "exitCode": 0, "captureMode": "audit",
            "code": {"repository": f"/srv/p{project}", "commit": f"{rng.getrandbits(160):040x}",
                     "branch": "main", "dirty": False},
            "packages": {"lockDigest": _digest(rng), "manager": "pip", "items": PACKAGES},
            "interpreter": {"implementation": "CPython", "version": "3.11.9"},
            "host": {"hostname": f"worker-{project % 16}", "os": "Linux"},
            "environment": {"PYTHONHASHSEED": "0", "CUDA_VISIBLE_DEVICES": "0,1"}},
        "tracline_gpuCost": {
            "measurement": "measured", "gpuModel": "NVIDIA H100 80GB HBM3", "gpuCount": 2,
            "gpuSeconds": gpu_seconds, "pricePerGpuHour": 2.5, "currency": "USD",
            "priceSource": "price table", "priceAsOf": "2025-01-01",
            "cost": round(gpu_seconds / 3600 * 2 * 2.5, 4)}})


def fill(registry: Registry, total: int, seed: int = 7) -> str:
    """Insert ``total`` runs in bulk; return the digest of the deepest artifact of project 0."""
    rng = random.Random(seed)
    shared = [_digest(rng) for _ in range(50)]
    runs: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    deep = ""

    def flush() -> None:
        with registry.engine.begin() as conn:
            if runs:
                conn.execute(insert(t.runs), runs)
            if rows:
                conn.execute(insert(t.run_io), [
                    {**row, "name_key": t.name_key(row["name"]),
                     "digest_key": t.digest_key(row["digest"])} for row in rows])
        runs.clear()
        rows.clear()

    for project in range(max(1, total // PROJECT_RUNS)):
        outputs: list[str] = []
        for step in range(PROJECT_RUNS):
            run_id = f"{project:06d}-{step:04d}-{rng.getrandbits(64):016x}"
            at = f"2025-01-01T00:{project % 60:02d}:{step % 60:02d}.{step:06d}+00:00"
            runs.append({"run_id": run_id, "job_namespace": f"p{project}",
                         "job_name": f"step{step % 7}", "state": "COMPLETE", "started_at": at,
                         "ended_at": at, "parent_run_id": None,
                         "facets": _facets(project, step, rng)})
            reads = {outputs[-1]} if outputs else {_digest(rng)}
            if len(outputs) > 2 and rng.random() < 0.3:
                reads.add(outputs[-rng.randint(2, min(10, len(outputs)))])
            if rng.random() < 0.3:
                reads.add(_digest(rng))
            if rng.random() < 0.02:
                reads.add(rng.choice(shared))
            for n, digest in enumerate(sorted(reads)):
                rows.append({"run_id": run_id, "direction": "in", "namespace": "file",
                             "name": f"/srv/p{project}/in/{step}-{n}", "digest": digest,
                             "size": 1000, "file_count": 1, "kind": "file", "event_time": at})
            made = [_digest(rng) for _ in range(1 + (rng.random() < 0.5))]
            for n, digest in enumerate(made):
                rows.append({"run_id": run_id, "direction": "out", "namespace": "file",
                             "name": f"/srv/p{project}/out/{step}-{n}", "digest": digest,
                             "size": 5000, "file_count": 1, "kind": "file", "event_time": at})
            outputs.append(made[0])
            if project == 0:
                deep = made[0]
        if len(runs) >= 20_000:
            flush()
    flush()
    return deep


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``fn`` in milliseconds, after one warm-up call."""
    fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


@contextlib.contextmanager
def statements(registry: Registry) -> Iterator[list[tuple[str, Any]]]:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, _many: bool) -> None:
        seen.append((sql, params))

    event.listen(registry.engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(registry.engine, "before_cursor_execute", record)


def query_plans(registry: Registry, digest: str) -> list[str]:
    """SQLite's plan for each distinct statement a trace and a receipt issue."""
    with statements(registry) as seen:
        receipt(digest, registry=registry)
    plans: dict[str, int] = {}
    with registry.engine.connect() as conn:
        for sql, params in seen:
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
            flat = " ".join(sql.split())
            where = flat[flat.find("WHERE"):][:70] if "WHERE" in flat else flat[:70]
            where = where.split(" IN ")[0] + (" IN (…)" if " IN " in where else "")
            line = " / ".join(r[-1] for r in rows) + f"   <- {where}"
            plans[line] = plans.get(line, 0) + 1
    return [f"{n:4d}×  {line}" for line, n in plans.items()]


def fresh_schema(url: str, schema: str = "bench_registry") -> str:
    """An empty PostgreSQL schema for the benchmark, selected through the URL's search_path."""
    from tracline.db import make_engine

    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    engine.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def cli(*argv: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = cli_main(list(argv))
    assert code == 0, f"tracline {' '.join(argv)} exited {code}: {out.getvalue()}"


def ingest_rate(url: str) -> float:
    """Events per second through ``Registry.ingest`` (the path the outbox delivers through)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "core" / "tests"))
    from tests_helpers import pipeline_events

    from tracline.events import to_dict

    events = [to_dict(e) for _ in range(100) for e in pipeline_events(Path("/data"), "b")]
    registry = Registry(url)
    start = time.perf_counter()
    for e in events:
        registry.ingest(e)
    return len(events) / (time.perf_counter() - start)


def ingest_large_run(url: str, inputs: int = 3000, repeat: int = 5,
                     ) -> tuple[float, float, float]:
    """Median ms to ingest the COMPLETE event of a run with ``inputs`` inputs (and one output),
    and, measured beside it, of the same run with no inputs at all — through the registry as
    the deliverer's sink opens it (``checkpoint=False``) — and the median ms of the
    checkpoint the deliverer makes after the big one's delivery is recorded (SQLite)."""
    from tracline.events import record_event, to_dict
    from tracline.record import FileRecord, RunRecord

    def event(n: int, files: int) -> dict[str, Any]:
        record = RunRecord(
            run_id=f"{n:08d}-0000-7000-8000-{files:012d}", job="walk.py", namespace="bench",
            argv=["python", "walk.py"], cwd="/data", started_at="2025-01-01T00:00:00+00:00",
            ended_at="2025-01-01T00:00:01+00:00", capture_mode="audit-hook", exit_code=0,
            inputs=[FileRecord(f"/data/small/{n}/{i}.bin", f"blake3:{n:08x}{i:056x}", 4096)
                    for i in range(files)],
            outputs=[FileRecord(f"/data/out/{n}.bin", f"blake3:{n:064x}", 10)])
        return to_dict(record_event("COMPLETE", record))

    registry = Registry(url, checkpoint=False)
    timings: dict[int, list[float]] = {inputs: [], 0: []}
    checkpoints: list[float] = []
    for n in range(repeat):
        for files in (inputs, 0):
            data = event(n, files)
            start = time.perf_counter()
            assert registry.ingest(data)
            timings[files].append((time.perf_counter() - start) * 1000)
            if files:
                start = time.perf_counter()
                registry.checkpoint()
                checkpoints.append((time.perf_counter() - start) * 1000)
    registry.close()
    return (statistics.median(timings[inputs]), statistics.median(timings[0]),
            statistics.median(checkpoints))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--url", help="registry URL (default: a new SQLite file)")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="tracline-bench-"))
    url = args.url or f"sqlite:///{tmp / 'registry.db'}"
    if url.startswith("postgresql"):
        url = fresh_schema(url)
    registry = Registry(url)
    start = time.perf_counter()
    deep = fill(registry, args.runs)
    with registry.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    fill_s = time.perf_counter() - start
    one = trace(deep, registry=registry)

    def depth(node: Any) -> int:
        return 1 + max((depth(c) for c in node.inputs if not c.repeat), default=0) \
            if node.run else 0

    print(f"registry: {url}\nfilled {args.runs:,} runs in {fill_s:.1f}s; deep artifact "
          f"{deep[:19]}…: {len(one.runs())} upstream runs, "
          f"{len(one.artifacts())} artifacts, {depth(one.root)} levels of runs")
    any_run = one.runs()[0].run_id
    base = timed(lambda: registry.run(any_run), args.repeat)
    cases = [
        ("baseline: one run by id", base),
        ("trace (Python API)", timed(lambda: trace(deep, registry=registry), args.repeat)),
        ("receipt (Python API, JSON)", timed(
            lambda: render_receipt(receipt(deep, registry=registry), "json"), args.repeat)),
        ("receipt (Python API, HTML)", timed(
            lambda: render_receipt(receipt(deep, registry=registry), "html"), args.repeat)),
    ]
    import os

    os.environ["TRACLINE_REGISTRY_URL"] = url
    os.environ["TRACLINE_HOME"] = str(tmp / "home")
    from tracline.config import reset_config

    reset_config()  # the configuration read earlier in this process named another registry
    cases += [
        ("tracline trace --json (CLI, in process)", timed(
            lambda: cli("trace", deep, "--json"), args.repeat)),
        ("tracline receipt (CLI, in process)", timed(
            lambda: cli("receipt", deep, "--format", "markdown"), args.repeat)),
    ]
    exe = str(Path(sys.executable).with_name("tracline"))
    processes = [
        ("`tracline --version` (new process)", timed(
            lambda: subprocess.run([exe, "--version"], check=True, capture_output=True), 5)),
        ("`tracline trace --json` (new process)", timed(
            lambda: subprocess.run([exe, "trace", deep, "--json"], check=True,
                                   capture_output=True), 5)),
    ]
    print(f"\n{'operation':44} {'median ms':>10} {'× baseline':>11}  target")
    for name, ms in cases:
        target = "" if name.startswith("baseline") else \
            "< 100 ms " + ("ok" if ms < 100 else "MISSED")
        print(f"{name:44} {ms:10.2f} {ms / base:11.0f}  {target}")
    for name, ms in processes:  # interpreter start and imports included: for information
        print(f"{name:44} {ms:10.2f} {ms / base:11.0f}")
    print(f"\ningest through Registry.ingest: {ingest_rate(url):,.0f} events/s")
    large, empty, checkpoint = ingest_large_run(url)
    print(f"ingest of a run with 3,000 inputs: {large:.1f} ms (the same run without inputs: "
          f"{empty:.1f} ms)  target < 100 ms {'ok' if large < 100 else 'MISSED'}")
    if url.startswith("sqlite"):
        print(f"  then the deliverer's checkpoint, once the delivery is recorded: "
              f"{checkpoint:.1f} ms")
    if url.startswith("sqlite"):
        print("\nSQLite query plans (every statement of a receipt):")
        for line in query_plans(registry, deep):
            print("  " + line)


if __name__ == "__main__":
    main()
