"""A scratch git worktree to re-run recorded steps in, and the path mapping into it.

``git worktree add --detach`` checks the recorded commit out in a temporary folder: the user's
checkout, index and HEAD are never touched, and the worktree is removed afterwards. Recorded
absolute paths inside the repository map to the same relative paths inside the worktree;
outputs recorded outside it map under ``<scratch>/outside`` so nothing outside is overwritten.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from tracline.errors import ReproduceError
from tracline.lineage._common import within

__all__ = ["Scratch", "repository_root"]


def _git(*args: str, cwd: str | Path) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                              check=False, timeout=300)
    except FileNotFoundError as e:
        raise ReproduceError("git is not installed", hint="install git to re-run steps") from e
    if done.returncode != 0:
        raise ReproduceError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}",
                             hint="check that the recorded commit exists in this repository")
    return done.stdout.strip()


def repository_root(*candidates: str | None) -> Path:
    """The top folder of the git checkout containing the first existing candidate path."""
    for candidate in candidates:
        if candidate and Path(candidate).is_dir():
            try:
                return Path(_git("rev-parse", "--show-toplevel", cwd=candidate)).resolve()
            except ReproduceError:
                continue
    raise ReproduceError(
        f"no git checkout found at {', '.join(c for c in candidates if c) or 'the recorded cwd'}",
        hint="run `tracline reproduce --run` on a machine with the recorded repository")


class Scratch:
    """A temporary worktree of ``repo`` plus a folder for outputs recorded outside it."""

    def __init__(self, repo: Path) -> None:
        self.repo = repo
        self.base = Path(tempfile.mkdtemp(prefix="tracline-reproduce-")).resolve()
        self.worktree = self.base / "worktree"
        self.outside = self.base / "outside"
        self.commit: str | None = None
        #: Recorded paths outside the repository that the plan writes.
        self.redirected: set[str] = set()
        self._roots = sorted({str(repo), os.path.realpath(repo)}, key=len, reverse=True)

    def checkout(self, commit: str) -> None:
        """Have the worktree at ``commit`` (created on first use, switched afterwards)."""
        if self.commit == commit:
            return
        if self.commit is None:
            _git("worktree", "add", "--detach", "--quiet", str(self.worktree), commit,
                 cwd=self.repo)
        else:
            _git("checkout", "--detach", "--quiet", commit, cwd=self.worktree)
        self.commit = commit

    def map(self, path: str) -> str:
        """Where a recorded absolute path lives during the re-run."""
        for root in self._roots:
            if within(path, root):
                return str(self.worktree) + path[len(root):]
        if path in self.redirected or any(within(path, r) for r in self.redirected):
            return str(self.outside) + path
        return path

    def unmap(self, path: str) -> str:
        """The recorded path for a path inside the scratch area (inverse of :meth:`map`)."""
        if within(path, str(self.worktree)):
            return str(self.repo) + path[len(str(self.worktree)):]
        if within(path, str(self.outside)):
            return path[len(str(self.outside)):]
        return path

    def map_text(self, text: str) -> str:
        """An argv element with recorded paths in it mapped (``/p``, ``--out=/p``, scripts)."""
        if text.startswith(os.sep):
            return self.map(text)
        key, eq, value = text.partition("=")
        if eq and value.startswith(os.sep):
            return f"{key}={self.map(value)}"
        for root in self._roots:  # paths inside a shell script or a code string
            text = text.replace(root + os.sep, str(self.worktree) + os.sep)
        return text

    def provide(self, recorded: str, source: Path) -> None:
        """Put a copy of the user's ``source`` at the mapped place of ``recorded``."""
        target = Path(self.map(recorded))
        if target == source:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            shutil.rmtree(target)
        if source.is_dir():
            shutil.copytree(source, target, symlinks=True)
        else:
            shutil.copy2(source, target)

    def close(self) -> None:
        """Remove the worktree and everything in the scratch folder."""
        if self.commit is not None:
            try:
                _git("worktree", "remove", "--force", str(self.worktree), cwd=self.repo)
            except ReproduceError:
                pass
            subprocess.run(["git", "worktree", "prune"], cwd=self.repo, capture_output=True,
                           check=False)
        shutil.rmtree(self.base, ignore_errors=True)
