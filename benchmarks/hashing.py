"""Content hashing, side by side in one run: tracline against b3sum/sha256sum, cache against cold.

Run: ``.venv/core/bin/python benchmarks/hashing.py [--size-mib 1024] [--files 10000]``

1. One large file (1 GiB by default, in the OS page cache): tracline's blake3 and sha256 against
   Debian's ``b3sum`` and coreutils' ``sha256sum``. Target: tracline blake3 >= 0.9x b3sum.
2. Many small files (10,000 of 1-64 KiB by default): re-digesting the unchanged directory from
   the stat cache against a cold digest (empty stat cache), cold both with the files in the OS
   page cache and with them evicted from it (``posix_fadvise(DONTNEED)``, no root needed).
   Target: from cache >= 20x faster than cold.
3. Importing: a fresh ``python -c`` importing tracline's digest functions, beside one that
   imports ``blake3`` alone and one that does nothing (no target; shown so that the hashing
   path's imports stay lean). Each command runs twice untimed first, with bytecode writing
   allowed, as after ``pip install``.

Times are the best of several rounds; each round runs every contender once, in turn, and a
ratio is the median over rounds of the ratio within a round (robust to a busy machine).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from tracline.hashing import DEFAULT_WORKERS, SETTLE_NS, StatCache, digest_file, digest_path

GIB = 1 << 30


def rounds(
    runs: int,
    calls: dict[str, Callable[[], object]],
    before: dict[str, Callable[[], object]] | None = None,
) -> dict[str, list[float]]:
    """Time every call once per round, taking turns, so that all see the same machine load;
    ``before[name]``, if given, runs untimed just ahead of call ``name``."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(runs):
        for name, call in calls.items():
            if before and name in before:
                before[name]()
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return times


def paired(slow: list[float], fast: list[float]) -> float:
    """The median over rounds of slow/fast: robust to load that varies between rounds."""
    return statistics.median(s / f for s, f in zip(slow, fast, strict=True))


def cli_hex(tool: str, path: Path) -> str:
    """The hex digest printed by ``tool`` for ``path``."""
    done = subprocess.run([tool, str(path)], capture_output=True, text=True, check=True)
    return done.stdout.split()[0]


def large_file(work: Path, size: int, runs: int) -> list[tuple[str, float, str]]:
    """Rows (what, seconds, note) for hashing one ``size``-byte file."""
    path = work / "large.bin"
    with path.open("wb") as handle:
        for _ in range(size // (64 << 20)):
            handle.write(os.urandom(64 << 20))
        handle.write(os.urandom(size % (64 << 20)))
    calls: dict[str, Callable[[], object]] = {}
    for algorithm, tool in (("blake3", "b3sum"), ("sha256", "sha256sum")):
        ours = digest_file(path, algorithm, cache=False)
        calls[f"tracline {algorithm}"] = lambda a=algorithm: digest_file(path, a, cache=False)
        found = shutil.which(tool)
        if found is not None:
            assert cli_hex(found, path) == ours.hex, f"{tool} disagrees with tracline"
            calls[tool] = lambda t=found: cli_hex(t, path)
    took = rounds(runs, calls)
    rows: list[tuple[str, float, str]] = []
    for algorithm, tool in (("blake3", "b3sum"), ("sha256", "sha256sum")):
        mine = min(took[f"tracline {algorithm}"])
        rows.append((f"tracline {algorithm}", mine, f"{size / GIB / mine:.2f} GiB/s"))
        if tool not in took:
            package = {"b3sum": "b3sum", "sha256sum": "coreutils"}[tool]
            rows.append((tool, float("nan"), f"absent: apt-get install {package}"))
            continue
        theirs = min(took[tool])
        rows.append((tool, theirs, f"{size / GIB / theirs:.2f} GiB/s"))
        target = "target >= 0.9" if algorithm == "blake3" else "no target"
        ratio = paired(took[tool], took[f"tracline {algorithm}"])
        rows.append((f"  speed ratio tracline/{tool}", ratio, target))
    path.unlink()
    return rows


def many_files(work: Path, count: int, runs: int) -> list[tuple[str, float, str]]:
    """Rows for re-digesting ``count`` unchanged small files, from the cache and cold."""
    root = work / "dataset"
    rnd = random.Random(7)
    total = 0
    for i in range(count):
        folder = root / f"shard-{i % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        data = rnd.randbytes(rnd.randint(1 << 10, 64 << 10))
        (folder / f"item-{i:05d}.bin").write_bytes(data)
        total += len(data)
    os.sync()
    # Files modified within the settle window are never cached (racy timestamps): wait it out.
    time.sleep(SETTLE_NS / 1e9 + 0.2)
    paths = [p for p in root.rglob("*") if p.is_file()]

    def evict() -> None:
        for path in paths:
            fd = os.open(path, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)

    counter = iter(range(1_000_000))

    def cold(workers: int | None = None) -> Callable[[], object]:
        def run() -> object:
            cache = StatCache(work / f"cold-{next(counter)}.db")
            return digest_path(root, cache=cache, workers=workers)

        return run

    warm_db = work / "warm.db"
    expected = digest_path(root, cache=StatCache(warm_db))

    def warm() -> None:
        assert digest_path(root, cache=StatCache(warm_db)) == expected

    took = rounds(
        runs,
        {
            "threads": cold(),
            "serial": cold(1),
            "cached": warm,
            "evicted": cold(),
            "cached again": warm,
        },
        before={"evicted": evict},
    )
    cached = [min(a, b) for a, b in zip(took["cached"], took["cached again"], strict=True)]
    faster = [min(a, b) for a, b in zip(took["threads"], took["serial"], strict=True)]
    rate = "{:,.0f} files/s".format
    heading = f"small files: {count:,} of 1-64 KiB, {total / (1 << 20):.0f} MiB"
    hot = min(cached)
    return [
        (heading, math.nan, ""),
        (f"cold, page cache warm, {DEFAULT_WORKERS} threads", min(took["threads"]), ""),
        ("cold, page cache warm, 1 thread", min(took["serial"]), ""),
        (f"cold, page cache evicted, {DEFAULT_WORKERS} threads", min(took["evicted"]), ""),
        ("from the stat cache", hot, rate(count / hot)),
        ("  ratio cold(page cache warm, faster)/cached", paired(faster, cached), "target >= 20"),
        (
            "  ratio cold(page cache evicted)/cached",
            paired(took["evicted"], cached),
            "target >= 20",
        ),
    ]


#: What each import row runs with ``python -c``.
IMPORTS = {
    "python -c pass": "pass",
    "import blake3": "import blake3",
    "import tracline.hashing": "import tracline.hashing",
    "from tracline.hashing import digest_path, StatCache": (
        "from tracline.hashing import digest_path, StatCache"
    ),
}


def imports(runs: int) -> list[tuple[str, float, str]]:
    """Rows for the start-up cost of importing tracline's hashing, in fresh interpreters."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

    def command(code: str) -> Callable[[], object]:
        return lambda: subprocess.run([sys.executable, "-c", code], env=env, check=True)

    calls = {what: command(code) for what, code in IMPORTS.items()}
    rounds(2, calls)  # bytecode written, files in the page cache
    took = rounds(max(runs, 11), calls)
    rows: list[tuple[str, float, str]] = [("imports, fresh interpreters", math.nan, "")]
    for what in IMPORTS:
        extra = statistics.median(t - p for t, p in zip(took[what], took["python -c pass"],
                                                        strict=True))
        note = "" if what == "python -c pass" else f"+{extra * 1000:.1f} ms over pass (median)"
        rows.append((what, min(took[what]), note))
    return rows


def main() -> None:
    """Run both benchmarks in a temporary directory and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024, help="large file size")
    parser.add_argument("--files", type=int, default=10_000, help="number of small files")
    parser.add_argument("--runs", type=int, default=7, help="rounds (each times every contender)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracline-bench-") as tmp:
        work = Path(tmp)
        rows = [(f"one file of {args.size_mib} MiB, in the page cache", float("nan"), "")]
        rows += large_file(work, args.size_mib << 20, args.runs)
        rows += many_files(work, args.files, args.runs)
        rows += imports(args.runs)
    print(f"hashing benchmark: {os.cpu_count()} CPU cores, {args.runs} rounds")
    width = max(len(what) for what, _, _ in rows)
    for what, value, note in rows:
        if math.isnan(value):  # a heading, or a tool that is not installed
            print(f"{what:<{width}}  {'-':>11}  {note}" if note else what)
            continue
        shown = f"{value:8.2f}x" if what.startswith("  ") else f"{value * 1000:8.1f} ms"
        if note.startswith("target >= "):
            note += " ok" if value >= float(note.split(">= ")[1]) else " MISSED"
        print(f"{what:<{width}}  {shown}  {note}")
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
