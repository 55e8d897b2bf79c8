"""The audit hook's C part (``_speedups``) against its Python reference, line for line.

Each script runs in a real Python process with the capture bootstrap, once with the C hook
and once with ``TRACLINE_SPEEDUPS=0``; the two logs must be the same records in the
same order (process ids aside).
"""

from __future__ import annotations

import errno
import os
import re
import stat
import subprocess
import textwrap
from pathlib import Path

import pytest

from tracline.capture import _hooks
from tracline.capture._command import BOOT_DIR

from .helpers import PYTHON

#: Every kind of open the C hook handles or hands back, and the events around it.
SCRIPT = r"""
import os, subprocess, sys, threading

hooks = sys.modules["_tracline_capture_hooks"]
rec = hooks.current()
print("fast" if rec.fast is not None else "python", flush=True)
os.makedirs("sub", exist_ok=True)
for name in ("a.txt", "b.txt", "sub/c.txt"):
    with open(name, "w") as f:
        f.write(name)
open("a.txt").close()                      # read, relative
open("a.txt").close()                      # again: reported once
open(os.path.abspath("b.txt"), "rb").close()  # read, absolute
open("./sub/../b.txt").close()             # needs normalising: Python's part
open("sub//c.txt").close()
open(b"a.txt").close()                     # bytes
open(__import__("pathlib").Path("sub/c.txt")).close()  # path-like
fd = os.open("a.txt", os.O_RDONLY)
open(fd).close()                           # a descriptor: no record
open("a.txt", "a").close()                 # append to an existing file: update
open("new-append.txt", "a").close()        # append to a new file: written
open("a.txt", "r+").close()                # update
open("excl.txt", "x").close()              # exclusive create: written
os.close(os.open("rw-new.txt", os.O_RDWR | os.O_CREAT))
os.close(os.open("sub", os.O_RDONLY | os.O_DIRECTORY))  # a folder: no record
open("tab\there.txt", "w").close()         # escaped
open("back\\slash.txt", "w").close()
open(os.fsdecode(b"caf\xe9.txt"), "w").close()  # undecodable: surrogates
open("caf\u00e9-utf8.txt", "w").close()
os.rename("excl.txt", "renamed.txt")
os.remove("renamed.txt")
rec.quiet_thread = threading.get_ident()
open("b.txt", "rb").close()                # a quiet thread's open: no record
rec.quiet_thread = None
rec.files = False
open("sub/c.txt", "rb").close()            # files off: no record
rec.files = True
os.chdir("sub")
open("c.txt").close()                      # relative to the new folder
os.chdir("/")
open("etc/hostname" if os.path.exists("/etc/hostname") else "etc/passwd").close()
os.chdir(sys.argv[1])
pid = os.fork()
if pid == 0:
    open("forked.txt", "w").close()        # the child's own pid
    os._exit(0)
os.waitpid(pid, 0)
subprocess.run(["true"])
rec.active = False
open("a.txt").close()                      # inactive: no record
rec.active = True
hooks.install(sys.argv[2])                 # a new log: everything is new again
open("a.txt").close()
"""


def _boot_env(log: Path, hook: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE_CAPTURE")}
    env.update(PYTHONPATH=BOOT_DIR, TRACLINE_CAPTURE_LOG=str(log),
               TRACLINE_CAPTURE_DIR=str(log.parent), TRACLINE_CAPTURE_STRACE="",
               TRACLINE_CAPTURE_BOOT=BOOT_DIR,
               TRACLINE_SPEEDUPS="0" if hook == "python" else "1")
    return env


def _run(tmp_path: Path, hook: str, script: str) -> tuple[str, list[str], list[str]]:
    """Run ``script`` under the bootstrap; (its output, log lines, second log's lines)."""
    work = tmp_path / hook
    work.mkdir()
    log, second = tmp_path / f"{hook}.log", tmp_path / f"{hook}-2.log"
    (work / "script.py").write_text(textwrap.dedent(script))
    done = subprocess.run([PYTHON, "script.py", str(work), str(second)], cwd=work,
                          env=_boot_env(log, hook), capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout, _normal(log, work), _normal(second, work)


def _normal(log: Path, work: Path) -> list[str]:
    """The log's file records, each process id replaced by its order of appearance and the
    working folder by WORK (the interpreter's hello and module records vary by design)."""
    if not log.exists():
        return []
    pids: dict[str, str] = {}
    lines = []
    for line in log.read_bytes().decode("utf-8", "surrogateescape").splitlines():
        kind, pid, *fields = line.split("\t")
        if kind in {"H", "M"} or any("__pycache__" in f or "/lib/python" in f for f in fields):
            continue
        number = pids.setdefault(pid, f"p{len(pids)}")
        lines.append("\t".join([kind, number, *fields]).replace(str(work), "WORK"))
    return lines


def test_the_c_hook_is_built_and_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """The extension exists in the tracline package and this Python loads it (`make venvs` builds
    it: a C compiler and Python's headers are needed; hatch_build.py says why it did not)."""
    monkeypatch.delenv(_hooks.ENV_SPEEDUPS, raising=False)
    fast = _hooks.load_speedups()
    assert fast is not None, "tracline/_speedups*.so is missing or does not load"
    assert {"install", "configure", "forget", "remember", "stat_many"} <= set(dir(fast))


def test_c_and_python_hooks_write_the_same_records(tmp_path: Path) -> None:
    """Reads, writes, updates, escapes, surrogates, normalising, chdir, fork, quiet threads,
    files off, inactive, and a new log: the same records in the same order."""
    out_c, log_c, second_c = _run(tmp_path, "c", SCRIPT)
    out_py, log_py, second_py = _run(tmp_path, "python", SCRIPT)
    assert out_c.split() == ["fast"] and out_py.split() == ["python"]
    assert log_c == log_py
    assert second_c == second_py == ["R\tp0\tWORK/a.txt"]
    # The records the script was written to produce (so equal logs are not equally empty).
    kinds = {(line.split("\t")[0], line.split("\t")[2]) for line in log_c}
    for expected in [("R", "WORK/a.txt"), ("R", "WORK/b.txt"), ("R", "WORK/sub/c.txt"),
                     ("U", "WORK/a.txt"), ("W", "WORK/new-append.txt"),
                     ("W", "WORK/excl.txt"), ("W", "WORK/rw-new.txt"),
                     ("W", "WORK/tab\\there.txt"), ("W", "WORK/back\\\\slash.txt"),
                     ("W", "WORK/caf\udce9.txt"), ("W", "WORK/caf\u00e9-utf8.txt"),
                     ("N", "WORK/excl.txt"), ("D", "WORK/renamed.txt"),
                     ("W", "WORK/forked.txt")]:
        assert expected in kinds, f"{expected} not recorded"
    assert [line for line in log_c if line.startswith("R\t") and "a.txt" in line] == \
        ["R\tp0\tWORK/a.txt"]
    assert not any(line.endswith("WORK/sub") for line in log_c)
    assert any(re.fullmatch(r"R\tp0\t/etc/(hostname|passwd)", line) for line in log_c)
    forked = next(line for line in log_c if line.endswith("forked.txt"))
    assert forked.split("\t")[1] != "p0"
    assert any(line.startswith("X\tp0\t") for line in log_c)


def test_a_second_recorder_in_one_process_still_records(tmp_path: Path) -> None:
    """An in-process capture inside a captured process: the C hook has one owner, the other
    recorder falls back to a Python hook, and both logs get the file."""
    other = tmp_path / "inner.log"
    script = f"""
        import sys
        from tracline.capture import _hooks
        inner = _hooks.install({str(other)!r})
        print("fast" if inner.fast is not None else "python", flush=True)
        open("script.py").close()
    """
    out, outer, _ = _run(tmp_path, "c", script)
    assert out.split() == ["python"]
    assert "R\tp0\tWORK/script.py" in outer
    assert f"{tmp_path / 'c' / 'script.py'}" in other.read_text()


@pytest.mark.parametrize("hook", ["c", "python"])
def test_relative_paths_at_the_root(tmp_path: Path, hook: str) -> None:
    """A relative path opened in / is /name, not //name."""
    _, log, _ = _run(tmp_path, hook, """
        import os
        os.chdir("/")
        open("etc/passwd").close()
    """)
    assert "R\tp0\t/etc/passwd" in log


def test_stat_many_in_c_and_in_python_agree(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The mode and identity of each file — regular, a folder, links followed or not,
    missing, undecodable, with a NUL, relative to a folder — are the same from the C speedups
    (two threads past 512 names) and os.stat; a directory walk fingerprints alike."""
    from tracline.hashing import _file, _tree

    monkeypatch.delenv(_hooks.ENV_SPEEDUPS, raising=False)
    speedups = _hooks.load_speedups()
    assert speedups is not None
    (tmp_path / "a").write_text("a")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "a")
    (tmp_path / "dangling").symlink_to(tmp_path / "missing")
    odd = os.fsdecode(b"caf\xe9")
    (tmp_path / odd).write_text("odd")
    many = [f"f{i}" for i in range(600)]
    for name in many[::2]:
        (tmp_path / name).write_text(name)
    names = ["a", "dir", "link", "dangling", "missing", odd, "nul\0byte", "", *many]
    paths = [str(tmp_path / name) if name else "" for name in names]
    modes, keys = speedups.stat_many(paths)
    assert (modes, keys) == _file._stat_many_python(paths)
    assert keys[0] == keys[2] and keys[1] != keys[0]  # a link is its target
    assert keys[3] == keys[4] == errno.ENOENT and keys[6] == errno.EINVAL
    assert isinstance(keys[5], tuple) and isinstance(keys[8], tuple)
    assert stat.S_ISDIR(modes[1]) and stat.S_ISREG(modes[0]) and modes[4] == 0
    fd = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        relative = speedups.stat_many(names, fd, follow=False)
        assert relative == _file._stat_many_python(names, fd, follow=False)
        assert stat.S_ISLNK(relative[0][2]) and stat.S_ISLNK(relative[0][3])
    finally:
        os.close(fd)
    with pytest.raises(TypeError):
        speedups.stat_many(("not", "a", "list"))
    listing = _tree.walk(str(tmp_path))
    monkeypatch.setattr(_file, "_stat_many", _file._stat_many_python)
    again = _tree.walk(str(tmp_path))
    assert (listing.fingerprint, listing.count) == (again.fingerprint, again.count)
    assert listing.count == 303  # a, link (to a), caf\xe9, 300 of the f files
