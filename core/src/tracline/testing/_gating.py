"""The conformance suite of the gated-run lifecycle: what every front door of a gate promises.

Subclass :class:`GatedRunConformanceSuite` in a test module and implement the adapter: how
your front door (``tracline run --request``, an Airflow DAG, a Prefect flow, a Dagster job)
runs one piece of gated work against a request that the suite filed. The suite then checks,
through that front door and the real request store: an approved request lets the work run
once and ends completed with a cost; claims and completions are recorded with the run as
the actor while the requester stays the owner; a rejected or already-claimed request never
lets the work run and says why; failed work fails the request; a front door that waits lets
the work run only after the approval; work past its approved time is stopped, with every
process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import ClassVar

import attrs
import pytest

from tracline.approvals import DatasetRef, RequestService, RequestSpec, State, TrainingRequest
from tracline.capture import alive

__all__ = ["GATE_POLICY", "OVERRUN_CHILD", "GatedResult", "GatedRunConformanceSuite",
           "conformance_request"]

#: The ``[policy]`` a front door's tracline.toml needs for the suite (chris and dana review).
GATE_POLICY = '[policy]\nreviewers = ["user:chris", "user:dana"]\n'
_REVIEWER = "user:chris"
#: What overrunning work starts: ``python -c OVERRUN_CHILD MARKER`` writes its pid to
#: ``MARKER.child``, then keeps appending to ``MARKER.writes`` until something stops it.
OVERRUN_CHILD = (
    "import os, sys, time\n"
    "with open(sys.argv[1] + '.child', 'w') as f:\n"
    "    f.write(str(os.getpid()))\n"
    "while True:\n"
    "    with open(sys.argv[1] + '.writes', 'a') as f:\n"
    "        f.write('.')\n"
    "    time.sleep(0.05)\n"
)



def conformance_request(**changes: object) -> RequestSpec:
    """A small request the suite files: 1 × H100 for half an hour, filed by an agent."""
    fields: dict[str, object] = {
        "title": "Conformance of a gated run", "requester": "agent:trainer",
        "project": "conformance", "gpu_model": "H100", "gpu_count": 1, "hours": "0.5",
        "budget": 100, "rationale": "Checks that a front door follows the run lifecycle.",
        "datasets": [DatasetRef("s3://conformance/data", "sha256:" + "c" * 64)],
        "reviewers": [_REVIEWER], **changes,
    }
    return RequestSpec(**fields)  # type: ignore[arg-type]


@attrs.frozen
class GatedResult:
    """How the front door reported one gated run: success or not, and what it said."""

    succeeded: bool
    output: str


class GatedRunConformanceSuite:
    """Mixin of tests that hold for every front door of the gated-run lifecycle.

    Implement :meth:`requests` and :meth:`run_gated`; set :attr:`orchestrator` to the name
    your front door's :class:`tracline.gating.RunActor` uses, and :attr:`waits` to True if it
    waits for a pending request (then :meth:`run_gated` calls ``while_waiting`` once it is
    waiting).
    """

    #: The ``<orchestrator>`` of the front door's ``run:<orchestrator>/<run id>`` actors.
    orchestrator: ClassVar[str] = ""
    #: Whether the front door waits for a pending request (False: it refuses one at once).
    waits: ClassVar[bool] = False
    #: Whether :meth:`run_gated` supports ``overrun=True`` (work past its approved time).
    stops_overruns: ClassVar[bool] = False

    def requests(self) -> RequestService:  # pragma: no cover - abstract
        """A service on the request store the front door uses (the suite closes it)."""
        raise NotImplementedError

    def run_gated(self, request_id: str, *, marker: Path, fail: bool = False,
                  while_waiting: Callable[[], None] | None = None,
                  overrun: bool = False) -> GatedResult:
        """Run the gated work under ``request_id`` to its end (pragma: abstract).

        The work appends one line to ``marker`` when it runs, then fails if ``fail``. With
        ``overrun`` it then starts ``python -c OVERRUN_CHILD MARKER`` and sleeps an hour.
        """
        raise NotImplementedError  # pragma: no cover

    # -- helpers ---------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _service(self) -> Iterator[RequestService]:
        service = self.requests()
        try:
            yield service
        finally:
            service.close()

    def _file(self, *, approve: bool, **changes: object) -> str:
        with self._service() as service:
            request = service.file(conformance_request(**changes))
            if approve:
                service.approve(request.id, _REVIEWER)
            return request.id

    def _get(self, request_id: str) -> TrainingRequest:
        with self._service() as service:
            return service.get(request_id)

    @staticmethod
    def _runs(marker: Path) -> int:
        return len(marker.read_text().splitlines()) if marker.exists() else 0

    # -- the promises ----------------------------------------------------------------------------

    def test_approved_request_runs_once_and_completes(self, tmp_path: Path) -> None:
        """An approved request lets the work run once and ends completed, with a cost."""
        request_id, marker = self._file(approve=True), tmp_path / "ran"
        result = self.run_gated(request_id, marker=marker)
        assert result.succeeded, result.output[-4000:]
        assert self._runs(marker) == 1
        request = self._get(request_id)
        assert request.state == State.COMPLETED, (request.state, request.state_note)
        assert request.completion is not None
        assert request.completion.measurement in {"measured", "declared", "estimated"}
        assert request.completion.run_id == request.run_id

    def test_automated_steps_are_audited_as_the_run(self, tmp_path: Path) -> None:
        """The claim and the completion name the run as actor; the requester stays the owner."""
        request_id = self._file(approve=True)
        result = self.run_gated(request_id, marker=tmp_path / "ran")
        assert result.succeeded, result.output[-4000:]
        with self._service() as service:
            request, entries = service.get(request_id), service.audit(request_id)
        actors = {e.action: e.actor for e in entries}
        assert request.requester == "agent:trainer"
        assert actors["file"] == "agent:trainer"
        assert actors["approve"] == _REVIEWER
        prefix = f"run:{self.orchestrator}/"
        assert actors["claim"].startswith(prefix), actors
        assert actors["complete"].startswith(prefix), actors
        assert request.claimed_by == actors["claim"]

    def test_rejected_request_never_runs(self, tmp_path: Path) -> None:
        """A rejected request stops the run with the reviewer's reason; the work never runs."""
        request_id, marker = self._file(approve=False), tmp_path / "ran"
        reason = "Try the distilled model first."
        with self._service() as service:
            service.reject(request_id, _REVIEWER, reason)
        result = self.run_gated(request_id, marker=marker)
        assert not result.succeeded
        assert reason in result.output
        assert self._runs(marker) == 0
        assert self._get(request_id).state == State.REJECTED

    def test_request_claimed_by_another_run_is_refused(self, tmp_path: Path) -> None:
        """An approval already spent by another run lets nothing else through."""
        request_id, marker = self._file(approve=True), tmp_path / "ran"
        with self._service() as service:
            service.claim(request_id, "another-run")
        result = self.run_gated(request_id, marker=marker)
        assert not result.succeeded
        assert "already claimed by run another-run" in result.output
        assert self._runs(marker) == 0
        request = self._get(request_id)
        assert (request.state, request.run_id) == (State.CLAIMED, "another-run")

    def test_failed_work_fails_the_request(self, tmp_path: Path) -> None:
        """Work that fails ends the request failed, with the reason and a cost recorded."""
        request_id, marker = self._file(approve=True), tmp_path / "ran"
        result = self.run_gated(request_id, marker=marker, fail=True)
        assert not result.succeeded
        assert self._runs(marker) == 1
        request = self._get(request_id)
        assert request.state == State.FAILED, (request.state, request.state_note)
        assert request.state_note
        assert request.completion is not None

    def test_pending_request_holds_the_work(self, tmp_path: Path) -> None:
        """A pending request holds the work: it runs only after the approval (or is refused)."""
        request_id, marker = self._file(approve=False), tmp_path / "ran"
        seen: list[int] = []

        def approve() -> None:
            seen.append(self._runs(marker))
            with self._service() as service:
                service.approve(request_id, _REVIEWER)

        result = self.run_gated(request_id, marker=marker,
                                while_waiting=approve if self.waits else None)
        if not self.waits:
            assert not result.succeeded
            assert "waits for a reviewer" in result.output
            assert self._runs(marker) == 0
            assert self._get(request_id).state == State.PENDING
            return
        if not seen:
            pytest.fail("the front door never reported waiting for the pending request")
        assert seen == [0], "the work ran before the request was approved"
        assert result.succeeded, result.output[-4000:]
        assert self._runs(marker) == 1
        assert self._get(request_id).state == State.COMPLETED

    def test_past_the_approved_time_the_work_is_stopped(self, tmp_path: Path) -> None:
        """Work still running when its approved time is up is stopped, children included, and
        the request fails for that reason with the cost so far."""
        if not self.stops_overruns:
            pytest.skip(f"{type(self).__name__} does not run overrunning work")
        request_id = self._file(approve=True, hours="0.0005")  # 1.8 seconds on one GPU
        marker = tmp_path / "ran"
        result = self.run_gated(request_id, marker=marker, overrun=True)
        assert not result.succeeded
        pid_file = marker.with_name(marker.name + ".child")
        assert pid_file.exists(), "the work never started its child"
        pid = int(pid_file.read_text())
        deadline = time.monotonic() + 120
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
            pytest.fail("the work's child process outlived the approved time")
        request = self._get(request_id)
        assert request.state == State.FAILED, (request.state, request.state_note)
        assert "ran past the approved time limit of 0:00:01.800000" in (request.state_note or "")
        assert request.completion is not None
