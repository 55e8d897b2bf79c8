"""`tracline run` always runs the command: whatever is wrong with tracline's own state (no
state folder, read-only, full disk, a damaged outbox), one warning, the command runs, and its
exit code passes through."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import PYTHON

#: Root ignores file permissions: these drop the capabilities that let it.
AS_USER = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 \
    else []
COMMAND = [PYTHON, "-c", "open('ran', 'w').write('yes'); raise SystemExit(3)"]


def _run(root: Path, *, prefix: list[str] | None = None,
         env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline", **(env or {})}
    return subprocess.run([*(prefix or []), PYTHON, "-m", "tracline", "run", "--", *COMMAND],
                          cwd=root, env=environ, capture_output=True, text=True, timeout=120,
                          check=False)


def _ran_with_one_warning(done: subprocess.CompletedProcess[str], root: Path) -> None:
    assert done.returncode == 3, done.stderr
    assert (root / "ran").read_text() == "yes"
    warnings = [line for line in done.stderr.splitlines() if line.startswith("tracline:")]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith("tracline: warning: lineage of this run is not recorded")
    assert "Traceback" not in done.stderr


def test_no_state_folder_can_be_made(tracline_home: Path) -> None:
    """`.tracline` is a file, so no state folder can exist: the command runs regardless."""
    root = tracline_home.parent
    tracline_home.write_text("not a folder")
    _ran_with_one_warning(_run(root), root)


@pytest.mark.skipif(bool(AS_USER) and not shutil.which("setpriv"), reason="needs setpriv as root")
def test_read_only_state_folder(tracline_home: Path) -> None:
    """A state folder nobody may write: the command runs regardless."""
    root = tracline_home.parent
    tracline_home.mkdir()
    tracline_home.chmod(0o500)
    try:
        _ran_with_one_warning(_run(root, prefix=AS_USER), root)
    finally:
        tracline_home.chmod(0o700)


def test_full_disk(tracline_home: Path) -> None:
    """The state folder is on a file system with no space left (a small tmpfs, filled): the
    command runs regardless."""
    root = tracline_home.parent
    tracline_home.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs",
                              str(tracline_home)], capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {mounted.stderr.decode().strip()}")
    try:
        filler = os.open(tracline_home / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(filler, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(filler)
        _ran_with_one_warning(_run(root), root)
    finally:
        subprocess.run(["umount", "-l", str(tracline_home)], check=False)


def test_damaged_outbox(tracline_home: Path) -> None:
    """An outbox that is not a database any more: the command runs regardless."""
    root = tracline_home.parent
    tracline_home.mkdir()
    (tracline_home / "outbox.db").write_bytes(b"\x00garbage, not SQLite" * 100)
    done = _run(root)
    assert done.returncode == 3, done.stderr
    assert (root / "ran").read_text() == "yes"
    assert "Traceback" not in done.stderr
