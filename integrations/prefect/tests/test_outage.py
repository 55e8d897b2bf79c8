"""Lineage never breaks a flow: with the lineage backend unreachable the flow runs succeed,
their events wait in tracline's outbox, and they arrive once the backend is back."""

from __future__ import annotations

from pathlib import Path

from _prefect_harness import TEST_FLOWS, PrefectEnv, free_port, issue_tokens, wait_for

from tracline.errors import NotFound
from tracline.registry import Registry


def _arrived(db: Path, run_ids: list[str]) -> bool | None:
    if not db.exists():
        return None
    registry = Registry(f"sqlite:///{db}")
    try:
        for run_id in run_ids:
            registry.run(run_id)
    except NotFound:
        return None
    finally:
        registry.close()
    return True


def test_flow_succeeds_while_the_backend_is_down_and_lineage_arrives_later(
        prefect_env: PrefectEnv, tmp_path: Path) -> None:
    """A flow run whose lineage backend refuses connections completes; its flow and task
    runs reach the backend once it is up and the outbox is flushed."""
    port = free_port()
    db = tmp_path / "backend.db"
    token = issue_tokens(f"sqlite:///{db}", {"agent:prefect": ["ingest"]})["agent:prefect"]
    # the backend: a `tracline serve` (OpenLineage HTTP, as Marquez), down for now
    backend = {"TRACLINE__SINKS__BACKEND__TYPE": "marquez",
               "TRACLINE__SINKS__BACKEND__URL": f"http://127.0.0.1:{port}",
               "TRACLINE__SINKS__BACKEND__API_KEY": token}
    deployment = prefect_env.deploy(TEST_FLOWS, "two_steps.py:two_steps", name="two-steps")
    run = prefect_env.run(deployment, env=backend, folder=str(tmp_path))
    final = prefect_env.wait_final(run)
    assert final.state.is_completed(), prefect_env.logs(run)
    assert (tmp_path / "total.txt").read_text() == str(sum(range(100)))
    task_runs = [str(t.id) for t in prefect_env.task_runs(run)]
    assert len(task_runs) == 2
    status = prefect_env.tracline("outbox", "status", env=backend, check=False)
    assert "backend" in status.stdout, status.stdout
    assert not _arrived(db, [str(run)])

    name = f"backend-{port}"
    prefect_env.serve(name, port, "--registry-url", f"sqlite:///{db}")
    try:
        def delivered() -> bool | None:
            prefect_env.tracline("outbox", "flush", env=backend, check=False)
            return _arrived(db, [str(run), *task_runs])

        wait_for("the flow's lineage to reach the backend", delivered, timeout=300, interval=2)
    finally:
        prefect_env.stop_service(name)
