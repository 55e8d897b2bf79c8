"""A bounded load test of `tracline serve` on loopback: many clients filing and reading.

Starts a team server (SQLite by default, or --store-url postgresql://...), gives each of
--clients concurrent clients its own agent token, and has each file --rounds requests and read
each back (show, then list its project). Reports latency p50/p99 per operation and errors,
next to the same operations by one client alone measured in the same run (the baseline).

Goals: no errors at all, and a p99 under load within 50× the lone client's p50 (a loaded
2-core machine queues requests; it must not fail or stall them). Traffic goes to 127.0.0.1
only; the loops are bounded by --clients × --rounds.

    .venv/core/bin/python benchmarks/server_load.py [--clients 200] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import httpx

from tracline.identity import TokenStore

POLICY = '[policy]\nreviewers = ["user:chris"]\n'
DIGEST = "sha256:" + "b" * 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spec(project: str, i: int) -> dict[str, object]:
    return {"title": f"run {i}", "project": project, "datasets": [
        {"uri": f"s3://bench/{project}/{i}", "digest": DIGEST}], "gpu_model": "H100",
        "gpu_count": 1, "hours": "1", "budget": "100", "rationale": "load test",
        "reviewers": ["user:chris"]}


def client(url: str, token: str, project: str, *, rounds: int,
           timings: dict[str, list[float]], errors: list[str], start: threading.Barrier,
           ) -> None:
    """One client: file a request, show it, list its project; ``rounds`` times."""
    with httpx.Client(base_url=url, timeout=120,
                      headers={"Authorization": f"Bearer {token}"}) as http:

        def call(op: str, method: str, path: str, **kwargs: object) -> httpx.Response | None:
            t0 = time.perf_counter()
            try:
                reply = http.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.HTTPError as e:
                errors.append(f"{op}: {type(e).__name__}: {e}")
                return None
            timings[op].append(time.perf_counter() - t0)
            if reply.status_code >= 400:
                errors.append(f"{op}: HTTP {reply.status_code}: {reply.text[:200]}")
                return None
            return reply

        start.wait()
        for i in range(rounds):
            filed = call("file", "POST", "/api/v1/requests", json=spec(project, i))
            if filed is not None:
                call("show", "GET", f"/api/v1/requests/{filed.json()['id']}")
            call("list", "GET", "/api/v1/requests", params={"project": project})


def run_clients(url: str, tokens: list[str], rounds: int) -> tuple[dict[str, list[float]],
                                                                   list[str], float]:
    timings: dict[str, list[float]] = {"file": [], "show": [], "list": []}
    errors: list[str] = []
    barrier = threading.Barrier(len(tokens))
    threads = [threading.Thread(target=client, args=(url, tok, f"p{n}-{len(tokens)}"),
                                kwargs={"rounds": rounds, "timings": timings, "errors": errors,
                                        "start": barrier})
               for n, tok in enumerate(tokens)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return timings, errors, time.perf_counter() - t0


def pct(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=1000)[int(q * 1000) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store-url", default=None, help="default: SQLite in a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracline-load-") as tmp:
        work = Path(tmp)
        store = args.store_url or f"sqlite:///{work / 'store.db'}"
        (work / "tracline.toml").write_text(POLICY + f'[tracline]\nhome = "{work / "home"}"\n')
        tokens = TokenStore(store)
        issued = [tokens.issue(f"agent:load{n}", ["agent"], ttl=dt.timedelta(hours=2)).secret
                  for n in range(args.clients + 1)]
        tokens.close()
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE")}
        env["TRACLINE_CONFIG"] = str(work / "tracline.toml")
        server = subprocess.Popen([sys.executable, "-m", "tracline.cli", "serve", "--port",
                                   str(port), "--store-url", store, "--registry-url",
                                   f"sqlite:///{work / 'registry.db'}"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(600):
                try:
                    urllib.request.urlopen(f"{url}/api/v1/health", timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            alone, alone_errors, _ = run_clients(url, issued[:1], max(args.rounds, 20))
            loaded, errors, elapsed = run_clients(url, issued[1:], args.rounds)
        finally:
            server.terminate()
            server.wait()
    kind = "PostgreSQL" if store.startswith("postgres") else "SQLite"
    calls = sum(len(v) for v in loaded.values())
    print(f"tracline serve on loopback, {kind} store, {os.cpu_count()} CPUs; "
          f"{args.clients} concurrent clients × {args.rounds} rounds (file, show, list)")
    print(f"{'operation':10} {'alone p50 ms':>13} {'loaded p50 ms':>14} {'loaded p99 ms':>14}")
    worst = 0.0
    for op in ("file", "show", "list"):
        base, p50, p99 = pct(alone[op], 0.5), pct(loaded[op], 0.5), pct(loaded[op], 0.99)
        worst = max(worst, p99 / base)
        print(f"{op:10} {base * 1e3:13.1f} {p50 * 1e3:14.1f} {p99 * 1e3:14.1f}")
    every = [x for v in loaded.values() for x in v]
    print(f"all calls under load: p50 {pct(every, 0.5) * 1e3:.1f} ms, p99 "
          f"{pct(every, 0.99) * 1e3:.1f} ms; {calls} calls in {elapsed:.1f} s "
          f"({calls / elapsed:.0f}/s)")
    print(f"errors: {len(errors) + len(alone_errors)}"
          + ("" if not errors else f" (first: {errors[0]})"))
    ok_errors = not errors and not alone_errors
    ok_ratio = worst <= 50
    print(f"goal: no errors — {'met' if ok_errors else 'MISSED'}")
    print(f"goal: loaded p99 within 50× the lone p50 (worst {worst:.1f}×) — "
          f"{'met' if ok_ratio else 'MISSED'}")


if __name__ == "__main__":
    main()
