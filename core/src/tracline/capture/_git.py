"""The git state of the code a run executes, read before the command starts.

No ``subprocess`` (slow to import), and the three git processes run at once: this is on
the path between ``tracline run`` and the user's command. Git is read without taking its index lock
(``GIT_OPTIONAL_LOCKS=0``) and never refuses a run: uncommitted changes and untracked files
only make the run ``dirty``, with the digest of ``git diff HEAD`` when tracked files changed.
"""

from __future__ import annotations

import os

from tracline.capture import _process

__all__ = ["ask_git", "git_answer", "git_state"]

_GIT_ENV = {"GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}
#: Status entries of tracked files in ``git status --porcelain=v2``: changed, renamed or
#: copied (followed by the original path), unmerged.
_TRACKED = ("1 ", "2 ", "u ")


def _start(cwd: str, *args: str) -> tuple[int, int] | None:
    # no git, or no such folder: the run is recorded without a code version
    return _process.output(["git", "-C", cwd, *args], {**os.environ, **_GIT_ENV})


_Started = tuple[int, int] | None


def ask_git(cwd: str) -> tuple[str, _Started, _Started, _Started]:
    """Start the three git processes (they answer while the caller does other work)."""
    return (cwd,
            _start(cwd, "status", "--porcelain=v2", "--branch", "-z", "--untracked-files=normal"),
            _start(cwd, "rev-parse", "--show-toplevel"),
            _start(cwd, "config", "--get", "remote.origin.url"))


def git_state(cwd: str, home: str | None = None) -> dict[str, object] | None:
    """``CodeVersion``'s fields for the repository at ``cwd`` (None outside a repository).

    ``home``: tracline's folder, whose untracked files do not make a run dirty. The remote
    URL is returned as git has it: the caller redacts credentials before it is recorded.
    """
    return git_answer(ask_git(cwd), home)


def git_answer(asked: tuple[str, _Started, _Started, _Started],
               home: str | None = None) -> dict[str, object] | None:
    """:func:`git_state` from the processes :func:`ask_git` started."""
    cwd, status, top, remote = asked
    rc, listing = _process.collect(status)
    rc_top, top_out = _process.collect(top)
    rc_url, url = _process.collect(remote)
    if rc != 0 or rc_top != 0:
        return None
    root = top_out.decode("utf-8", "surrogateescape").strip()
    skip = os.path.relpath(home, root) + "/" if home and home.startswith(root + "/") else None
    commit = branch = None
    tracked = untracked = 0
    entries = iter(listing.decode("utf-8", "surrogateescape").split("\0"))
    for entry in entries:
        if entry.startswith("# branch.oid "):
            commit = None if entry.endswith("(initial)") else entry.split()[-1]
        elif entry.startswith("# branch.head "):
            branch = None if entry.endswith("(detached)") else entry[len("# branch.head "):]
        elif entry.startswith(_TRACKED):
            tracked += 1
            if entry.startswith("2 "):
                next(entries, None)  # the original path of a rename or copy
        elif entry.startswith("? "):
            path = entry[2:]
            if skip is None or not (path + "/").startswith(skip):
                untracked += 1
    state: dict[str, object] = {
        "repository": url.decode("utf-8", "replace").strip() if rc_url == 0 else "",
        "root": root, "commit": commit, "branch": branch, "untracked": untracked,
        "dirty": bool(tracked or untracked) or commit is None, "diffDigest": None,
    }
    if tracked and commit:
        diff_started = _start(cwd, "diff", "HEAD", "--binary", "--no-ext-diff", "--no-color")
        rc, diff = _process.collect(diff_started)
        if rc == 0:
            import blake3

            state["diffDigest"] = "blake3:" + blake3.blake3(diff).hexdigest()
    return state
