"""The example flow behind its approval gate, on a real Prefect server and process worker:
suspended with nothing held while pending, resumed by tracline's watcher once approved,
failed with the reviewer's reason when rejected, never let through by Prefect's own resume,
and stopped — its process tree too — past the approved time."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from _prefect_harness import EXAMPLE, TEST_FLOWS, PrefectEnv, wait_for

from tracline.approvals import DatasetRef, RequestSpec, State


@pytest.fixture(scope="module")
def example(prefect_env: PrefectEnv) -> str:
    """The example flow, deployed to the session's work pool."""
    return prefect_env.deploy(EXAMPLE, "train_pipeline.py:train_pipeline")


@pytest.fixture(scope="module")
def tiny(prefect_env: PrefectEnv) -> str:
    """A flow that needs the worker's only slot."""
    return prefect_env.deploy(TEST_FLOWS, "tiny.py:tiny", name="tiny")


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rfind(")") + 2:][:1] not in ("Z", "X")


def _infrastructure_pid(run: Any) -> int | None:
    value = run.infrastructure_pid
    return int(str(value).rsplit(":", 1)[-1]) if value else None


def _request_of(prefect_env: PrefectEnv, flow_run_id: UUID) -> str:
    run = prefect_env.flow_run(flow_run_id)
    return str((run.labels or {})["tracline.request"])


def _request(prefect_env: PrefectEnv, request_id: str) -> Any:
    service = prefect_env.requests()
    try:
        return service.get(request_id)
    finally:
        service.close()


def test_pending_request_suspends_the_flow_and_approval_resumes_it(
        prefect_env: PrefectEnv, example: str, tiny: str,
        record_property: pytest.RecordProperty) -> None:
    """While its request is pending the example flow run is suspended with no process alive
    and no worker slot held (another flow runs on the one-slot worker); approved with the
    CLI, tracline's watcher resumes it and the flow completes with the request settled (the
    times from the approval to the resume and to the flow running again are recorded, not
    asserted)."""
    flow_run_id = prefect_env.run(example, model="churn-v2", epochs=2)
    suspended = prefect_env.wait_suspended(flow_run_id)
    request_id = _request_of(prefect_env, flow_run_id)
    pid = _infrastructure_pid(suspended)
    assert pid is not None
    wait_for("the suspended flow run's process to exit", lambda: True if not _alive(pid) else None)
    other = prefect_env.run(tiny)
    assert prefect_env.wait_final(other).state.is_completed(), "the worker's slot was held"
    assert _request(prefect_env, request_id).state == State.PENDING
    assert prefect_env.flow_run(flow_run_id).state.name == "Suspended"
    assert not (prefect_env.data / "model.npz").exists()
    pending = [a for a in prefect_env.artifacts(flow_run_id) if "pending" in (a.data or "")]
    assert pending, "no artifact shows the pending request"

    prefect_env.tracline("request", "approve", request_id, "--as", "user:chris")
    resumed = prefect_env.wait_state(flow_run_id, lambda r: r.state.name != "Suspended",
                                     "the watcher to resume it")
    approval = _request(prefect_env, request_id).approvals[0]
    latency = (resumed.state.timestamp - approval.decided_at).total_seconds()
    final = prefect_env.wait_final(flow_run_id)
    assert final.state.is_completed(), prefect_env.logs(flow_run_id)
    states = prefect_env.states(flow_run_id)
    running = next(s.timestamp for s in states
                   if s.is_running() and s.timestamp > approval.decided_at)
    print("\n".join(f"{(s.timestamp - approval.decided_at).total_seconds():+7.1f} s {s.name}"
                    for s in states))
    running_after = (running - approval.decided_at).total_seconds()
    record_property("resumed_after_approval_s", round(latency, 2))
    record_property("running_after_approval_s", round(running_after, 2))
    print(f"\nresumed ({resumed.state.name}) {latency:.1f} s and running again "
          f"{running_after:.1f} s after the approval")
    request = _request(prefect_env, request_id)
    assert request.state == State.COMPLETED, request.state_note
    assert request.run_id == str(flow_run_id)
    assert (prefect_env.data / "model.npz").exists()


def test_prefect_resume_without_approval_never_runs_the_training_and_rejection_fails_it(
        prefect_env: PrefectEnv, example: str) -> None:
    """Resumed through Prefect's own API while the request is pending, the flow run asks
    tracline again and is suspended again — train never runs; rejected, the flow run fails
    with the reviewer's reason."""
    flow_run_id = prefect_env.run(example, model="churn-v3", epochs=2)
    prefect_env.wait_suspended(flow_run_id)
    request_id = _request_of(prefect_env, flow_run_id)
    first = prefect_env.flow_run(flow_run_id).state.id
    prefect_env.resume_without_approval(flow_run_id)
    again = prefect_env.wait_state(
        flow_run_id, lambda r: r.state.name == "Suspended" and r.state.id != first,
        "the gate to suspend it again")
    names = {t.name.rsplit("-", 1)[0] for t in prefect_env.task_runs(flow_run_id)}
    assert "train" not in names, names
    assert _request(prefect_env, request_id).state == State.PENDING
    notes = [a.data for a in prefect_env.artifacts(flow_run_id)
             if "not by an approval" in (a.data or "")]
    assert notes, "no artifact says the resume was not an approval"
    assert again.state.name == "Suspended"

    reason = "Use the distilled model until the drift report is reviewed."
    service = prefect_env.requests()
    try:
        service.reject(request_id, "user:dana", reason)
    finally:
        service.close()
    final = prefect_env.wait_final(flow_run_id)
    assert final.state.is_failed()
    assert reason in (final.state.message or ""), final.state.message
    assert "rejected by user:dana" in final.state.message
    names = {t.name.rsplit("-", 1)[0] for t in prefect_env.task_runs(flow_run_id)}
    assert "train" not in names, names


def _loader_pids(log: Path) -> list[int]:
    if not log.exists():
        return []
    return [int(line.split()[-1]) for line in log.read_text().splitlines()
            if line.startswith("loader pid")]


def test_task_past_its_approved_time_is_stopped_with_its_children(
        prefect_env: PrefectEnv, example: str) -> None:
    """An approval for 0.005 GPU-hours (18 s) caps train: past it the task fails with the
    overrun reason, the trainer and its data-loader worker are gone (nothing writes any
    more), and the request is failed with the cost up to the stop."""
    spec = RequestSpec(
        title="Retrain churn-v4, briefly", requester="agent:churn-bot", project="churn",
        datasets=[DatasetRef("s3://churn/train.npy", "sha256:" + "a" * 64)],
        gpu_model="H100", gpu_count=1, hours="0.005", budget=50,
        rationale="A short approval, to be overrun.")
    service = prefect_env.requests()
    try:
        request = service.file(spec)
        service.approve(request.id, "user:chris")
    finally:
        service.close()
    log = prefect_env.data / "loader.log"
    known = set(_loader_pids(log))
    flow_run_id = prefect_env.run(example, model="churn-v4", epochs=600, request_id=request.id)
    final = prefect_env.wait_final(flow_run_id, timeout=600)
    assert final.state.is_failed()

    def stopped() -> str | None:  # the process sends its logs to the API in batches
        logs = prefect_env.logs(flow_run_id)
        return logs if "ran past the approved time limit" in logs else None

    wait_for("the flow run's logs to say the task ran past its approved time", stopped,
             timeout=120)
    started = [p for p in _loader_pids(log) if p not in known]
    assert started, "the trainer never started its data-loader worker"
    assert not any(_alive(p) for p in started), "a child of the task outlived the stop"
    settled = _request(prefect_env, request.id)
    assert settled.state == State.FAILED, settled.state
    assert "ran past the approved time limit" in (settled.state_note or "")
    assert settled.completion is not None and settled.completion.gpu_hours > 0
