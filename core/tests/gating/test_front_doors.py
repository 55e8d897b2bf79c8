"""Core's two front doors of the gated-run lifecycle pass its conformance suite: the Python
API (the reference every integration builds on) and `tracline run --request`, each on SQLite
and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tracline.approvals import RequestService, open_requests
from tracline.config import Config, load_config
from tracline.gating import Gate, GateClosed, Outcome, RunActor, Verdict
from tracline.testing import GATE_POLICY, OVERRUN_CHILD, GatedResult, GatedRunConformanceSuite


class TestPythonApi(GatedRunConformanceSuite):
    """The Gate API driven directly, waiting with its own poll loop."""

    orchestrator = "python"
    waits = True
    url: str

    @pytest.fixture(autouse=True)
    def _store(self, store_url: str) -> None:
        self.url = store_url

    def requests(self) -> RequestService:
        """A service on the test's store with the suite's policy."""
        return RequestService(self.url, Config(sections=tomllib.loads(GATE_POLICY)))

    def run_gated(self, request_id: str, *, marker: Path, fail: bool = False,
                  while_waiting: Callable[[], None] | None = None,
                  overrun: bool = False) -> GatedResult:
        """File nothing, decide, wait, claim, do the work, settle: the lifecycle by hand."""
        key = str(uuid.uuid4())
        service = self.requests()
        gate = Gate(service, key=key, actor=RunActor("python", key, "conformance work"))
        try:
            if gate.decide(request_id).verdict == Verdict.WAIT and while_waiting is not None:
                while_waiting()
                gate.wait(request_id, poll_interval=0.05, timeout=120)
            claim = gate.claim(request_id)
            started = time.monotonic()
            with marker.open("a") as handle:
                handle.write("ran\n")
            outcome = Outcome(succeeded=not fail, wall_seconds=time.monotonic() - started,
                              error="the work failed" if fail else None)
            gate.settle(claim, outcome)
            return GatedResult(not fail, "the work failed" if fail else "done")
        except GateClosed as e:
            return GatedResult(False, str(e))
        finally:
            service.close()


class TestTraclineRun(GatedRunConformanceSuite):
    """`tracline run --request ID -- CMD` as a real process; it never waits."""

    orchestrator = "tracline"
    waits = False
    stops_overruns = True
    root: Path

    @pytest.fixture(autouse=True)
    def _project(self, tracline_home: Path, store_url: str) -> None:
        self.root = tracline_home.parent
        (self.root / "tracline.toml").write_text(
            f'{GATE_POLICY}\n[requests]\nurl = "{store_url}"\n')

    def requests(self) -> RequestService:
        """The store the project's tracline.toml names."""
        return open_requests(load_config(cwd=self.root))

    def run_gated(self, request_id: str, *, marker: Path, fail: bool = False,
                  while_waiting: Callable[[], None] | None = None,
                  overrun: bool = False) -> GatedResult:
        """Run a small Python command under the request."""
        work = f"import sys; open({str(marker)!r}, 'a').write('ran\\n')\n"
        if overrun:
            work += (f"import subprocess, time\nsubprocess.Popen([sys.executable, '-c', "
                     f"{OVERRUN_CHILD!r}, {str(marker)!r}])\ntime.sleep(3600)\n")
        work += f"sys.exit({1 if fail else 0})\n"
        done = subprocess.run(
            [sys.executable, "-m", "tracline", "run", "--request", request_id, "--",
             sys.executable, "-c", work],
            cwd=self.root, env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "inline",
                               "TRACLINE__OUTBOX__FLUSH_TIMEOUT": "120"},
            capture_output=True, text=True, timeout=300, check=False)
        return GatedResult(done.returncode == 0, done.stdout + done.stderr)
