"""Start-up of the `tracline` command, side by side with `python -c pass` in one run.

Run: ``.venv/core/bin/python benchmarks/startup.py [--rounds 21] [--no-realtime]``

Agents call `tracline` in loops, so a fresh process must answer fast. Goals, on a quiet
machine: ``tracline --help`` and ``tracline --version`` under 150 ms, a fresh
``tracline trace --json`` of a recorded file under 250 ms. As ratios to ``python -c pass``
(same interpreter, same run), with the reference machine's ``python -c pass`` at
``REFERENCE_PASS_MS``: 14.3x and 23.8x. ``tracline run -- true`` is shown beside them for
reference (its goal, a fixed cost of capture, is ``benchmarks/capture.py``'s).

Each round runs every command once, in turn, in a small project whose run is recorded and
delivered first; a ratio is the median over rounds of command/pass within a round, which
holds on a busy machine. Each command runs twice untimed first, as a user's first call would,
so that Python has written its bytecode (as ``pip install`` does). Where allowed (root), the
timed processes run at real-time priority (``chrt -f``): on a shared machine that is the
nearest thing to a quiet one. Every result line says ``ok`` or ``MISSED``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: ``python -c pass`` on the reference machine (quiet), in ms: the goals' unit.
REFERENCE_PASS_MS = 10.5
GOALS_MS = {"tracline --version": 150.0, "tracline --help": 150.0,
            "tracline trace --json": 250.0}


def project(where: Path, env: dict[str, str]) -> None:
    """A folder with one recorded, delivered run that wrote ``out.csv``."""
    (where / "raw.csv").write_text("a,b\n1,2\n")
    (where / "step.py").write_text("open('out.csv', 'w').write(open('raw.csv').read())\n")
    tracline = [sys.executable, "-m", "tracline"]
    for args in (["run", "--", sys.executable, "step.py"], ["outbox", "flush"]):
        subprocess.run([*tracline, *args], cwd=where, env=env, check=True,
                       stdout=subprocess.DEVNULL)


def realtime_prefix(wanted: bool) -> list[str]:
    """``chrt -f 50`` when real-time priority may be used here, else nothing."""
    chrt = shutil.which("chrt")
    if not wanted or chrt is None:
        return []
    done = subprocess.run([chrt, "-f", "50", "true"], capture_output=True, check=False)
    return [chrt, "-f", "50"] if done.returncode == 0 else []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--no-realtime", action="store_true",
                        help="Time at normal priority, load and all.")
    args = parser.parse_args()
    script = Path(sys.executable).with_name("tracline")
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACLINE", "OPENLINEAGE")) and k != "PYTHONDONTWRITEBYTECODE"}
    commands = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "tracline --version": [str(script), "--version"],
        "tracline --help": [str(script), "--help"],
        "tracline trace --json": [str(script), "trace", "out.csv", "--json"],
        "tracline run -- true": [str(script), "run", "--", "true"],
    }
    prefix = realtime_prefix(not args.no_realtime)
    times: dict[str, list[float]] = {name: [] for name in commands}
    with tempfile.TemporaryDirectory(prefix="tracline-startup-") as scratch:
        work = Path(scratch)
        project(work, env)
        for argv in commands.values():  # first calls: bytecode written, caches warm
            for _ in range(2):
                subprocess.run(argv, cwd=work, env=env, check=True, stdout=subprocess.DEVNULL)
        for _ in range(args.rounds):
            for name, argv in commands.items():
                start = time.perf_counter()
                subprocess.run([*prefix, *argv], cwd=work, env=env, check=True,
                               stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - start)
    base = times["python -c pass"]
    mode = "real-time priority" if prefix else "normal priority"
    print(f"start-up benchmark: {args.rounds} rounds, {os.cpu_count()} CPUs, {mode}, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"{'command':24} {'median ms':>10} {'best ms':>8} {'x pass':>7} {'goal':>7}")
    for name, measured in times.items():
        ratio = statistics.median(t / b for t, b in zip(measured, base, strict=True))
        goal_ms = GOALS_MS.get(name)
        line = (f"{name:24} {statistics.median(measured) * 1000:10.1f} "
                f"{min(measured) * 1000:8.1f} {ratio:7.1f}")
        if goal_ms is None:
            print(f"{line}  ({'baseline' if name == 'python -c pass' else 'no goal here'})")
            continue
        goal = goal_ms / REFERENCE_PASS_MS
        verdict = "ok" if ratio <= goal else "MISSED"
        print(f"{line} {goal:6.1f}x  {verdict} (goal {goal_ms:.0f} ms on a quiet machine)")


if __name__ == "__main__":
    main()
