"""`tracline run --request ID`: claims an approved request, carries its approval, records cost."""

from __future__ import annotations

from pathlib import Path

from tracline.approvals import DatasetRef, RequestSpec, open_requests
from tracline.config import load_config

from .conftest import Run
from .helpers import PYTHON, read_events, write

POLICY = """
[policy]
reviewers = ["user:chris"]
approval_ttl = "72h"
"""


def _approved(root: Path) -> str:
    service = open_requests(load_config(cwd=root))
    try:
        request = service.file(RequestSpec(
            title="Tiny fine-tune", requester="agent:trainer", project="demo",
            datasets=[DatasetRef("s3://data/cats", "sha256:" + "a" * 64)],
            gpu_model="H100", gpu_count=1, hours="0.1", budget=5,
            rationale="A small check that the run claims and settles its request.",
            reviewers=["user:chris"],
        ))
        service.approve(request.id, "user:chris")
        return request.id
    finally:
        service.close()


def test_run_claims_request_and_records_cost(tracline_run: Run, tracline_home: Path) -> None:
    """The approval rides on START; the declared cost is recorded; a second claim is refused."""
    root = tracline_home.parent
    write(root / "tracline.toml", POLICY)
    write(root / "step.py", "open('ran', 'a').write('x')\n")
    request_id = _approved(root)
    done = tracline_run("--request", request_id, "--gpus", "1", "--gpu-model", "H100", "--",
                        PYTHON, "step.py")
    assert done.returncode == 0, done.stderr
    start = next(e for e in read_events(tracline_home) if e["eventType"] == "START")
    approval = start["run"]["facets"]["tracline_approval"]
    assert approval["requestId"] == request_id
    assert approval["approvedBy"] == ["user:chris"]
    service = open_requests(load_config(cwd=root))
    try:
        request = service.get(request_id)
        assert request.state.value == "completed"
        assert request.run_id == start["run"]["runId"]
    finally:
        service.close()
    again = tracline_run("--request", request_id, "--", PYTHON, "step.py")
    assert again.returncode == 2
    assert "already claimed" in again.stderr
    assert (root / "ran").read_text() == "x"
