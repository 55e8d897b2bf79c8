"""Capture overhead, side by side in one run: the plain command, `tracline run`, `roar run`.

Run: ``.venv/core/bin/python benchmarks/capture.py [--reps 7] [--no-roar] [--roar-venv DIR]``

Workloads (Python scripts run by this interpreter, in a git repository whose data is ignored):

  (a) 2,000 small reads + 2,000 small writes (4 KiB files), one process;
  (b) one 500 MB file read by one process, digest included: ``read_bytes()`` (how loaders
      such as ``np.load``/``torch.load`` read) and a 1 MiB streaming loop; tracline's stat
      cache is emptied before each of its runs, so the file is hashed every time — and once
      more as a pipeline re-run sees it (unchanged input: its digest comes from the cache);
  (c) a trivial command: ``true`` (traced by strace) and ``python -c pass`` (audit hooks).

roar-cli 0.4.7 is installed from PyPI into its own virtual environment under a temporary
folder, in this run (``--roar-venv`` reuses one), and used as its ``--help`` shows a new user:
``roar init`` once, then ``roar run CMD``. Targets: (a) <= 1.3x, (b) <= 1.5x, (c) <= +150 ms,
and each at least 10x closer to plain than roar ("closer" = roar's overhead / tracline's).

Each figure is the median of ``--reps`` runs taken in turns (plain, tracline, roar), so all
three see the same machine; tracline's delivery (a detached ``tracline outbox flush``) is
waited for between runs, untimed.
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
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
ROAR = "roar-cli==0.4.7"

SMALL = """
import os
os.makedirs("out", exist_ok=True)
for i in range(2000):
    with open(f"small/{i}.bin", "rb") as src:
        data = src.read()
    with open(f"out/{i}.bin", "wb") as dst:
        dst.write(data)
"""
BIG = "from pathlib import Path\nassert len(Path('big.bin').read_bytes()) == 500_000_000\n"
STREAM = """
n = 0
with open("big.bin", "rb") as f:
    while chunk := f.read(1 << 20):
        n += len(chunk)
assert n == 500_000_000
"""


def sh(*cmd: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def project(root: Path) -> None:
    """A git repository with the workloads committed and their data ignored."""
    (root / "small").mkdir(parents=True)
    for i in range(2000):
        (root / "small" / f"{i}.bin").write_bytes(os.urandom(4096))
    with open(root / "big.bin", "wb") as handle:
        for _ in range(50):
            handle.write(os.urandom(10_000_000))
    for name, text in {"small_io.py": SMALL, "big_read.py": BIG, "stream.py": STREAM}.items():
        (root / name).write_text(text)
    (root / ".gitignore").write_text("small/\nout/\nbig.bin\n.tracline/\n.roar/\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
    sh(*git, "init", "-q", cwd=root)
    sh(*git, "add", ".", cwd=root)
    sh(*git, "commit", "-q", "-m", "workloads", cwd=root)
    os.sync()  # the 500 MB just written goes to disk now, not during the first measurements


def install_roar(where: Path) -> Path:
    """roar-cli from PyPI in its own virtual environment; returns its `roar` executable."""
    roar = where / "bin" / "roar"
    if not roar.exists():
        print(f"installing {ROAR} into {where} ...", flush=True)
        subprocess.run([shutil.which("python3") or sys.executable, "-m", "venv", str(where)],
                       check=True)
        subprocess.run([str(where / "bin" / "pip"), "install", "-q", ROAR], check=True)
    return roar


def flushers(root: Path) -> list[int]:
    """Detached `tracline outbox flush` processes working in ``root``."""
    found = []
    for pid in (p for p in os.listdir("/proc") if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"outbox\0flush" in cmdline and os.readlink(f"/proc/{pid}/cwd") == str(root):
                found.append(int(pid))
        except OSError:
            continue
    return found


def settle(root: Path) -> None:
    """Wait (untimed) until tracline's background delivery is done."""
    deadline = time.monotonic() + 120
    while flushers(root) and time.monotonic() < deadline:
        time.sleep(0.02)


def timed(cmd: list[str], root: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=root, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def measure(reps: int, root: Path, command: list[str], *, runners: dict[str, list[str]],
            env: dict[str, str], before: dict[str, Callable[[], None]]) -> dict[str, float]:
    """Median wall time of ``command`` under each runner, the runners taking turns."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for prefix in runners.values():  # warm-up: page cache, pyc files, first-run setup
        timed([*prefix, *command], root, env)
        settle(root)
    for _ in range(reps):
        for name, prefix in runners.items():
            if name in before:
                before[name]()
            times[name].append(timed([*prefix, *command], root, env))
            settle(root)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--no-roar", action="store_true", help="skip roar (no PyPI access)")
    parser.add_argument("--roar-venv", type=Path, help="reuse roar's venv here")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="tracline-bench-"))
    root = tmp / "project"
    project(root)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACLINE", "OPENLINEAGE", "PYTHONDONTWRITEBYTECODE"))}
    env["DO_NOT_TRACK"] = "1"
    tracline = str(Path(PY).parent / "tracline")
    runners: dict[str, list[str]] = {"plain": [], "tracline": [tracline, "run", "--"]}
    if not args.no_roar:
        roar = install_roar(args.roar_venv or tmp / "roar-venv")
        sh(str(roar), "init", "-y", cwd=root, env=env)
        sh("git", "add", "-A", cwd=root)
        sh("git", "-c", "user.name=bench", "-c", "user.email=bench@example.com", "commit",
           "-q", "--allow-empty", "-m", "roar init", cwd=root)
        runners["roar"] = [str(roar), "run", "-q"]
    def empty_stat_cache() -> None:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{root}/.tracline/statcache.db{suffix}").unlink(missing_ok=True)

    cold = {"tracline": empty_stat_cache}
    cases = [
        ("(a) 2,000 reads + 2,000 writes", [PY, "small_io.py"], args.reps, "ratio", 1.3, {}),
        ("(b) 500 MB read_bytes + hash", [PY, "big_read.py"], max(3, args.reps // 2), "ratio",
         1.5, cold),
        ("(b) 500 MB streamed + hash", [PY, "stream.py"], max(3, args.reps // 2), "ratio", 1.5,
         cold),
        ("(b) 500 MB streamed, re-run", [PY, "stream.py"], max(3, args.reps // 2), "ratio", 1.5,
         {}),
        ("(c) trivial: true", ["true"], args.reps * 2, "ms", 150.0, {}),
        ("(c) trivial: python -c pass", [PY, "-c", "pass"], args.reps * 2, "ms", 150.0, {}),
    ]
    print(f"\n{'workload':34} {'plain':>8} {'tracline':>9} {'roar':>9} {'tracline':>10} "
          f"{'roar':>10} {'closer':>7}  target")
    for label, command, reps, unit, target, before in cases:
        t = measure(reps, root, command, runners=runners, env=env, before=before)
        plain, ours, theirs = t["plain"], t["tracline"], t.get("roar")
        if unit == "ratio":
            mine, other = f"{ours / plain:.2f}x", f"{theirs / plain:.2f}x" if theirs else "-"
            ok = ours / plain <= target
        else:
            mine, other = f"+{(ours - plain) * 1000:.0f}ms", \
                f"+{(theirs - plain) * 1000:.0f}ms" if theirs else "-"
            ok = (ours - plain) * 1000 <= target
        closer = f"{(theirs - plain) / max(ours - plain, 1e-4):.0f}x" if theirs else "-"
        goal = f"<= {target:g}{'x' if unit == 'ratio' else ' ms'}"
        print(f"{label:34} {plain:8.3f} {ours:9.3f} {theirs or 0:9.3f} {mine:>10} {other:>10} "
              f"{closer:>7}  {goal} {'ok' if ok else 'MISSED'}", flush=True)
    print(f"\nmedian seconds; {os.cpu_count()} CPUs; strace: {shutil.which('strace') or 'absent'}")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
