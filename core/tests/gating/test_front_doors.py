"""Core's two front doors of the gated-run lifecycle pass its conformance suite: the Python
API (the reference every integration builds on) and `tracline run --request`, each on SQLite
and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import tomllib
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tracline.approvals import RequestService, open_requests
from tracline.config import Config, load_config
from tracline.gating import Claim, Gate, GateClosed, Outcome, RunActor, TimeCap, Verdict
from tracline.testing import GATE_POLICY, OVERRUN_CHILD, GatedResult, GatedRunConformanceSuite


def _work(marker: Path, overrun: bool) -> None:
    with marker.open("a") as handle:
        handle.write("ran\n")
    if overrun:
        subprocess.Popen([sys.executable, "-c", OVERRUN_CHILD, str(marker)])
        time.sleep(3600)


def _capped(claim: Claim, marker: Path, overrun: bool) -> tuple[bool, float]:
    """Run the work in a thread under the claim's time limit, as an in-process orchestrator
    task would: (stopped at the limit, wall seconds)."""
    cap = TimeCap.begin(claim)
    started = time.monotonic()
    worker = threading.Thread(target=_work, args=(marker, overrun), daemon=True)
    worker.start()
    worker.join(cap.seconds)
    if worker.is_alive():  # the orchestrator's timeout would stop the task here
        cap.stop_children()
        return True, time.monotonic() - started
    return False, time.monotonic() - started


class TestPythonApi(GatedRunConformanceSuite):
    """The Gate API driven directly, waiting with its own poll loop, the work in a thread."""

    orchestrator = "python"
    waits = True
    stops_overruns = True
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
            over, wall = _capped(claim, marker, overrun)
            ok = not (fail or over)
            outcome = Outcome(succeeded=ok, wall_seconds=wall, over_time=over,
                              error="the work failed" if fail and not over else None)
            settled = gate.settle(claim, outcome)
            return GatedResult(ok, str(settled.request.state_note if settled.request else ""))
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
