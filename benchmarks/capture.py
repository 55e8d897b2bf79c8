"""Capture's whole cost, side by side in one run: the plain command, `tracline run`, roar.

Run: ``.venv/core/bin/python benchmarks/capture.py [--reps 5] [--no-roar] [--roar-venv DIR]
[--baseline TRACLINE] [--dir DIR]``

Workloads (in a git repository under ``--dir``, by default a new folder in the home
directory: roar's default configuration ignores everything under /tmp):

  shell    a shell loop of ``sort | uniq -c`` over 500 small files (500 in, 500 out);
  walk     a Python walk reading 3,000 small files, writing one summary (3,000 in, 1 out);
  small    2,000 small reads + 2,000 small writes, one Python process (2,000 in, 2,000 out);
  trivial  ``true``;
  1 GiB    a 1 GiB file streamed in 1 MiB reads (peak memory).

Each is timed as the user pays for it, whole: `tracline run` with ``deliver = "inline"``
(the run returns once its events are in the sinks — the local registry included), wall time
and CPU time of the whole process tree (``wait4``: the command, tracline, delivery); and, for
the foreground figure, with the default background delivery (the wait for that detached
delivery is not timed). roar-cli runs with its preload tracer (``--tracer preload
--no-tracer-fallback``), the one of its tracers that records here. Both tools' recorded
file counts are checked against the workload's in the same run: a tool that recorded
nothing is reported as such, never as a ratio. ``--baseline`` adds another `tracline`
executable (e.g. an older checkout's) as a column.

Targets (whole cost, on the machine at hand): shell <= 1.5x plain, walk <= 2x, small <= 1.5x
(and <= 1.3x in the foreground), trivial <= +150 ms, 1 GiB peak memory <= roar's. Each
figure is the median of ``--reps`` runs taken in turns, so all see the same machine load;
every target is printed with ``ok`` or ``MISSED``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

PY = sys.executable
ROAR = "roar-cli==0.4.7"
GIT = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]

SHELL = ('for f in data/shell/*.txt; do sort "$f" | uniq -c > "out/shell/${f##*/}"; done')
WALK = """
import os
total = 0
for folder, _, names in os.walk("data/walk"):
    for name in names:
        with open(os.path.join(folder, name), "rb") as f:
            total += len(f.read())
open("out/walk.txt", "w").write(str(total))
"""
SMALL = """
for i in range(2000):
    with open(f"data/small/{i}.bin", "rb") as src:
        data = src.read()
    with open(f"out/small/{i}.bin", "wb") as dst:
        dst.write(data)
"""
STREAM = """
n = 0
with open("data/big.bin", "rb") as f:
    while chunk := f.read(1 << 20):
        n += len(chunk)
assert n == 1 << 30
"""
#: name -> (command, expected inputs, expected outputs)
WORKLOADS: dict[str, tuple[list[str], int, int]] = {
    "shell": (["sh", "-c", SHELL], 500, 500),
    "walk": ([PY, "walk.py"], 3000, 1),
    "small": ([PY, "small.py"], 2000, 2000),
    "trivial": (["true"], 0, 0),
    "1 GiB": ([PY, "stream.py"], 1, 0),
}


def sh(*cmd: str, cwd: Path, env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def project(root: Path) -> None:
    """A git repository with the workloads committed and their data and outputs ignored."""
    for folder in ("data/shell", "data/small", "out/shell", "out/small"):
        (root / folder).mkdir(parents=True)
    for i in range(500):
        lines = [f"{(i * 7 + j * 13) % 50}" for j in range(100)]
        (root / "data/shell" / f"{i}.txt").write_text("\n".join(lines) + "\n")
    for i in range(3000):
        sub = root / "data/walk" / f"{i // 100:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"{i}.txt").write_bytes(os.urandom(512))
    for i in range(2000):
        (root / "data/small" / f"{i}.bin").write_bytes(os.urandom(4096))
    with open(root / "data/big.bin", "wb") as handle:
        for _ in range(16):
            handle.write(os.urandom(64 << 20))
    for name, text in {"walk.py": WALK, "small.py": SMALL, "stream.py": STREAM}.items():
        (root / name).write_text(text)
    (root / ".gitignore").write_text("data/\nout/\n.tracline/\n.roar/\n")
    sh(*GIT, "init", "-q", cwd=root)
    sh(*GIT, "add", ".", cwd=root)
    sh(*GIT, "commit", "-q", "-m", "workloads", cwd=root)
    os.sync()


def install_roar(where: Path) -> Path:
    """roar-cli from PyPI in its own virtual environment; returns its `roar` executable."""
    roar = where / "bin" / "roar"
    if not roar.exists():
        print(f"installing {ROAR} into {where} ...", flush=True)
        subprocess.run([shutil.which("python3") or PY, "-m", "venv", str(where)], check=True)
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
    """Wait (untimed) until a background delivery is done."""
    deadline = time.monotonic() + 300
    while flushers(root) and time.monotonic() < deadline:
        time.sleep(0.02)


class Sample:
    """One timed run: wall seconds, CPU seconds of the process tree, its peak RSS (bytes)."""

    def __init__(self, wall: float, cpu: float, rss: int) -> None:
        self.wall, self.cpu, self.rss = wall, cpu, rss


def timed(cmd: list[str], env: dict[str, str]) -> Sample:
    """Run ``cmd`` (in the working directory) and measure it with its whole tree (wait4's
    rusage covers the descendants it waited for: with inline delivery, all of tracline's)."""
    null = os.open(os.devnull, os.O_RDWR)
    start = time.perf_counter()
    pid = os.posix_spawnp(cmd[0], cmd, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - start
    os.close(null)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status})")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)


def tracline_counts(root: Path) -> tuple[int, int, int] | None:
    """(inputs, outputs, with digest) of the last run in tracline's local registry."""
    try:
        with sqlite3.connect(root / ".tracline" / "tracline.db") as db:
            (run_id,) = db.execute("SELECT run_id FROM runs ORDER BY ended_at DESC, rowid DESC "
                                   "LIMIT 1").fetchone()
            rows = db.execute("SELECT direction, digest FROM run_io WHERE run_id = ? AND "
                              "name LIKE ?", (run_id, f"{root}/%")).fetchall()
    except (sqlite3.Error, TypeError):
        return None
    return (sum(d == "in" for d, _ in rows), sum(d == "out" for d, _ in rows),
            sum(bool(h) for _, h in rows))


def roar_counts(root: Path) -> tuple[int, int, int] | None:
    """(inputs, outputs, with hash) of roar's last job, under the project's data folders."""
    try:
        with sqlite3.connect(root / ".roar" / "roar.db") as db:
            (job,) = db.execute("SELECT max(id) FROM jobs").fetchone()
            counts = []
            for table in ("job_inputs", "job_outputs"):
                counts.append(db.execute(
                    f"SELECT count(*) FROM {table} WHERE job_id = ? AND (path LIKE ? OR path "
                    "LIKE ?)", (job, f"{root}/data/%", f"{root}/out/%")).fetchone()[0])
    except (sqlite3.Error, TypeError):
        return None
    return counts[0], counts[1], counts[0] + counts[1]


def measure(reps: int, command: list[str], runners: dict[str, list[str]],
            envs: dict[str, dict[str, str]],
            after: dict[str, Callable[[], None]]) -> dict[str, list[Sample]]:
    """Every runner's samples of ``command``, the runners taking turns."""
    samples: dict[str, list[Sample]] = {name: [] for name in runners}
    for name, prefix in runners.items():  # warm-up: page cache, pyc files, first-run set-up
        timed([*prefix, *command], envs[name])
        after.get(name, lambda: None)()
    for _ in range(reps):
        for name, prefix in runners.items():
            samples[name].append(timed([*prefix, *command], envs[name]))
            after.get(name, lambda: None)()
    return samples


def median(samples: list[Sample], what: str) -> float:
    return statistics.median(getattr(s, what) for s in samples)


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def report(name: str, samples: dict[str, list[Sample]], counts: dict[str, object],
           expected: tuple[int, int]) -> None:
    plain = median(samples["plain"], "wall")
    print(f"\n{name}: plain {plain * 1000:.0f} ms wall, "
          f"{median(samples['plain'], 'cpu') * 1000:.0f} ms CPU; expected {expected[0]} in, "
          f"{expected[1]} out")
    for runner, runs in samples.items():
        if runner == "plain":
            continue
        wall, cpu = median(runs, "wall"), median(runs, "cpu")
        ratio = f"{wall / plain:5.2f}x" if name != "trivial" else \
            f"+{(wall - plain) * 1000:.0f} ms"
        found = counts.get(runner.split(" ")[0] if runner.startswith("roar") else runner)
        recorded = "-" if found is None else "nothing recorded" if found == (0, 0, 0) \
            and expected != (0, 0) else f"{found[0]} in, {found[1]} out, {found[2]} digests"  # type: ignore[index]
        print(f"  {runner:22} {wall * 1000:8.0f} ms wall {ratio:>9}  CPU {cpu * 1000:7.0f} ms"
              f"  peak {median(runs, 'rss') / 2**20:6.0f} MiB  recorded: {recorded}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--no-roar", action="store_true", help="skip roar (no PyPI access)")
    parser.add_argument("--roar-venv", type=Path, help="reuse roar's venv here")
    parser.add_argument("--baseline", help="another tracline executable to compare with")
    parser.add_argument("--dir", type=Path, default=Path.home(),
                        help="where to make the project (not under /tmp, which roar ignores)")
    parser.add_argument("--only", nargs="*", help="workloads to run (default: all)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tracline-bench-", dir=args.dir))
    root = work / "project"
    root.mkdir()
    project(root)
    os.chdir(root)
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("TRACLINE", "OPENLINEAGE", "PYTHONDONTWRITEBYTECODE"))
            and k != "LD_PRELOAD"}
    base["DO_NOT_TRACK"] = "1"
    tracline = str(Path(PY).parent / "tracline")
    inline = {**base, "TRACLINE__CAPTURE__DELIVER": "inline",
              "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "300"}
    runners: dict[str, list[str]] = {"plain": [], "tracline": [tracline, "run", "--"],
                                     "tracline foreground": [tracline, "run", "--"]}
    envs = {"plain": base, "tracline": inline, "tracline foreground": base}
    after = {"tracline foreground": lambda: settle(root)}
    if args.baseline:
        runners["baseline"] = [args.baseline, "run", "--"]
        envs["baseline"] = inline
    if not args.no_roar:
        roar = install_roar(args.roar_venv or work / "roar-venv")
        sh(str(roar), "init", "-y", cwd=root, env=base)
        sh("git", "add", "-A", cwd=root)
        sh(*GIT, "commit", "-q", "--allow-empty", "-m", "roar init", cwd=root)
        runners["roar preload"] = [str(roar), "run", "-q", "--tracer", "preload",
                                   "--no-tracer-fallback"]
        envs["roar preload"] = base
    load = os.getloadavg()
    print(f"{os.cpu_count()} CPUs, load {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"{args.reps} runs each; project in {root}")
    missed = 0
    for name, (command, n_in, n_out) in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        reps = max(3, args.reps // 2) if name == "1 GiB" else args.reps * (2 if name ==
                                                                           "trivial" else 1)
        samples = measure(reps, command, runners, envs, after)
        counts: dict[str, object] = {}
        timed([*runners["tracline"], *command], envs["tracline"])
        counts["tracline"] = tracline_counts(root)
        counts["tracline foreground"] = counts["tracline"]
        if "roar preload" in runners:
            timed([*runners["roar preload"], *command], base)
            counts["roar"] = roar_counts(root)
        report(name, samples, counts, (n_in, n_out))
        plain = median(samples["plain"], "wall")
        whole = median(samples["tracline"], "wall")
        checks: list[tuple[str, bool]] = []
        if name == "shell":
            checks.append(("whole <= 1.5x plain", whole / plain <= 1.5))
        elif name == "walk":
            checks.append(("whole <= 2x plain", whole / plain <= 2.0))
        elif name == "small":
            fore = median(samples["tracline foreground"], "wall")
            checks += [("whole <= 1.5x plain", whole / plain <= 1.5),
                       ("foreground <= 1.3x plain", fore / plain <= 1.3)]
        elif name == "trivial":
            checks.append(("whole <= +150 ms", (whole - plain) * 1000 <= 150))
        elif name == "1 GiB" and "roar preload" in samples:
            checks.append(("peak memory <= roar's", median(samples["tracline"], "rss")
                           <= median(samples["roar preload"], "rss")))
        found = counts["tracline"]
        checks.append(("tracline recorded every file", found is not None and
                       found[:2] == (n_in, n_out) and found[2] == n_in + n_out))  # type: ignore[index]
        for label, ok in checks:
            missed += not ok
            print(f"  target: {label:32} {verdict(ok)}")
    load = os.getloadavg()
    print(f"\nmedians; load at the end {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
          f"{missed} target(s) MISSED")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
