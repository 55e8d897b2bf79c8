"""A real Prefect for the tests: ``prefect server start`` on loopback with its own home and
SQLite database, a process work pool served by a real ``prefect worker`` (one flow run at a
time), and tracline's watcher — all started here, as subprocesses, once per session.

Flows are deployed from a copy of their folder (``flow.from_source(...).deploy``) and run
through the API (``run_deployment``), so every flow run is a process the worker starts, as in
production. The worker and the watcher share one tracline configuration (``tracline.toml`` in
the work folder): its outbox, registry and request store live under pytest's temporary folder,
where the session's event sweep finds them.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from uuid import UUID

import attrs

from tracline.approvals import RequestService
from tracline.config import load_config

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "prefect"
TEST_FLOWS = Path(__file__).resolve().parent / "flows"
BIN = Path(sys.executable).parent
POOL = "tracline-tests"
#: How the worker looks for flow runs to start: every second (Prefect's default is 10 s), so a
#: flow run the watcher resumed is taken within a second.
WORKER_SETTINGS = {"PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
#: The job variables of every deployment: the worker starts Prefect's engine directly, one
#: process per flow run (without a command, a workspace-preparing process starts first and
#: then becomes the engine: Python and Prefect imported twice).
JOB_VARIABLES = {"command": "python -m prefect.engine"}
_TERMINAL = {"COMPLETE", "FAIL", "ABORT"}
T = TypeVar("T")

#: Reviewers the policy knows; the request store and registry are tracline's defaults
#: (under ``home``), delivered to by the default sinks (registry + events.jsonl).
TRACLINE_TOML = """\
[tracline]
namespace = "prefect-tests"
home = "{home}"

[policy]
reviewers = ["user:chris", "user:dana"]
"""


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 300.0,
             interval: float = 0.5) -> T:
    """Poll ``check`` until it returns a value (a generous deadline, not a timing check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        time.sleep(interval)
    raise AssertionError(f"gave up waiting for {what} after {timeout:.0f} s")


def _healthy(url: str) -> bool | None:
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
        return True if r.status == 200 else None
    return None


@attrs.define
class Service:
    """A background process of the test session, its output in a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    @classmethod
    def start(cls, name: str, args: list[str], env: dict[str, str], cwd: Path,
              logs: Path) -> Service:
        log = logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(args, env=env, cwd=cwd, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        return cls(name, process, log)

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        """Stop the process and everything it started (its own session)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, 15)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, 9)
                self.process.wait()


@attrs.define
class PrefectEnv:
    """One Prefect server, worker and tracline watcher, and the flows deployed to them."""

    root: Path
    work: Path
    config: Path
    env: dict[str, str]
    api_url: str
    ui_url: str
    services: dict[str, Service] = attrs.field(factory=dict)
    deployed: dict[str, str] = attrs.field(factory=dict)

    @property
    def data(self) -> Path:
        return self.work / "data"

    @property
    def home(self) -> Path:
        return self.work / ".tracline"

    # -- services --------------------------------------------------------------------------------

    def start_watcher(self, name: str = "watcher",
                      env: dict[str, str] | None = None) -> Service:
        """Start ``tracline-prefect watch`` (``env``: extra environment, e.g. a team
        server's URL and token)."""
        service = Service.start(name, [str(BIN / "tracline-prefect"), "watch",
                                       "--poll-interval", "0.5"],
                                {**self.env, **(env or {})}, self.work, self.root)
        self.services[name] = service
        return service

    def start_worker(self, pool: str = POOL, name: str = "worker",
                     settings: dict[str, str] | None = None) -> Service:
        """Create the process work pool ``pool`` and start a worker for it that runs one flow
        run at a time (``settings``: Prefect's worker settings, :data:`WORKER_SETTINGS` by
        default)."""
        env = {**self.env, **(WORKER_SETTINGS if settings is None else settings)}
        subprocess.run([str(BIN / "prefect"), "work-pool", "create", pool, "--type", "process",
                        "--overwrite"], env=env, cwd=self.work, check=True,
                       capture_output=True, timeout=300)
        service = Service.start(name, [str(BIN / "prefect"), "worker", "start", "--pool", pool,
                                       "--type", "process", "--limit", "1"],
                                env, self.work, self.root)
        self.services[name] = service
        return service

    def stop_watcher(self, name: str = "watcher") -> None:
        service = self.services.pop(name, None)
        if service is not None:
            service.stop()

    def serve(self, name: str, port: int, *args: str,
              env: dict[str, str] | None = None) -> Service:
        """Start ``tracline serve`` on ``port`` (more options in ``args``) and wait until it
        answers."""
        service = Service.start(name, [core_cli(), "serve", "--port", str(port), *args],
                                {**self.env, **(env or {})}, self.work, self.root)
        self.services[name] = service

        def up() -> bool | None:
            if not service.running():
                raise AssertionError(f"tracline serve exited:\n{service.output()[-3000:]}")
            return _healthy(f"http://127.0.0.1:{port}/api/v1/health")

        wait_for(f"tracline serve ({name}) to start", up, timeout=180)
        return service

    def stop_service(self, name: str) -> None:
        service = self.services.pop(name, None)
        if service is not None:
            service.stop()

    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()

    # -- flows -----------------------------------------------------------------------------------

    def deploy(self, source: Path, entrypoint: str, name: str = "tests", *, pool: str = POOL,
               job_variables: dict[str, Any] | None = None) -> str:
        """Deploy ``entrypoint`` (``file.py:flow``) from a copy of ``source`` in the work
        folder to ``pool`` (``job_variables``: :data:`JOB_VARIABLES` by default); returns the
        deployment's ``flow/name``."""
        from prefect import flow

        target = self.work / "flows" / source.name
        if not target.exists():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        loaded = flow.from_source(source=str(target), entrypoint=entrypoint)
        loaded.deploy(name=name, work_pool_name=pool, print_next_steps=False,
                      ignore_warnings=True,
                      job_variables=JOB_VARIABLES if job_variables is None else job_variables)
        full = f"{loaded.name}/{name}"
        self.deployed[entrypoint] = full
        return full

    def run(self, deployment: str, *, env: dict[str, str] | None = None,
            **parameters: Any) -> UUID:
        """Start a flow run of ``deployment`` through the API (``env``: extra environment of
        its process); returns its id."""
        from prefect.deployments import run_deployment

        flow_run = run_deployment(deployment, parameters=parameters, timeout=0,
                                  job_variables={"env": env} if env else None)
        return flow_run.id

    def flow_run(self, flow_run_id: UUID) -> Any:
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return client.read_flow_run(flow_run_id)

    def wait_state(self, flow_run_id: UUID, done: Callable[[Any], bool], what: str,
                   timeout: float = 400.0) -> Any:
        """Poll the flow run until ``done(flow_run)``; fail with its logs if it ends first."""

        def check() -> Any:
            run = self.flow_run(flow_run_id)
            if done(run):
                return run
            if run.state is not None and run.state.is_final():
                raise AssertionError(f"flow run ended {run.state.name} while waiting for "
                                     f"{what}: {run.state.message}\n{self.logs(flow_run_id)}")
            return None

        try:
            return wait_for(f"{what} (flow run {flow_run_id})", check, timeout)
        except AssertionError as e:
            run = self.flow_run(flow_run_id)
            raise AssertionError(
                f"{e}; it is {run.state.name if run.state else None}: "
                f"{run.state.message if run.state else ''}\n--- its logs\n"
                f"{self.logs(flow_run_id)[-3000:]}\n--- the services\n{self.diagnose()}") from e

    def diagnose(self) -> str:
        """The tail of each service's log (for a test that gave up waiting)."""
        return "\n".join(f"[{name}{'' if s.running() else ' (exited)'}]\n{s.output()[-2500:]}"
                         for name, s in self.services.items() if name != "server")

    def wait_final(self, flow_run_id: UUID, timeout: float = 400.0) -> Any:
        return self.wait_state(flow_run_id, lambda r: r.state is not None and r.state.is_final(),
                               "its end", timeout)

    def wait_suspended(self, flow_run_id: UUID, timeout: float = 400.0) -> Any:
        return self.wait_state(flow_run_id, lambda r: r.state is not None
                               and r.state.is_paused() and r.state.name == "Suspended",
                               "the gate to suspend it", timeout)

    def states(self, flow_run_id: UUID) -> list[Any]:
        """Every state the flow run has been in, oldest first, with its timestamp."""
        from prefect.client.orchestration import get_client

        with get_client(sync_client=True) as client:
            return sorted(client.read_flow_run_states(flow_run_id), key=lambda s: s.timestamp)

    def logs(self, flow_run_id: UUID) -> str:
        """The flow run's logs, as Prefect stored them."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

        with get_client(sync_client=True) as client:
            logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(
                any_=[flow_run_id])), limit=200)
        return "\n".join(f"{log.level} {log.message}" for log in logs)

    def task_runs(self, flow_run_id: UUID) -> list[Any]:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

        with get_client(sync_client=True) as client:
            return client.read_task_runs(flow_run_filter=FlowRunFilter(
                id=FlowRunFilterId(any_=[flow_run_id])))

    def artifacts(self, flow_run_id: UUID) -> list[Any]:
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

        with get_client(sync_client=True) as client:
            return client.read_artifacts(artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])))

    def resume_without_approval(self, flow_run_id: UUID) -> None:
        """What Prefect's own "Resume" button does: resume through Prefect's API."""
        from prefect.flow_runs import resume_flow_run

        resume_flow_run(flow_run_id)

    # -- tracline --------------------------------------------------------------------------------

    def requests(self) -> RequestService:
        """The request store the gates use, opened the way a reviewer's CLI would."""
        config = load_config(environ={"TRACLINE_CONFIG": str(self.config)}, cwd=self.work)
        return RequestService(config=config)

    def events(self, flow_run_id: UUID) -> list[dict[str, Any]]:
        """The delivered events of a flow run and its task runs, once the flow run's own
        terminal event has reached the file sink (the outbox is flushed meanwhile)."""
        path, run = self.home / "events.jsonl", str(flow_run_id)

        def mine(event: dict[str, Any]) -> bool:
            parent = ((event["run"].get("facets") or {}).get("parent") or {}).get("run", {})
            return event["run"]["runId"] == run or parent.get("runId") == run

        def delivered() -> list[dict[str, Any]] | None:
            self.tracline("outbox", "flush", check=False)
            if not path.exists():
                return None
            # One line per event: a line delivered twice (the file sink's delivery is at
            # least once) is the same bytes; events built twice differ in eventTime.
            lines = dict.fromkeys(path.read_text().splitlines())
            events = [e for e in map(json.loads, lines) if mine(e)]
            ended = any(e["run"]["runId"] == run and e["eventType"] in _TERMINAL
                        for e in events)
            return events if ended else None

        return wait_for(f"the events of flow run {run}", delivered, timeout=300, interval=2)

    def tracline(self, *args: str, check: bool = True,
                 env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the tracline CLI in the work folder, with the flows' configuration."""
        result = subprocess.run([str(BIN / "tracline"), *args], env={**self.env, **(env or {})},
                                cwd=self.work,
                                capture_output=True, text=True, timeout=300)
        if check and result.returncode != 0:
            raise AssertionError(f"tracline {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result


def core_cli() -> str:
    """The CLI of core's own environment (the team server's dependencies live there)."""
    core = REPO / ".venv" / "core" / "bin" / "tracline"
    return str(core if core.exists() else BIN / "tracline")


def issue_tokens(store: str, principals: dict[str, list[str]]) -> dict[str, str]:
    """API tokens of a team server's store (a database URL): principal -> secret."""
    import datetime as dt

    from tracline.identity import TokenStore

    tokens = TokenStore(store)
    try:
        return {name: tokens.issue(name, roles, ttl=dt.timedelta(days=1)).secret
                for name, roles in principals.items()}
    finally:
        tokens.close()


def base_environment() -> dict[str, str]:
    """This process's environment without Prefect's, tracline's or OpenLineage's settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PREFECT", "TRACLINE", "OPENLINEAGE"))}
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"
    return env


def make_env(root: Path, api_port: int, prefect_home: Path) -> Iterator[PrefectEnv]:
    """Start a Prefect server, a process work pool with one worker, and tracline's watcher."""
    work = root / "work"
    (work / "data").mkdir(parents=True)
    config = work / "tracline.toml"
    config.write_text(TRACLINE_TOML.format(home=work / ".tracline"))
    api_url = f"http://127.0.0.1:{api_port}/api"
    prefect = {
        "PREFECT_HOME": str(prefect_home),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(api_port),
        # tracline's Prefect plugin: capture's interposer preloaded into flow-run processes.
        "PREFECT_PLUGINS_ENABLED": "true",
    }
    env = {**base_environment(), **prefect, "TRACLINE_CONFIG": str(config),
           "TRACLINE_EXAMPLE_DATA": str(work / "data")}
    prefect_env = PrefectEnv(root, work, config, env, api_url, f"http://127.0.0.1:{api_port}")
    try:
        server = Service.start("server", [str(BIN / "prefect"), "server", "start", "--host",
                                          "127.0.0.1", "--port", str(api_port)],
                               {**env, "PREFECT_API_URL": ""}, work, root)
        prefect_env.services["server"] = server

        def up() -> bool | None:
            if not server.running():
                raise AssertionError(f"prefect server exited:\n{server.output()[-4000:]}")
            return _healthy(f"{api_url}/health")

        wait_for("prefect server start", up, timeout=600)
        prefect_env.start_worker()
        prefect_env.start_watcher()
        yield prefect_env
    finally:
        prefect_env.stop()
