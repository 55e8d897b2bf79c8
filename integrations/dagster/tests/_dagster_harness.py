"""The Dagster tests' harness: a project folder, a real instance, events read back, waiting.

Tests wait for outcomes with :func:`wait_for` (a generous deadline, never a fixed sleep).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import dagster as dg
import pytest

from tracline.approvals import RequestService, open_requests
from tracline.capture import worker_environment
from tracline.config import Config, load_config, reset_config
from tracline.delivery import Emitter, reset_emitter
from tracline.testing import GATE_POLICY

__all__ = ["Project", "free_port", "make_project", "wait_for"]

T = TypeVar("T")
TESTS = Path(__file__).resolve().parent
DEFS = TESTS / "defs"

TRACLINE_TOML = '[tracline]\nnamespace = "dagster-tests"\n\n' + GATE_POLICY
#: The instance's settings: run monitoring enforces ``dagster/max_runtime``; sensors tick
#: in threads; no telemetry.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_monitoring:
  enabled: true
  poll_interval_seconds: 1
sensors:
  use_threads: true
  num_workers: 2
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 180.0,
             interval: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy (a deadline, not a timing test)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


class Project:
    """A project folder with tracline.toml, its data folder and a Dagster instance."""

    def __init__(self, root: Path, dagster_home: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.dagster_home = dagster_home
        self._instance: dg.DagsterInstance | None = None

    @property
    def instance(self) -> dg.DagsterInstance:
        """The Dagster instance on DAGSTER_HOME (SQLite storage under it)."""
        if self._instance is None:
            self._instance = dg.DagsterInstance.from_config(str(self.dagster_home))
        return self._instance

    def config(self) -> Config:
        """tracline's configuration of the project."""
        return load_config(cwd=self.root)

    def requests(self) -> RequestService:
        """The project's training-request service."""
        return open_requests(self.config())

    def deliver(self) -> None:
        """Deliver what the outbox holds (as `tracline outbox flush` does): one pass over the
        sinks, waiting for another deliverer that holds one (a long deadline, not a timing);
        a sink that is down keeps its events."""
        emitter = Emitter(self.config(), background=False)
        try:
            emitter.flush(600.0)
        finally:
            emitter.close()

    def events(self) -> list[dict[str, Any]]:
        """The events delivered to the project's file sink (after delivering the outbox)."""
        self.deliver()
        path = self.root / ".tracline" / "events.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def close(self) -> None:
        if self._instance is not None:
            self._instance.dispose()
            self._instance = None


def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No tracline, OpenLineage or Dagster settings inherited from the caller."""
    for key in list(os.environ):
        if key.startswith(("TRACLINE", "OPENLINEAGE", "DAGSTER")) and not key.startswith(
                "TRACLINE_TEST_"):
            monkeypatch.delenv(key)


@contextlib.contextmanager
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Project]:
    """Create the project folder and DAGSTER_HOME, and make the project the working dir."""
    clean_environment(monkeypatch)
    root, home = tmp_path / "project", tmp_path / "dagster_home"
    (root / "data").mkdir(parents=True)
    home.mkdir()
    (root / "tracline.toml").write_text(TRACLINE_TOML)
    (home / "dagster.yaml").write_text(DAGSTER_YAML)
    (root / "data" / "source.csv").write_text("id,value\n1,10\n2,20\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.chdir(root)
    reset_config()
    reset_emitter()
    made = Project(root, home)
    try:
        yield made
    finally:
        made.close()
        reset_config()
        reset_emitter()


class Service:
    """A Dagster process (daemon or webserver) on the project's instance, in its own group."""

    def __init__(self, name: str, argv: list[str], project: Project, log: Path) -> None:
        import subprocess
        import sys

        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("TRACLINE", "OPENLINEAGE", "DAGSTER"))
               or k.startswith("TRACLINE_TEST_")}
        env.update(worker_environment(env))  # run workers see native I/O (docs/dagster.md)
        env["DAGSTER_HOME"] = str(project.dagster_home)
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        self.name = name
        self.log = log
        self._handle = log.open("wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / argv[0]), *argv[1:],
             "-f", str(DEFS / "pipeline.py"), "-d", str(project.root)],
            cwd=project.root, env=env, stdout=self._handle, stderr=subprocess.STDOUT,
            start_new_session=True)

    def alive(self) -> None:
        """Fail the test with the process's log if it has died."""
        if self.process.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.process.returncode}:\n"
                        + self.log.read_text(errors="replace")[-4000:])

    def stop(self) -> None:
        """Stop the process and everything it started (code servers, run workers)."""
        import signal
        import subprocess

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self._handle.close()


@contextlib.contextmanager
def dagster_service(name: str, argv: list[str], project: Project, log: Path
                    ) -> Iterator[Service]:
    """Run a Dagster process on the test Definitions for the ``with`` block."""
    service = Service(name, argv, project, log)
    try:
        yield service
    finally:
        service.stop()
