"""Capture's interposer (``_preload.c``): what it sees, against the audit hooks it replaces.

Every test runs real processes with the library preloaded, as ``tracline run`` and an
in-process capture do: Python's own opens, native libraries' (Arrow, NumPy, HDF5), C
programs, static programs (under strace), children given an environment of their own.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tracline.capture import PRELOAD_LIBRARY
from tracline.capture._command import child_environment
from tracline.lineage import trace
from tracline.registry import Registry

from .conftest import Run
from .helpers import PYTHON, blake3_of, digests, last, names, write

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")

#: File accesses of every kind both observers report alike.
SCRIPT = r"""
import os, sys
os.makedirs("sub", exist_ok=True)
for name in ("a.txt", "b.txt", "sub/c.txt"):
    with open(name, "w") as f:
        f.write(name)
open("a.txt").close()                      # read, relative
open("a.txt").close()                      # again: reported once
open(os.path.abspath("b.txt"), "rb").close()  # read, absolute
open("./sub/../b.txt").close()             # normalised
open("sub//c.txt").close()
open(b"a.txt").close()                     # bytes
open(__import__("pathlib").Path("sub/c.txt")).close()  # path-like
open("a.txt", "a").close()                 # append to an existing file: update
open("new-append.txt", "a").close()        # append to a new file: written
open("a.txt", "r+").close()                # update
open("excl.txt", "x").close()              # exclusive create: written
os.close(os.open("rw-new.txt", os.O_RDWR | os.O_CREAT))
os.close(os.open("sub", os.O_RDONLY | os.O_DIRECTORY))  # a folder: no record
open("tab\there.txt", "w").close()         # escaped
open("back\\slash.txt", "w").close()
open(os.fsdecode(b"caf\xe9.txt"), "w").close()  # undecodable: surrogates
os.rename("excl.txt", "renamed.txt")
os.remove("renamed.txt")
os.chdir("sub")
open("c.txt").close()                      # relative to the new folder
os.chdir(sys.argv[1])
pid = os.fork()
if pid == 0:
    open("forked.txt", "w").close()        # the child's own pid
    os._exit(0)
os.waitpid(pid, 0)
"""


def _env(log: Path, *, preload: bool) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith("TRACLINE_CAPTURE") and k != "LD_PRELOAD"}
    return child_environment(base, str(log.parent), "", PRELOAD_LIBRARY if preload else "")


def _records(log: Path, work: Path) -> list[str]:
    """The log's file records in order, pids numbered by first appearance, the folder as WORK
    (the interpreter's own files, hello and module records left out)."""
    pids: dict[str, str] = {}
    lines = []
    for line in log.read_bytes().decode("utf-8", "surrogateescape").splitlines():
        kind, pid, *fields = line.split("\t")
        if kind not in "RWUDN" or not all(f.startswith(str(work)) for f in fields):
            continue
        number = pids.setdefault(pid, f"p{len(pids)}")
        lines.append("\t".join([kind, number, *fields]).replace(str(work), "WORK"))
    return lines


def _observe(tmp_path: Path, name: str, *, preload: bool) -> list[str]:
    work = tmp_path / name
    work.mkdir()
    (work / "script.py").write_text(SCRIPT)
    env = _env(work.parent / f"{name}-capture" / "hooks.log", preload=preload)
    Path(env["TRACLINE_CAPTURE_DIR"]).mkdir()
    done = subprocess.run([PYTHON, "script.py", str(work)], cwd=work, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return _records(Path(env["TRACLINE_CAPTURE_LOG"]), work)


def test_interposer_is_built_with_its_controls() -> None:
    """`make venvs` builds the interposer, and it exports the controls integrations call."""
    library = ctypes.CDLL(PRELOAD_LIBRARY)
    for name in ("tracline_capture_start", "tracline_capture_stop", "tracline_capture_quiet",
                 "tracline_capture_active"):
        assert hasattr(library, name), name


def test_interposer_and_audit_hook_record_the_same(tmp_path: Path) -> None:
    """Reads, writes, updates, escapes, undecodable names, normalising, chdir, renames,
    removals and a fork: the interposer writes the audit hook's records, in its order."""
    native = _observe(tmp_path, "native", preload=True)
    hooked = _observe(tmp_path, "hooked", preload=False)
    assert native == hooked
    kinds = {(line.split("\t")[0], line.split("\t")[2]) for line in native}
    for expected in [("R", "WORK/a.txt"), ("R", "WORK/b.txt"), ("R", "WORK/sub/c.txt"),
                     ("U", "WORK/a.txt"), ("W", "WORK/new-append.txt"),
                     ("W", "WORK/excl.txt"), ("W", "WORK/rw-new.txt"),
                     ("W", "WORK/tab\\there.txt"), ("W", "WORK/back\\\\slash.txt"),
                     ("W", "WORK/caf\udce9.txt"), ("N", "WORK/excl.txt"),
                     ("D", "WORK/renamed.txt"), ("W", "WORK/forked.txt")]:
        assert expected in kinds, f"{expected} not recorded"
    assert not any(line.endswith("WORK/sub") for line in native)
    forked = next(line for line in native if line.endswith("forked.txt"))
    assert forked.split("\t")[1] != "p0"


def test_dormant_until_started(tmp_path: Path) -> None:
    """Preloaded without a capture log it records nothing; started through its exported
    function it records this process and the children it starts; stopped, nothing more."""
    log = tmp_path / "capture" / "hooks.log"
    log.parent.mkdir()
    script = textwrap.dedent(f"""
        import ctypes, os, subprocess
        lib = ctypes.CDLL(None)
        open("before.txt", "w").close()
        assert lib.tracline_capture_active() == 0
        os.environ.update(TRACLINE_CAPTURE_LOG={str(log)!r},
                          TRACLINE_CAPTURE_DIR={str(log.parent)!r})
        assert lib.tracline_capture_start() == 1
        open("during.txt", "w").close()
        lib.tracline_capture_quiet(1)
        open("quiet.txt", "w").close()
        lib.tracline_capture_quiet(0)
        subprocess.run(["sh", "-c", "echo x > child.txt"], env={{"PATH": os.environ["PATH"]}},
                       check=True)
        lib.tracline_capture_stop()
        open("after.txt", "w").close()
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE_CAPTURE")}
    env["LD_PRELOAD"] = PRELOAD_LIBRARY
    done = subprocess.run([PYTHON, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    recorded = {line.split("\t")[2] for line in log.read_text().splitlines()
                if line.startswith("W\t")}
    assert recorded == {str(tmp_path / "during.txt"), str(tmp_path / "child.txt")}


NATIVE_STEPS = {
    "featurize.py": """
        import pandas as pd
        raw = pd.read_csv("data/raw.csv")
        raw.assign(n=raw["text"].str.len()).to_parquet("work/features.parquet")
    """,
    "arrays.py": """
        import numpy as np, pyarrow.parquet as pq
        table = pq.read_table("work/features.parquet")
        np.save("work/matrix.npy", table.column("n").to_numpy().astype("float64"))
        kept = np.memmap("work/cache.dat", dtype="float64", mode="w+", shape=(3,))
        kept[:] = np.load("work/matrix.npy")
        kept.flush()
    """,
    "store.py": """
        import h5py, numpy as np
        data = np.memmap("work/cache.dat", dtype="float64", mode="r", shape=(3,))
        with h5py.File("work/weights.h5", "w") as f:
            f["w"] = np.asarray(data) * 2
    """,
    "train.py": """
        import h5py, subprocess
        with h5py.File("work/weights.h5", "r") as f:
            total = float(f["w"][:].sum())
        subprocess.run(["./pack", "work/weights.h5", "work/model.bin"], check=True)
        open("work/score.txt", "w").write(str(total))
    """,
}
#: A C program that reads one file and writes another (the model's last step).
PACK = r"""
#include <stdio.h>
int main(int argc, char **argv) {
    FILE *in = fopen(argv[1], "rb"), *out = fopen(argv[2], "wb");
    char buf[4096]; size_t n;
    if (!in || !out) return 1;
    fputs("MODEL v1\n", out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0) fwrite(buf, 1, n, out);
    return fclose(in) || fclose(out);
}
"""


@needs_cc
def test_native_io_pipeline_is_complete(tracline_run: Run, tracline_home: Path) -> None:
    """pandas/pyarrow Parquet, NumPy save/load and memmap, HDF5 and a C program, each step
    under `tracline run`: every file with its BLAKE3 digest, and the trace of the model
    reaches the raw data."""
    pytest.importorskip("h5py")
    root = tracline_home.parent
    write(root / "data/raw.csv", "id,text\n1,hello\n2,world\n3,lineage\n")
    (root / "work").mkdir()
    for name, text in NATIVE_STEPS.items():
        write(root / name, textwrap.dedent(text))
    (root / "pack.c").write_text(PACK)
    subprocess.run(["cc", "-O1", "-o", "pack", "pack.c"], cwd=root, check=True)
    expected = {
        "featurize.py": ({"data/raw.csv"}, {"work/features.parquet"}),
        "arrays.py": ({"work/features.parquet"}, {"work/matrix.npy", "work/cache.dat"}),
        "store.py": ({"work/cache.dat"}, {"work/weights.h5"}),
        "train.py": ({"work/weights.h5"}, {"work/model.bin", "work/score.txt"}),
    }
    for script in expected:
        done = tracline_run("--", PYTHON, script)
        assert done.returncode == 0, done.stderr
    for job, (inputs, outputs) in expected.items():
        event = last(tracline_home, job)
        assert names(event["inputs"], root) == inputs, job
        assert names(event["outputs"], root) == outputs, job
        recorded = digests(event["inputs"] + event["outputs"])
        assert len(recorded) == len(inputs) + len(outputs), job
        for name, digest in recorded.items():
            assert digest == blake3_of(Path(name)), name
    registry = Registry(f"sqlite:///{tracline_home / 'tracline.db'}")
    try:
        reached = {node.name for node in trace(str(root / "work/model.bin"),
                                               registry=registry).artifacts()}
    finally:
        registry.close()
    assert str(root / "data/raw.csv") in reached


@needs_cc
def test_static_program_runs_under_strace(tracline_run: Run, tracline_home: Path,
                                          tmp_path: Path) -> None:
    """A statically linked program, which no preloaded library reaches, is followed by strace
    (its pid and exit status its own), its files recorded like any other."""
    if shutil.which("strace") is None:
        pytest.skip("needs strace")
    root = tracline_home.parent
    (root / "pack.c").write_text(PACK)
    built = subprocess.run(["cc", "-static", "-o", "pack", "pack.c"], cwd=root,
                           capture_output=True, check=False)
    if built.returncode != 0:
        pytest.skip("no static C library to link against")
    write(root / "in.bin", "payload")
    done = tracline_run("--", "sh", "-c", "./pack in.bin out.bin && cat out.bin > copy.bin")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"in.bin"}
    assert names(event["outputs"], root) == {"out.bin", "copy.bin"}


def test_child_with_its_own_environment_stays_observed(tracline_run: Run,
                                                       tracline_home: Path) -> None:
    """A child started with an environment that lacks the capture's variables (env -i,
    subprocess with env=) is still observed: the interposer adds them back."""
    root = tracline_home.parent
    write(root / "a.txt", "a")
    write(root / "p.py", "import subprocess\n"
          "subprocess.run(['/bin/sh', '-c', 'cat a.txt > b.txt'], env={}, check=True)\n"
          "subprocess.run(['env', '-i', '/bin/sh', '-c', 'cat b.txt > c.txt'], check=True)\n")
    done = tracline_run("--", PYTHON, "p.py")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"a.txt"}
    assert names(event["outputs"], root) == {"b.txt", "c.txt"}


def test_interposer_runs_in_any_python(tmp_path: Path) -> None:
    """The library has no Python in it: the system's own interpreter (not tracline's) is
    observed alike."""
    system = shutil.which("python3")
    if system is None or os.path.realpath(system) == os.path.realpath(sys.executable):
        pytest.skip("needs a second Python")
    log = tmp_path / "cap" / "hooks.log"
    log.parent.mkdir()
    env = _env(log, preload=True)
    env.pop("PYTHONPATH")
    done = subprocess.run([system, "-c", "open('x.txt', 'w').write('x')"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert any(line.endswith(f"\t{tmp_path / 'x.txt'}") for line in log.read_text().splitlines())
