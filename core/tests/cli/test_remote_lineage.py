"""`tracline trace` and `receipt` with TRACLINE_URL set ask the team server, not the local
registry: lineage recorded on another machine is found by a path here (hashed here) or by
its digest."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lineage.project import Project
from server.team import TeamServer, make_server

from tracline.hashing import digest_path


def tracline(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tracline.cli", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sqlite_team(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """A real `tracline serve` on SQLite, with the team's tokens."""
    root = tmp_path_factory.mktemp("team")
    server = make_server(root / "server", f"sqlite:///{root / 'store.db'}")
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def recorded(sqlite_team: TeamServer, tmp_path_factory: pytest.TempPathFactory) -> Project:
    """The three-step project, run on "another machine" whose registry is the server's."""
    root = tmp_path_factory.mktemp("elsewhere")
    (root / "project").mkdir()
    project = Project(root / "project")
    config = root / "tracline.toml"
    config.write_text(f'[tracline]\nhome = "{root / "home"}"\nnamespace = "elsewhere"\n\n'
                      f'[registry]\nurl = "{sqlite_team.registry_url}"\n')
    env = {**sqlite_team.env(), "TRACLINE_CONFIG": str(config)}
    env.pop("TRACLINE_URL")
    for job, argv in (("prepare", ["prepare.py"]), ("train", ["train.py", "data/train.csv"]),
                      ("evaluate", ["evaluate.py"])):
        done = tracline("run", "--job", job, "--", sys.executable, *argv, cwd=project.root,
                        env=env)
        assert done.returncode == 0, done.stderr
    flushed = tracline("outbox", "flush", "--json", cwd=project.root, env=env)
    assert flushed.returncode == 0, flushed.stderr
    return project


@pytest.fixture
def here(sqlite_team: TeamServer, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """This machine: an empty local registry, TRACLINE_URL and chris's token."""
    config = tmp_path / "tracline.toml"
    config.write_text(f'[tracline]\nhome = "{tmp_path / "home"}"\n')
    return tmp_path, sqlite_team.env("user:chris", TRACLINE_CONFIG=str(config))


def test_trace_by_path_asks_the_server(recorded: Project, sqlite_team: TeamServer,
                                       here: tuple[Path, dict[str, str]]) -> None:
    """A path here is hashed and traced on the server: the model's lineage reaches the raw
    data through train and prepare, and the answer says where it came from."""
    cwd, env = here
    done = tracline("trace", str(recorded.model), "--json", cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    root = next(a for a in data["artifacts"] if a["id"] == data["artifact"])
    assert root["digest"] == digest_path(recorded.model).digest
    assert [r["job_name"] for r in data["runs"]] == ["prepare", "train"]
    assert sqlite_team.url in data["source"]
    tree = tracline("trace", str(recorded.model), cwd=cwd, env=env)
    assert tree.returncode == 0, tree.stderr
    assert "raw.csv" in tree.stdout and "(source)" in tree.stdout
    assert f"answered by the team server at {sqlite_team.url}" in tree.stderr


def test_receipt_by_digest_asks_the_server(recorded: Project,
                                           here: tuple[Path, dict[str, str]]) -> None:
    """A digest prefix gets the receipt from the server: the run that made the metrics, its
    recipe's command and its inputs, the same as a local receipt shows."""
    cwd, env = here
    digest = digest_path(recorded.metrics).digest
    done = tracline("receipt", digest[:20], cwd=cwd, env=env)
    assert done.returncode == 0, done.stderr
    assert "evaluate" in done.stdout and "evaluate.py" in done.stdout
    assert "model.bin" in done.stdout
    data = json.loads(tracline("receipt", digest, "--json", cwd=cwd, env=env).stdout)
    assert data["artifact"]["digest"] == digest and data["run"]["job_name"] == "evaluate"
    assert {i["name"].rsplit("/", 1)[-1] for i in data["inputs"]} >= {"model.bin", "test.csv"}


def test_local_is_still_asked_with_from_local(recorded: Project,
                                              here: tuple[Path, dict[str, str]]) -> None:
    """--from local asks this machine's registry, which has not seen the runs."""
    cwd, env = here
    done = tracline("trace", str(recorded.model), "--from", "local", "--json", cwd=cwd, env=env)
    assert done.returncode == 2
    assert json.loads(done.stdout)["error"]["type"] == "NotFound"


def test_server_errors_come_back_as_tracline_errors(sqlite_team: TeamServer,
                                                    here: tuple[Path, dict[str, str]]) -> None:
    """An unknown digest, a name that is neither a file nor a digest, and a bad token each
    give a clear error (JSON with --json), never a traceback."""
    cwd, env = here
    unknown = tracline("trace", "sha256:" + "0" * 64, "--json", cwd=cwd, env=env)
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["error"]["type"] == "NotFound"
    vague = tracline("receipt", "no-such-file.bin", cwd=cwd, env=env)
    assert vague.returncode == 2 and "neither a file here nor a content digest" in vague.stderr
    assert "Traceback" not in vague.stderr
    refused = tracline("trace", "sha256:" + "0" * 64, "--json", cwd=cwd,
                       env={**env, "TRACLINE_TOKEN": "tl_not-a-token"})
    assert refused.returncode == 2
    assert json.loads(refused.stdout)["error"]["type"] == "AuthenticationError"
