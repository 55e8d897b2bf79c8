"""Benchmark: tracline's emit() into the durable outbox vs openlineage-python's synchronous
HTTP emit, against the same lineage backend, measured side by side in one run.

    .venv/core/bin/python benchmarks/emit.py [--events 5000] [--http-events 500] [--url URL]

The backend is Marquez when ``--url`` (or ``TRACLINE_TEST_MARQUEZ_URL``) names one; otherwise
`tracline serve`, a real OpenLineage HTTP consumer started here on loopback. Targets: emit()
p99 under 1 ms; throughput at least 20x the synchronous client's.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


def build_events(n: int, root: Path) -> list:
    sys.path.insert(0, str(HERE.parent / "core" / "tests"))
    from tests_helpers import pipeline_events

    events: list = []
    while len(events) < n:
        events += pipeline_events(root, "bench")
    return events[:n]


def start_backend(tmp: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    import datetime as dt
    import socket

    from tracline.identity import TokenStore

    store = TokenStore(f"sqlite:///{tmp / 'backend.db'}")  # the server takes lineage only
    token = store.issue("agent:bench", ["ingest"], ttl=dt.timedelta(hours=2)).secret
    store.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracline.cli", "serve", "--port", str(port),
         "--registry-url", f"sqlite:///{tmp / 'backend.db'}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{url}/api/v1/health", timeout=1).close()
            return proc, url, token
        except OSError:
            time.sleep(0.1)
    raise SystemExit("tracline serve did not start")


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1] if len(values) > 1 else values[0]


def timed(emit: Callable[[Any], object], events: list) -> dict[str, float]:
    """Per-call latency (p50, p99 in ms) and throughput of ``emit`` over ``events``."""
    latencies = []
    start = time.perf_counter()
    for event in events:
        t0 = time.perf_counter()
        emit(event)
        latencies.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    return {"p50_ms": pct(latencies, 0.5) * 1e3, "p99_ms": pct(latencies, 0.99) * 1e3,
            "per_s": len(events) / elapsed}


def bench_tracline(events: list, url: str, work: Path, token: str | None) -> dict[str, float]:
    os.chdir(work)
    os.environ["TRACLINE_HOME"] = str(work / ".tracline")
    os.environ["TRACLINE__SINKS__BACKEND__TYPE"] = "marquez"
    os.environ["TRACLINE__SINKS__BACKEND__URL"] = url
    if token:
        os.environ["TRACLINE__SINKS__BACKEND__API_KEY"] = token
    from tracline.config import load_config
    from tracline.delivery import Emitter

    emitter = Emitter(load_config(), background=True)
    emitter.emit(events[0])  # open the outbox (the deliverer is poked on each commit)
    figures = timed(emitter.emit, events)
    drain_start = time.perf_counter()
    report = emitter.flush(600)
    figures["drain_s"] = time.perf_counter() - drain_start
    emitter.close(0)
    assert report.complete, report
    return figures


def bench_sync_client(events: list, url: str, token: str | None) -> dict[str, float]:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.http import HttpConfig, HttpTransport

    config = {"url": url, "timeout": 30}
    if token:
        config["auth"] = {"type": "api_key", "apiKey": token}
    client = OpenLineageClient(transport=HttpTransport(HttpConfig.from_dict(config)))
    return timed(client.emit, events)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--http-events", type=int, default=500)
    parser.add_argument("--url", default=os.environ.get("TRACLINE_TEST_MARQUEZ_URL"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracline-bench-") as tmp:
        work = Path(tmp)
        backend, url, token = (None, args.url, None) if args.url else start_backend(work)
        label = "Marquez" if args.url else "tracline serve"
        try:
            events = build_events(max(args.events, args.http_events), work)
            sync = bench_sync_client(events[: args.http_events], url, token)
            ours = bench_tracline(events[: args.events], url, work, token)
        finally:
            if backend is not None:
                backend.terminate()
                backend.wait()
    print(f"backend: {label} at {url}; {os.cpu_count()} CPUs")
    print(f"{'':34} {'p50 ms':>8} {'p99 ms':>8} {'events/s':>10}")
    print(f"{'openlineage-python sync HTTP emit':34} {sync['p50_ms']:8.3f} {sync['p99_ms']:8.3f}"
          f" {sync['per_s']:10.0f}")
    print(f"{'tracline emit() into the outbox':34} {ours['p50_ms']:8.3f} {ours['p99_ms']:8.3f}"
          f" {ours['per_s']:10.0f}")
    ratio = ours["per_s"] / sync["per_s"]
    print(f"throughput ratio (tracline / sync client): {ratio:.1f}x  (target >= 20x "
          f"{'ok' if ratio >= 20 else 'MISSED'})")
    print(f"emit() p99: {ours['p99_ms']:.3f} ms  (target < 1 ms "
          f"{'ok' if ours['p99_ms'] < 1 else 'MISSED'})")
    print(f"delivery drained the rest in {ours['drain_s']:.1f} s")


if __name__ == "__main__":
    main()
