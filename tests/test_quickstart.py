"""docs/quickstart.md, run as written: every command of the page, in order, by bash, in a fresh
home outside the repository — cloning a snapshot of this working tree, building its wheels
with `make dist`, installing them into a fresh virtual environment, and going on from there.
The output the page shows after a command must be what the command prints (digests, ids and
timestamps aside)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest
from markdown_commands import Command, Outcome, masked, page_commands, run_commands

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "quickstart.md"
CLONE_URL = "https://github.com/tracline/tracline.git"
MARQUEZ_URL = "http://localhost:5000"
MARQUEZ_SECTION = "5. See it in Marquez"
IDENTITY = {"GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
            "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com"}


def git(*args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True,
                          check=True, env={**os.environ, **IDENTITY, **(env or {})})
    return done.stdout.strip()


def snapshot_repository(where: Path) -> Path:
    """A bare repository whose main branch is this working tree as it is now (tracked and
    untracked files, .gitignore honoured): what a fresh clone of it would hold."""
    index = {"GIT_INDEX_FILE": str(where / "index")}
    git("read-tree", "HEAD", env=index)
    git("add", "-A", env=index)
    tree = git("write-tree", env=index)
    commit = git("commit-tree", tree, "-p", "HEAD", "-m", "the working tree, for the quickstart")
    bare = where / "tracline.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(bare)], check=True)
    git("push", "--quiet", str(bare), f"{commit}:refs/heads/main")
    subprocess.run(["git", "-C", str(bare), "symbolic-ref", "HEAD", "refs/heads/main"],
                   check=True)
    return bare


def reader_environment(home: Path) -> dict[str, str]:
    """A new user's environment: their own home, the system's Python and tools on PATH, no
    virtual environment or tracline setting inherited; package indexes and caches as here."""
    caches = {"PIP_CACHE_DIR": os.path.expanduser("~/.cache/pip"),
              "UV_CACHE_DIR": os.environ.get("UV_CACHE_DIR")
              or os.path.expanduser("~/.cache/uv")}
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TRACLINE", "OPENLINEAGE", "VIRTUAL_ENV", "PYTHON", "COLUMNS",
                                "AIRFLOW", "GIT_"))}
    path = os.pathsep.join([os.path.join(sys.base_prefix, "bin"), "/usr/local/bin",
                            "/usr/bin", "/bin"])
    return {**env, **caches, **IDENTITY, "HOME": str(home), "PATH": path}


def for_this_machine(command: Command, bare: Path, marquez: str | None) -> Command:
    """The page's command with the clone URL pointing at the snapshot (and Marquez's at the
    test's)."""
    text = command.text.replace(CLONE_URL, str(bare))
    if marquez:
        text = text.replace(MARQUEZ_URL, marquez.rstrip("/"))
    return attrs.evolve(command, text=text)


def failure(outcomes: list[Outcome], expected: int) -> str | None:
    """Why the run did not go through every command, if it did not."""
    if outcomes and outcomes[-1].code != 0:
        return outcomes[-1].describe()
    if len(outcomes) != expected:
        return f"only {len(outcomes)} of {expected} commands ran"
    return None


@attrs.frozen
class Walkthrough:
    home: Path
    work: Path
    outcomes: list[Outcome]
    bare: Path


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Walkthrough]:
    """The page's sections before Marquez's, run once."""
    base = tmp_path_factory.mktemp("quickstart")
    home = base / "home"
    home.mkdir()
    bare = snapshot_repository(base)
    commands = [for_this_machine(c, bare, None) for c in page_commands(PAGE.read_text())
                if c.section != MARQUEZ_SECTION]
    outcomes = run_commands(commands, cwd=home, env=reader_environment(home),
                            work=base / "steps", timeout=1800)
    reason = failure(outcomes, len(commands))
    assert reason is None, reason
    yield Walkthrough(home, base / "steps", outcomes, bare)


def test_every_command_runs_as_written(walkthrough: Walkthrough) -> None:
    """Install, capture, trace, reproduce, file/approve/claim: every command exits 0, the
    tracline used is the wheel's (installed outside the repository), and the page's sample
    output is what the commands print."""
    sections = {o.command.section for o in walkthrough.outcomes}
    assert {"1. Install", "2. Capture a run", "3. Trace it",
            "4. File and approve a training request"} <= sections
    for outcome in walkthrough.outcomes:
        if outcome.command.shown:
            assert masked("\n".join(outcome.command.shown)) == masked(outcome.stdout.rstrip()), (
                outcome.describe())
    venv = walkthrough.home / ".venvs" / "tracline"
    where = subprocess.run([str(venv / "bin" / "python"), "-c",
                            "import tracline; print(tracline.__file__)"],
                           capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(venv)) and str(ROOT) not in where


def test_the_walkthrough_left_what_the_page_says(walkthrough: Walkthrough) -> None:
    """After the page: a receipt file, the approved request completed with its cost, the
    events in .tracline/events.jsonl, and the reproduction identical."""
    project = walkthrough.home / "quickstart"
    assert "## Recipe" in (project / "model-receipt.md").read_text()
    assert (project / ".tracline" / "events.jsonl").stat().st_size > 0
    by_text = {o.command.text: o for o in walkthrough.outcomes}
    reproduced = by_text["tracline reproduce model.json --run"].stdout
    assert "reproduced: every output identical" in reproduced
    shown = [o for o in walkthrough.outcomes if o.command.text == 'tracline request show "$REQ"']
    assert "pending" in shown[0].stdout and "completed" in shown[-1].stdout
    assert "actual" in shown[-1].stdout


def test_the_marquez_section_delivers_to_marquez(walkthrough: Walkthrough,
                                                 marquez_url: str) -> None:
    """With a Marquez to talk to, the Marquez section's commands deliver the run and find its
    job there (run by the CI that has one: TRACLINE_TEST_MARQUEZ_URL; skipped with the reason
    where Marquez could not be had)."""
    marquez = marquez_url
    commands = [for_this_machine(c, walkthrough.bare, marquez)
                for c in page_commands(PAGE.read_text()) if c.section == MARQUEZ_SECTION]
    assert commands
    state = walkthrough.work
    prelude = f"source {state / 'env.sh'}\ncd \"$(cat {state / 'cwd'})\""
    outcomes = run_commands(commands, cwd=walkthrough.home,
                            env=reader_environment(walkthrough.home),
                            work=state.parent / "marquez", timeout=600, prelude=prelude)
    reason = failure(outcomes, len(commands))
    assert reason is None, reason
    assert '"name":"train"' in outcomes[-1].stdout.replace(" ", "")
