"""The recipe: git state (never blocking), packages actually imported, interpreter, host."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tracline.capture._recipe import git_info

from .conftest import Run
from .helpers import PYTHON, last, write


def _git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@e", *args],
                          cwd=root, check=True, capture_output=True, text=True).stdout.strip()


def test_git_state_clean_dirty_and_untracked(tmp_path: Path) -> None:
    """Commit and branch are read; untracked files make the run dirty without a diff digest."""
    _git(tmp_path, "init", "-q", "-b", "main")
    write(tmp_path / "train.py", "print(1)\n")
    _git(tmp_path, "add", "train.py")
    _git(tmp_path, "commit", "-q", "-m", "one")
    clean = git_info(str(tmp_path))
    assert clean is not None
    assert (clean["branch"], clean["dirty"], clean["untracked"], clean.get("diffDigest")) == \
        ("main", False, 0, None)
    assert clean["commit"] == _git(tmp_path, "rev-parse", "HEAD")
    write(tmp_path / "notes.txt", "untracked")
    untracked = git_info(str(tmp_path))
    assert untracked is not None
    assert (untracked["dirty"], untracked["untracked"], untracked.get("diffDigest")) == \
        (True, 1, None)
    write(tmp_path / "train.py", "print(2)\n")
    dirty = git_info(str(tmp_path))
    assert dirty is not None and dirty["diffDigest"].startswith("blake3:")
    write(tmp_path / "train.py", "print(3)\n")
    other = git_info(str(tmp_path))
    assert other is not None and other["diffDigest"] != dirty["diffDigest"]


def test_outside_a_repository_there_is_no_code_version(tmp_path: Path) -> None:
    """No repository: no code facet, and nothing fails."""
    assert git_info(str(tmp_path)) is None


def test_run_in_dirty_repository_is_recorded_dirty(tracline_run: Run, tracline_home: Path) -> None:
    """Uncommitted and untracked files never block a run; it is recorded as dirty."""
    root = tracline_home.parent
    _git(root, "init", "-q", "-b", "main")
    write(root / "step.py", "import json\nopen('out.json', 'w').write(json.dumps(1))\n")
    _git(root, "add", "step.py")
    _git(root, "commit", "-q", "-m", "step")
    write(root / "scratch.txt", "untracked")
    done = tracline_run("--", PYTHON, "step.py")
    assert done.returncode == 0, done.stderr
    code = last(tracline_home)["run"]["facets"]["tracline_execution"]["code"]
    assert code["commit"] == _git(root, "rev-parse", "HEAD")
    assert (code["branch"], code["dirty"], code["untracked"]) == ("main", True, 1)
    assert _git(root, "status", "--porcelain").count(".tracline") == 1  # never committed or moved


def test_packages_are_those_imported(tracline_run: Run, tracline_home: Path) -> None:
    """An imported third-party package is recorded with its version; tracline's own never."""
    import importlib.metadata

    write(tracline_home.parent / "uses.py", "import attrs, blake3, tracline\nprint('ok')\n")
    done = tracline_run("--", PYTHON, "uses.py")
    assert done.returncode == 0, done.stderr
    items = last(tracline_home)["run"]["facets"]["tracline_execution"]["packages"]["items"]
    found = {i["name"].lower(): i["version"] for i in items}
    assert found["attrs"] == importlib.metadata.version("attrs")
    assert found["blake3"] == importlib.metadata.version("blake3")
    assert not [n for n in found if n.startswith("tracline")]
    assert "click" not in found  # imported by tracline itself, not by the job
