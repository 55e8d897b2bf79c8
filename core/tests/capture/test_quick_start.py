"""`tracline run` starts the command first and sets the capture up while it runs.

Before the command only the command line (without click, for a well-formed one) and the
configuration are read; everything
else (the run's record, START, the log readers, SQLite, openlineage-python) happens once the
command has started. These tests hold that order and its consequences: bad settings still
refused before anything runs, an outbox that cannot be opened never stopping the command,
and relative paths resolved against the right folder.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import click
import pytest

from tracline.capture._command import ALGORITHMS
from tracline.cli._run import run as run_command
from tracline.hashing._digest import ALGORITHMS as HASHING_ALGORITHMS

from .conftest import Run
from .helpers import PYTHON, last, names, write


def test_capture_modes_are_the_click_choices() -> None:
    """The click command offers exactly the capture modes capture knows."""
    option = next(p for p in run_command.params if p.name == "mode")
    assert isinstance(option.type, click.Choice)
    assert tuple(option.type.choices) == ("auto", "preload", "audit", "strace")


def test_algorithms_match_hashing() -> None:
    """The algorithms checked before the command starts are those tracline.hashing offers."""
    assert set(ALGORITHMS) == set(HASHING_ALGORITHMS)


PROBE = """
import sys
from tracline.capture import _process
seen = {}
start = _process.start
def spy(*args, **kwargs):
    seen["loaded"] = sorted(m for m in ("attrs", "click", "rich", "pathlib", "subprocess",
                                         "sqlite3", "sqlalchemy", "openlineage")
                            if m in sys.modules)
    return start(*args, **kwargs)
_process.start = spy
from tracline.cli import main
code = main(["run", "--", sys.executable, "-c", "pass"])
print(code, ",".join(seen["loaded"]))
"""


def test_command_starts_before_the_heavy_imports(tracline_home: Path) -> None:
    """The command is started before click, attrs, rich, pathlib, subprocess, SQLite,
    SQLAlchemy or openlineage-python are imported."""
    done = subprocess.run([PYTHON, "-c", PROBE], cwd=tracline_home.parent, capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "none"})
    assert done.returncode == 0, done.stderr
    code, loaded = done.stdout.rstrip("\n").split(" ")
    assert code == "0"
    assert loaded == ""


def test_bad_capture_setting_is_refused_before_the_command(tracline_run: Run,
                                                           tracline_home: Path) -> None:
    """An unknown digest algorithm is one clear line, exit 2, and the command never runs."""
    root = tracline_home.parent
    done = tracline_run("--", PYTHON, "-c", "open('ran', 'w').close()",
                        env={"TRACLINE__CAPTURE__ALGORITHM": "md5"})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "tracline: error: [capture] algorithm = 'md5' in the environment "
        "(TRACLINE__CAPTURE__ALGORITHM) is not a digest algorithm; use one of blake3, sha256"]
    assert not (root / "ran").exists()


@pytest.mark.parametrize(("key", "value", "message"), [
    ("SCHEMAS", "maybe", "[capture] schemas = 'maybe' in the environment "
     "(TRACLINE__CAPTURE__SCHEMAS) is not true or false"),
    ("SCHEMA_FILES", "lots", "[capture] schema_files = 'lots' in the environment "
     "(TRACLINE__CAPTURE__SCHEMA_FILES) is not a whole number of files"),
    ("SCHEMA_FILES", "-3", "[capture] schema_files = '-3' in the environment "
     "(TRACLINE__CAPTURE__SCHEMA_FILES) is not a whole number of files"),
])
def test_bad_schema_setting_is_refused_before_the_command(
        tracline_run: Run, tracline_home: Path, key: str, value: str, message: str) -> None:
    """A [capture] schemas / schema_files value that capture could not use is named, with
    what to write instead, exit 2, before the command runs (not after it, as a lost facet)."""
    root = tracline_home.parent
    done = tracline_run("--", PYTHON, "-c", "open('ran', 'w').close()",
                        env={f"TRACLINE__CAPTURE__{key}": value})
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tracline: error: {message}; write ")
    assert not (root / "ran").exists()


def test_unopenable_outbox_never_stops_the_command(tracline_run: Run,
                                                   tracline_home: Path) -> None:
    """With an outbox that cannot be created, the command runs, its exit code passes through,
    and one warning says the run's lineage is not recorded."""
    root = tracline_home.parent
    done = tracline_run("--", PYTHON, "-c", "open('ran', 'w').close(); raise SystemExit(4)",
                        env={"TRACLINE_OUTBOX": "/proc/no-such-dir/outbox.db"})
    assert done.returncode == 4
    assert (root / "ran").exists()
    assert "tracline: warning: lineage of this run is not recorded" in done.stderr
    assert "/proc/no-such-dir/outbox.db" in done.stderr
    assert "Traceback" not in done.stderr


def test_relative_paths_follow_chdir(tracline_run: Run, tracline_home: Path) -> None:
    """A program that changes folder and opens relative paths gets them recorded where they
    are (the hooks' cached working directory follows os.chdir)."""
    root = tracline_home.parent
    write(root / "a.txt", "top\n")
    write(root / "sub" / "a.txt", "sub\n")
    write(root / "hop.py",
          "import os\n"
          "open('a.txt').read()\n"
          "os.chdir('sub')\n"
          "open('a.txt').read()\n"
          "open('b.txt', 'w').write('x')\n"
          "os.chdir('..')\n"
          "open('c.txt', 'w').write('y')\n")
    done = tracline_run("--", PYTHON, "hop.py")
    assert done.returncode == 0, done.stderr
    event = last(tracline_home)
    assert names(event["inputs"], root) == {"a.txt", "sub/a.txt"}
    assert names(event["outputs"], root) == {"sub/b.txt", "c.txt"}


def test_input_changed_by_another_process_is_reported(tracline_home: Path) -> None:
    """An input rewritten by someone else while the run goes on is recorded as it is at the
    end, with a warning that the run may have read an earlier version."""
    import time

    from .helpers import blake3_of, digests

    root = tracline_home.parent
    data = write(root / "data.txt", "first version\n")
    # Capture hashes an input soon after the run reads it: the rewrite must come after that
    # early digest (before it, the change is not one the run could notice). The run reads
    # without touching the access time (O_NOATIME); capture's read then sets it, from 0. (If
    # the rewrite lands while capture is still hashing, capture sees the input change under
    # it: the same warning.)
    os.utime(data, ns=(0, data.stat().st_mtime_ns))
    probe = write(root / "probe", "x")
    os.utime(probe, ns=(0, probe.stat().st_mtime_ns))
    probe.read_text()
    if probe.stat().st_atime_ns == 0:
        pytest.skip("this file system does not record reads (mounted noatime)")
    write(root / "reader.py",
          "import os, time\n"
          "fd = os.open('data.txt', os.O_RDONLY | os.O_NOATIME)\n"
          "os.read(fd, 1 << 16)\n"
          "os.close(fd)\n"
          "deadline = time.monotonic() + 300\n"
          "while not os.path.exists('go') and time.monotonic() < deadline:\n"
          "    time.sleep(0.01)\n")
    proc = subprocess.Popen([PYTHON, "-m", "tracline", "run", "--", PYTHON, "reader.py"],
                            cwd=root, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                                 "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"})
    deadline = time.monotonic() + 300
    while data.stat().st_atime_ns == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert data.stat().st_atime_ns != 0, "capture never hashed the input early"
    data.write_text("second version, longer\n")
    (root / "go").touch()
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"input {data} changed while the run went on" in stderr, stderr
    recorded = digests(last(tracline_home)["inputs"])
    assert recorded[str(data)] == blake3_of(data)


def test_signal_before_the_command_starts_is_passed_on() -> None:
    """A signal that reaches tracline before the command exists is held, and delivered to
    the command as soon as it has started."""
    import signal

    from tracline.capture import _process

    forwarded = _process.Forwarded()
    with _process.forward_signals(forwarded):
        os.kill(os.getpid(), signal.SIGTERM)  # handled by forward(): held, nobody to send to
        assert forwarded.held == [signal.SIGTERM]
        child = _process.start([PYTHON, "-c", "import time; time.sleep(600)"], os.environ,
                               os.getcwd(), program=PYTHON)
        forwarded.started(child)
        assert child.wait(timeout=300) == -signal.SIGTERM
    assert forwarded.held == []
