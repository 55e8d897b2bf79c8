"""The approval sensor under a real `dagster-daemon`: it ticks many times, launches exactly
one run per approved request and nothing for a pending or rejected one, and settles the
request when the run ends."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import dagster as dg
from _dagster_harness import Project, Service, dagster_service, wait_for

from tracline.approvals import State
from tracline.testing import conformance_request

SENSOR = "train_job_approvals"


def _ticks(project: Project) -> int:
    """How many times the daemon has evaluated the approval sensor."""
    instance = project.instance
    for state in instance.all_instigator_state():
        if state.instigator_name == SENSOR:
            return len(instance.get_ticks(state.instigator_origin_id, state.selector_id,
                                          limit=1000))
    return 0


def _runs(project: Project) -> list[Any]:
    return list(project.instance.get_runs(
        filters=dg.RunsFilter(tags={"tracline/sensor": SENSOR})))


def _state(project: Project, request_id: str) -> State:
    with closing(project.requests()) as service:
        return service.get(request_id).state


def _more_ticks(project: Project, daemon: Service, count: int) -> None:
    target = _ticks(project) + count

    def ticked() -> bool:
        daemon.alive()
        return _ticks(project) >= target

    wait_for(f"{count} more ticks of the approval sensor", ticked, timeout=300)


def test_daemon_launches_one_run_per_approval_over_many_ticks(project: Project,
                                                              tmp_path: Path) -> None:
    """Pending: no run over several ticks; approved: exactly one run, still one after many
    more ticks, and the request completed by the run; rejected: no run."""
    reviewer = "user:chris"
    with closing(project.requests()) as service:
        pending = service.file(conformance_request()).id
        rejected = service.file(conformance_request(title="A second try")).id
        service.reject(rejected, reviewer, "Use the smaller model.")
    with dagster_service("dagster-daemon", ["dagster-daemon", "run"], project,
                         tmp_path / "daemon.log") as daemon:
        _more_ticks(project, daemon, 3)
        assert _runs(project) == []  # nothing runs, nothing holds compute, before approval
        with closing(project.requests()) as service:
            service.approve(pending, reviewer)

        def completed() -> bool:
            daemon.alive()
            return _state(project, pending) == State.COMPLETED

        wait_for("the approved request's run to complete and be settled", completed,
                 timeout=600)
        _more_ticks(project, daemon, 5)
        runs = _runs(project)
        assert [r.tags["dagster/run_key"] for r in runs] == [pending]
        assert runs[0].status == dg.DagsterRunStatus.SUCCESS
        assert _state(project, rejected) == State.REJECTED
    assert (project.data / "launched").read_text() == "ran\n"


def test_an_over_time_run_is_stopped_with_its_children(project: Project, tmp_path: Path) -> None:
    """A run past its approved time is stopped by Dagster's run monitoring
    (``dagster/max_runtime``), the process its step started under a shell is stopped with it,
    and the request is settled as failed, over time."""
    import os

    with closing(project.requests()) as service:
        request = service.file(conformance_request(project="overtime", hours="0.02",
                                                   budget=1))
        service.approve(request.id, "user:chris")
    pid_file = project.data / "child.out.pid"
    with dagster_service("dagster-daemon", ["dagster-daemon", "run"], project,
                         tmp_path / "daemon.log") as daemon:
        def child() -> int | None:
            daemon.alive()
            text = pid_file.read_text().strip() if pid_file.exists() else ""
            return int(text) if text else None

        pid = wait_for("the over-time run's grandchild to start", child, timeout=600)

        def failed() -> bool:
            daemon.alive()
            return _state(project, request.id) == State.FAILED

        wait_for("the over-time run to be stopped and its request settled", failed,
                 timeout=600)

        def gone() -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return True
            with open(f"/proc/{pid}/stat") as handle:  # a zombie no longer runs
                return handle.read().rsplit(")", 1)[1].split()[0] in {"Z", "X"}

        wait_for("the step's grandchild to be stopped", gone, timeout=120)
        runs = [r for r in project.instance.get_runs(
            filters=dg.RunsFilter(tags={"tracline/sensor": "overtime_approvals"}))]
        assert len(runs) == 1 and runs[0].status == dg.DagsterRunStatus.FAILURE
        assert runs[0].tags["dagster/max_runtime"] == "72"
    with closing(project.requests()) as service:
        settled = service.get(request.id)
    assert "approved time limit" in (settled.state_note or ""), settled.state_note
