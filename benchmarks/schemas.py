"""What recording the columns of tabular files costs a `tracline run`, side by side in one run.

Run: ``.venv/core/bin/python benchmarks/schemas.py [--reps 7] [--files 200]``

Workload: one Python process reads ``--files`` CSV files (4 KiB, 5 columns) and writes a
CSV copy of each — every file is tabular, so each run reads that many schemas (up to
``[capture] schema_files``, 200). It runs under ``tracline run`` with schemas on (the default)
and off (``TRACLINE__CAPTURE__SCHEMAS=false``), the two taking turns, delivery set to ``none``
so that only the run itself is timed. Target: schemas on <= 1.1x schemas off (median of
``--reps`` runs); MISSED is printed when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PY = sys.executable
TARGET = 1.1

COPY = """
import csv, sys
for i in range(int(sys.argv[1])):
    with open(f"in/{i}.csv", newline="") as src, open(f"out/{i}.csv", "w", newline="") as dst:
        csv.writer(dst).writerows(csv.reader(src))
"""


def project(root: Path, files: int) -> None:
    (root / "in").mkdir()
    (root / "out").mkdir()
    row = "17,3.25,true,label-a,2024-01-01\n"
    for i in range(files):
        (root / "in" / f"{i}.csv").write_text("a,b,c,d,e\n" + row * (4096 // len(row)))
    (root / "copy_tables.py").write_text(COPY)


def timed(cmd: list[str], root: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--files", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracline-bench-schemas-",
                                     ignore_cleanup_errors=True) as folder:
        root = Path(folder)
        project(root, args.files)
        base = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE")}
        base["TRACLINE__CAPTURE__DELIVER"] = "none"
        envs = {"schemas off": {**base, "TRACLINE__CAPTURE__SCHEMAS": "false"},
                "schemas on": base}
        command = [PY, "-m", "tracline", "run", "--", PY, "copy_tables.py", str(args.files)]
        times: dict[str, list[float]] = {name: [] for name in envs}
        for env in envs.values():  # warm-up: page cache, pyc files, the stat cache
            timed(command, root, env)
        for _ in range(args.reps):
            for name, env in envs.items():
                times[name].append(timed(command, root, env))
    off, on = (statistics.median(times[n]) for n in ("schemas off", "schemas on"))
    ratio = on / off
    print(f"{args.files} CSV files read + {args.files} written, median of {args.reps}:")
    print(f"  tracline run, schemas off  {off * 1000:8.1f} ms")
    print(f"  tracline run, schemas on   {on * 1000:8.1f} ms  ({(on - off) * 1000:+.1f} ms)")
    verdict = "ok" if ratio <= TARGET else "MISSED"
    print(f"  ratio {ratio:.3f}x (target <= {TARGET}x): {verdict}")


if __name__ == "__main__":
    main()
