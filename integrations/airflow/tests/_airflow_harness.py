"""A real Airflow for the tests: one AIRFLOW_HOME with a migrated SQLite database per session,
DAGs loaded from DAG files, the OpenLineage provider's transport set to tracline's, and
``tracline serve`` as the lineage backend the events are checked in.

Everything Airflow runs in subprocesses (``airflow dags test``, a DagBag script) with an
explicit environment, so the test process never inherits Airflow's global state. Anything that
could wait forever runs under ``timeout -s KILL``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import attrs

from tracline.approvals import RequestService
from tracline.capture import worker_environment
from tracline.config import load_config

REPO = Path(__file__).resolve().parents[3]
EXAMPLE_DAGS = REPO / "examples" / "airflow" / "dags"
TEST_DAGS = Path(__file__).resolve().parent / "dags"
BIN = Path(sys.executable).parent
T = TypeVar("T")

#: Reviewers policy knows; ``user:mallory`` is not one of them.
TRACLINE_TOML = """\
[tracline]
namespace = "airflow-tests"

[policy]
reviewers = ["user:chris", "user:dana"]

[sinks.serve]
type = "marquez"
url = "{serve_url}"
api_key = "{api_key}"
"""


def ingest_token(db: Path) -> str:
    """A token that may post lineage to a `tracline serve` on the SQLite file ``db``."""
    import datetime as dt

    from tracline.identity import TokenStore

    store = TokenStore(f"sqlite:///{db}")
    try:
        return store.issue("agent:airflow", ["ingest"], ttl=dt.timedelta(days=1)).secret
    finally:
        store.close()


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], T | None], timeout: float = 120.0,
             alive: DagTest | None = None) -> T:
    """Poll ``check`` until it returns a value (a deadline, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value is not None:
            return value
        if alive is not None and not alive.running():
            raise AssertionError(f"the DAG run ended while waiting for {what}:\n"
                                 f"{alive.output()[-4000:]}")
        time.sleep(0.25)
    raise AssertionError(f"gave up waiting for {what}")


@attrs.define
class DagTest:
    """An ``airflow dags test`` process running in the background, its output in a file."""

    process: subprocess.Popen[str]
    log: Path

    def running(self) -> bool:
        return self.process.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait(self, timeout: float = 400) -> int:
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@attrs.define
class Server:
    """A ``tracline serve`` process: an OpenLineage HTTP consumer feeding a registry."""

    url: str
    db: Path
    process: subprocess.Popen[bytes]

    @classmethod
    def start(cls, db: Path, env: dict[str, str], port: int | None = None) -> Server:
        port = port or free_port()
        process = subprocess.Popen(
            [str(BIN / "tracline"), "serve", "--port", str(port),
             "--registry-url", f"sqlite:///{db}"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool | None:
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"{url}/api/v1/health", timeout=1) as r:
                return True if r.status == 200 else None
            return None

        wait_for("tracline serve", healthy, timeout=180)
        return cls(url, db, process)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

    def events(self) -> list[dict[str, Any]]:
        """Every event the server took, in arrival order."""
        if not self.db.exists():
            return []
        with contextlib.closing(sqlite3.connect(self.db)) as conn:
            rows = conn.execute("SELECT payload FROM lineage_events ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]


@attrs.define
class AirflowEnv:
    """One isolated Airflow installation (home, database, DAG folder) and its tracline side."""

    root: Path
    work: Path
    data: Path
    config: Path
    env: dict[str, str]
    server: Server

    @property
    def airflow_db(self) -> Path:
        return Path(self.env["AIRFLOW_HOME"]) / "airflow.db"

    def with_env(self, **extra: str) -> dict[str, str]:
        return {**self.env, **extra}

    def run(self, *args: str, timeout: int = 300, env: dict[str, str] | None = None,
            check: bool = False) -> subprocess.CompletedProcess[str]:
        """Run a command of the environment (``airflow``, ``tracline``, ``python``)."""
        result = subprocess.run(
            ["timeout", "-s", "KILL", str(timeout), str(BIN / args[0]), *args[1:]],
            env=env or self.env, cwd=self.work, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
        return result

    def start_dag(self, dag_id: str, conf: dict[str, Any] | None = None, timeout: int = 300,
                  env: dict[str, str] | None = None) -> DagTest:
        """``airflow dags test`` in the background (it runs the triggerer inline)."""
        args = ["timeout", "-s", "KILL", str(timeout), str(BIN / "airflow"), "dags", "test",
                dag_id]
        if conf:
            args += ["-c", json.dumps(conf)]
        log = self.root / "logs" / f"{dag_id}-{time.time_ns()}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:
            process = subprocess.Popen(args, env=env or self.env, cwd=self.work, text=True,
                                       stdout=out, stderr=subprocess.STDOUT)
        return DagTest(process, log)

    def test_dag(self, dag_id: str, conf: dict[str, Any] | None = None,
                 env: dict[str, str] | None = None) -> tuple[int, str]:
        """Run a DAG to its end; return its exit status and output."""
        run = self.start_dag(dag_id, conf, env=env)
        return run.wait(), run.output()

    def parse(self, folder: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
        """Load ``folder`` into a DagBag (cluster policies applied) in a subprocess."""
        script = Path(__file__).with_name("_parse_dags.py")
        result = self.run("python", str(script), str(folder), env=env, check=True)
        return json.loads(result.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]

    def requests(self, env: dict[str, str] | None = None) -> RequestService:
        """The request store the gates of a DAG run with ``env`` (default: this environment's)
        use, resolved from that same environment and working directory as a person's CLI
        beside them would: a test cannot file into one store and gate on another."""
        config = load_config(environ=env or self.env, cwd=self.work)
        return RequestService(config=config)

    def task_state(self, dag_id: str, task_id: str) -> str | None:
        """The latest state of a task instance in Airflow's database (None: not there yet)."""
        with contextlib.suppress(sqlite3.OperationalError), \
                contextlib.closing(sqlite3.connect(self.airflow_db, timeout=5)) as conn:
            row = conn.execute(
                "SELECT state FROM task_instance WHERE dag_id = ? AND task_id = ? "
                "ORDER BY start_date DESC LIMIT 1", (dag_id, task_id)).fetchone()
            return row[0] if row else None
        return None


def make_env(root: Path) -> Iterator[AirflowEnv]:
    """Create, migrate and serve one Airflow environment; stop its server afterwards."""
    home, work = root / "airflow-home", root / "work"
    home.mkdir()
    work.mkdir()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "TRACLINE", "OPENLINEAGE"))}
    base["PATH"] = f"{BIN}{os.pathsep}{base.get('PATH', '')}"
    server = Server.start(root / "serve.db", base)
    config = work / "tracline.toml"
    config.write_text(TRACLINE_TOML.format(serve_url=server.url,
                                           api_key=ingest_token(root / "serve.db")))
    env = {
        **base,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(EXAMPLE_DAGS),
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "tracline"}),
        "AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD": "True",
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "airflow-tests",
        "AIRFLOW__TRACLINE__GATED_POOLS": "gpu",
        "AIRFLOW__TRACLINE__GATED_TAGS": "gpu",
        "AIRFLOW__TRACLINE__POLL_INTERVAL": "1",
        "TRACLINE_CONFIG": str(config),
        "TRACLINE_EXAMPLE_DATA": str(work / "data"),
        # The set-up docs/airflow.md asks for: workers start with capture's interposer
        # preloaded, so that in-process task captures see native code's files too.
        **worker_environment(base),
    }
    airflow = AirflowEnv(root, work, work / "data", config, env, server)
    airflow.run("airflow", "db", "migrate", check=True)
    try:
        yield airflow
    finally:
        server.stop()
