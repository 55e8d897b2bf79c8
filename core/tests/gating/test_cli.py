"""`tracline run --request` through the lifecycle: the approved time limit stops the command
and fails the request; with capture off the request is still claimed and settled."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tracline.approvals import State, open_requests
from tracline.config import load_config
from tracline.testing import GATE_POLICY, conformance_request


@pytest.fixture
def root(tracline_home: Path) -> Path:
    """A project whose tracline.toml has the lifecycle suite's reviewer policy."""
    (tracline_home.parent / "tracline.toml").write_text(GATE_POLICY)
    return tracline_home.parent


def _approved(root: Path, hours: str) -> str:
    service = open_requests(load_config(cwd=root))
    try:
        request = service.file(conformance_request(hours=hours))
        service.approve(request.id, "user:chris")
        return request.id
    finally:
        service.close()


def _run(root: Path, request_id: str, code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tracline", "run", "--job", "train", "--request", request_id,
         "--", sys.executable, "-c", code],
        cwd=root, env={**os.environ, "TRACLINE__CAPTURE__DELIVER": "none", **env},
        capture_output=True, text=True, timeout=300, check=False)


def test_past_the_approved_time_the_command_is_stopped(root: Path) -> None:
    """A command still running when its approval's time is up is stopped; the request fails."""
    request_id = _approved(root, "0.0005")  # 1.8 seconds on one GPU
    marker = root / "finished"
    done = _run(root, request_id, f"import time; time.sleep(600); open({str(marker)!r}, 'w')")
    assert done.returncode != 0
    assert not marker.exists()
    service = open_requests(load_config(cwd=root))
    try:
        request = service.get(request_id)
    finally:
        service.close()
    assert request.state == State.FAILED
    assert (request.state_note or "").startswith(
        "tracline run train ran past the approved time limit of 0:00:01.800000")
    assert request.completion is not None and request.completion.measurement == "declared"


def test_with_capture_off_a_gated_run_still_claims_and_settles(root: Path) -> None:
    """TRACLINE_DISABLED turns lineage off, not the gate: the request ends at an estimate."""
    request_id = _approved(root, "0.5")
    done = _run(root, request_id, "print('trained')", TRACLINE_DISABLED="1")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "trained\n"
    assert "no GPU cost was measured or declared" in done.stderr
    service = open_requests(load_config(cwd=root))
    try:
        request = service.get(request_id)
    finally:
        service.close()
    assert request.state == State.COMPLETED
    assert request.completion is not None and request.completion.measurement == "estimated"
    assert (request.claimed_by or "").startswith("run:tracline/")
