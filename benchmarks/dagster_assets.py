"""Benchmark: a 10-asset Dagster materialisation with tracline's capture (``@traced``) and
without it, measured side by side in one run.

    .venv/dagster/bin/python benchmarks/dagster_assets.py [--rounds 5] [--rows 2000]

Each asset reads the previous asset's file and writes its own (a CSV of ``--rows`` rows), as a
pipeline of small steps does. Both variants run in this process on their own Dagster instance
(in-process executor, Dagster's ``materialize``), alternating, after one warm-up each; the
figure is the median wall time of a whole materialisation. With capture, each step also
hashes its files, sets its data version and metadata, and commits its START and COMPLETE
events to the outbox (delivery runs off the step's path). Goal: at most 1.1× plain (the same
as the Airflow DAG's per-task overhead goal); prints MISSED when missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

GOAL = 1.1
ASSETS = 10


def _body(index: int, rows: int) -> Callable[[], None]:
    def body() -> None:
        source = Path("data") / (f"a{index - 1}.csv" if index else "source.csv")
        lines = source.read_text().splitlines()
        out = [lines[0]] + [f"{line},{index}" for line in lines[1:rows + 1]]
        (Path("data") / f"a{index}.csv").write_text("\n".join(out) + "\n")

    body.__name__ = body.__qualname__ = f"a{index}"
    return body


def assets(traced: bool, rows: int) -> list[Any]:
    """Ten assets in a chain, with ``@traced`` or without."""
    import dagster as dg

    from tracline_dagster import traced as capture

    made: list[Any] = []
    for index in range(ASSETS):
        body = _body(index, rows)
        fn = capture(body) if traced else body
        made.append(dg.asset(name=f"a{index}", deps=made[-1:])(fn))
    return made


def materialise(defs: list[Any], resources: dict[str, Any], instance: Any) -> float:
    import dagster as dg

    started = time.perf_counter()
    result = dg.materialize(defs, resources=resources, instance=instance)
    elapsed = time.perf_counter() - started
    if not result.success:
        raise SystemExit("a materialisation failed")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per variant")
    parser.add_argument("--rows", type=int, default=2000, help="rows of each asset's file")
    args = parser.parse_args()

    import logging

    import dagster as dg

    from tracline_dagster import TraclineResource

    logging.getLogger("dagster").setLevel(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="tracline-dagster-bench-"))
    os.chdir(work)
    (work / "data").mkdir()
    (work / "dagster").mkdir()
    header = "id,value"
    (work / "data" / "source.csv").write_text(
        header + "\n" + "\n".join(f"{i},{i * 7 % 100}" for i in range(args.rows)) + "\n")
    (work / "tracline.toml").write_text('[tracline]\nnamespace = "bench"\n')
    variants = {
        "plain": (assets(False, args.rows), {}),
        "tracline": (assets(True, args.rows), {"tracline": TraclineResource()}),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    with dg.instance_for_test(temp_dir=str(work / "dagster")) as instance:
        for defs, resources in variants.values():  # warm-up: imports, storage
            materialise(defs, resources, instance)
        for _ in range(args.rounds):
            for name, (defs, resources) in variants.items():
                times[name].append(materialise(defs, resources, instance))
        # What was measured is real capture: the last asset's version is its file's digest.
        event = instance.get_latest_materialization_event(dg.AssetKey(f"a{ASSETS - 1}"))
        metadata = event.asset_materialization.metadata if event else {}
        if "tracline/digest" not in metadata:
            raise SystemExit("the tracline variant recorded no digest: capture did not run")
    plain, traced = (statistics.median(times[n]) for n in ("plain", "tracline"))
    ratio = traced / plain
    print(f"10-asset materialisation, {args.rows} rows per file, {args.rounds} rounds "
          f"(median wall time), Python {sys.version.split()[0]}, Dagster {dg.__version__}")
    print(f"  plain     {plain * 1000:8.0f} ms")
    print(f"  tracline  {traced * 1000:8.0f} ms   (+{(traced - plain) * 1000 / ASSETS:.0f} ms "
          "per asset)")
    verdict = "ok" if ratio <= GOAL else "MISSED"
    print(f"  ratio     {ratio:8.2f}x   goal <= {GOAL}x: {verdict}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
