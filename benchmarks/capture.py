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

Each is timed as the user pays for it, whole, with tracline's default background delivery:
a `tracline run` commits its records and pokes the long-lived per-user deliverer (`python -m
tracline.delivery serve`), which builds the events and delivers them to the sinks — the local
registry included. The deliverer is started and warmed before timing (a warm-up run and its
delivery), as for a user's second run; it is not restarted during a workload. Whole wall time
runs from the start until the run's events are delivered: when the outbox records the last
sink's delivery, read once no sink has anything pending (``wait_delivered``, looking every
50 ms so as not to take a core from the deliverer); whole CPU time is the process tree's
(``wait4``: the command and tracline) plus the deliverer's CPU across the run (its /proc
figures before and after); peak memory is the larger of the tree's peak and the deliverer's
peak during the run. The foreground figure
(wall until `tracline run` returned) comes from the same runs. roar-cli runs with its preload
tracer (``--tracer preload --no-tracer-fallback``), the one of its tracers that records here.
Both tools' recorded file counts are checked against the workload's in the same run: a tool
that recorded nothing is reported as such, never as a ratio. ``--baseline`` adds another
`tracline` executable (e.g. an older checkout's) as a column, delivering inline (``deliver =
"inline"``: an older tracline has no long-lived deliverer).

Targets (whole cost, on the machine at hand): shell <= 1.5x plain, walk <= 2x, small <= 1.5x
(and <= 1.3x in the foreground), trivial <= +150 ms, 1 GiB peak memory <= roar's. Each
figure is the median of ``--reps`` runs taken in turns, so all see the same machine load;
every target is printed with ``ok`` or ``MISSED``. Targets are on wall time; the CPU ratio
beside each is printed too (on a busy machine the plain command's wall time includes waiting
for the CPU and the disk, which a wall ratio hides).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
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


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of a live process (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_of(pid: int) -> int:
    """A live process's peak resident memory (bytes) since :func:`reset_peak`."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def reset_peak(pid: int) -> None:
    """Start a new peak resident memory figure for ``pid`` (Linux: clear_refs 5)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        pass  # the peak stays the process's lifetime peak: an overstatement, never less


class Deliverer:
    """The long-lived deliverer that the project's runs poke: wait for it, count its cost."""

    def __init__(self, root: Path, env: dict[str, str]) -> None:
        from tracline.config import load_config

        self.config = load_config(env, root)

    def pid(self) -> int:
        from tracline.delivery import service_pid

        pid = service_pid(self.config)
        if pid is None:
            raise SystemExit("no long-lived deliverer runs for the project's configuration")
        return pid

    def wait(self) -> float:
        """Return once the outbox has nothing left for any sink (the deliverer delivers),
        with when the last sink recorded its delivery (``time.time()``). The outbox is looked
        at seldom, so that waiting takes no CPU from the deliverer; the time comes from the
        outbox, not from when this process looked."""
        from tracline.delivery import Outbox, wait_delivered

        wait_delivered(self.config, timeout=120, deliver=False, interval=0.05)
        names = {s.name for s in self.config.sinks}
        outbox = Outbox(self.config.outbox_path)
        try:
            return max(s.last_success_at or 0.0 for s in outbox.sink_states()
                       if s.name in names)
        finally:
            outbox.close()


class Sample:
    """One timed run: wall seconds (until delivered), wall seconds until the command returned,
    CPU seconds (the process tree and the deliverer's share), peak resident bytes."""

    def __init__(self, wall: float, fore: float, cpu: float, rss: int) -> None:
        self.wall, self.fore, self.cpu, self.rss = wall, fore, cpu, rss
        self.served = 0.0  # of ``cpu``: the deliverer's


def timed(cmd: list[str], env: dict[str, str], deliverer: Deliverer | None = None) -> Sample:
    """Run ``cmd`` (in the working directory) and measure it with its whole tree (wait4's
    rusage covers the descendants it waited for); with ``deliverer``, until that deliverer
    has delivered the run's events, its CPU and memory during the run counted too."""
    pid = deliverer.pid() if deliverer else 0
    served = 0.0
    if deliverer:
        reset_peak(pid)
        served = cpu_of(pid)
    null = os.open(os.devnull, os.O_RDWR)
    started_at = time.time()
    start = time.perf_counter()
    child = os.posix_spawnp(cmd[0], cmd, env, file_actions=[
        (os.POSIX_SPAWN_DUP2, null, 0), (os.POSIX_SPAWN_DUP2, null, 1)])
    _, status, usage = os.wait4(child, 0)
    fore = time.perf_counter() - start
    os.close(null)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({status})")
    sample = Sample(fore, fore, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
    if deliverer:
        delivered_at = deliverer.wait()
        if delivered_at < started_at:
            raise SystemExit("the outbox records no delivery since the run began: nothing to time")
        # The deliverer may finish while `tracline run` is still exiting.
        sample.wall = max(fore, delivered_at - started_at)
        if deliverer.pid() != pid:
            raise SystemExit("the deliverer restarted during a run: its CPU cannot be counted")
        sample.served = cpu_of(pid) - served
        sample.cpu += sample.served
        sample.rss = max(sample.rss, peak_of(pid))
    return sample


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
            deliverers: dict[str, Deliverer]) -> dict[str, list[Sample]]:
    """Every runner's samples of ``command``, the runners taking turns."""
    samples: dict[str, list[Sample]] = {name: [] for name in runners}
    for name, prefix in runners.items():  # warm-up: page cache, pyc files, the deliverer
        timed([*prefix, *command], envs[name])
        if name in deliverers:
            deliverers[name].wait()
    for _ in range(reps):
        for name, prefix in runners.items():
            samples[name].append(timed([*prefix, *command], envs[name], deliverers.get(name)))
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

    plain_cpu = median(samples["plain"], "cpu")

    def ratio(wall: float, base: float | None = None) -> str:
        base = plain if base is None else base
        return f"+{(wall - base) * 1000:.0f} ms" if name == "trivial" else \
            f"{wall / base:5.2f}x"

    for runner, runs in samples.items():
        if runner == "plain":
            continue
        wall, cpu = median(runs, "wall"), median(runs, "cpu")
        found = counts.get(runner.split(" ")[0] if runner.startswith("roar") else runner)
        recorded = "-" if found is None else "nothing recorded" if found == (0, 0, 0) \
            and expected != (0, 0) else f"{found[0]} in, {found[1]} out, {found[2]} digests"  # type: ignore[index]
        nothing = recorded == "nothing recorded"  # no ratio to a peer that did no work
        shown, shown_cpu = ("-", "-") if nothing else (ratio(wall), ratio(cpu, plain_cpu))
        print(f"  {runner:22} {wall * 1000:8.0f} ms wall {shown:>9}  CPU {cpu * 1000:7.0f} ms"
              f" {shown_cpu:>9}"
              f"  peak {median(runs, 'rss') / 2**20:6.0f} MiB  recorded: {recorded}")
        if runner == "tracline":
            fore = median(runs, "fore")
            print(f"  {'  of which deliverer':22} {'':8}         {'':9}      "
                  f"{median(runs, 'served') * 1000:7.0f} ms")
            print(f"  {'tracline foreground':22} {fore * 1000:8.0f} ms wall {ratio(fore):>9}  "
                  "(until `tracline run` returned, same runs)")


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
    for key in [k for k in os.environ if k.startswith("OPENLINEAGE")]:
        del os.environ[key]  # the deliverer's name follows them: this process finds the runs'
    tracline = str(Path(PY).parent / "tracline")
    runners: dict[str, list[str]] = {"plain": [], "tracline": [tracline, "run", "--"]}
    envs = {"plain": base, "tracline": base}
    deliverers = {"tracline": Deliverer(root, base)}
    if args.baseline:
        runners["baseline"] = [args.baseline, "run", "--"]
        envs["baseline"] = {**base, "TRACLINE__CAPTURE__DELIVER": "inline",
                            "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "300"}
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
    print("tracline: default background delivery, the long-lived deliverer warm before timing; "
          "wall until delivered (registry included), CPU of the tree + the deliverer's share")
    missed = 0
    for name, (command, n_in, n_out) in WORKLOADS.items():
        if args.only and name not in args.only:
            continue
        reps = max(3, args.reps // 2) if name == "1 GiB" else args.reps * (2 if name ==
                                                                           "trivial" else 1)
        samples = measure(reps, command, runners, envs, deliverers)
        counts: dict[str, object] = {}
        timed([*runners["tracline"], *command], envs["tracline"], deliverers["tracline"])
        counts["tracline"] = tracline_counts(root)
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
            fore = median(samples["tracline"], "fore")
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
    with contextlib.suppress(OSError, SystemExit):
        os.kill(deliverers["tracline"].pid(), signal.SIGTERM)  # the project goes: so does it
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
