"""Lineage never breaks a flow: with the lineage backend unreachable the flow runs succeed,
their events wait in tracline's outbox, and they arrive once the backend is back."""

from __future__ import annotations

import contextlib
import subprocess
import urllib.request
from pathlib import Path

from _prefect_harness import BIN, REPO, TEST_FLOWS, PrefectEnv, free_port, wait_for

from tracline.errors import NotFound
from tracline.registry import Registry


def _tracline() -> str:
    """The CLI of core's own environment (the team server's dependencies live there)."""
    core = REPO / ".venv" / "core" / "bin" / "tracline"
    return str(core if core.exists() else BIN / "tracline")


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
    backend = {"TRACLINE_MARQUEZ_URL": f"http://127.0.0.1:{port}"}
    deployment = prefect_env.deploy(TEST_FLOWS, "two_steps.py:two_steps", name="two-steps")
    run = prefect_env.run(deployment, env=backend, folder=str(tmp_path))
    final = prefect_env.wait_final(run)
    assert final.state.is_completed(), prefect_env.logs(run)
    assert (tmp_path / "total.txt").read_text() == str(sum(range(100)))
    task_runs = [str(t.id) for t in prefect_env.task_runs(run)]
    assert len(task_runs) == 2
    status = prefect_env.tracline("outbox", "status", env=backend, check=False)
    assert "marquez" in status.stdout, status.stdout

    db = tmp_path / "backend.db"
    server = subprocess.Popen([_tracline(), "serve", "--port", str(port), "--registry-url",
                               f"sqlite:///{db}"], env=prefect_env.env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        def up() -> bool | None:
            with contextlib.suppress(OSError), urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/api/v1/health", timeout=2) as r:
                return True if r.status == 200 else None
            return None

        wait_for("the lineage backend to start", up, timeout=120)

        def delivered() -> bool | None:
            prefect_env.tracline("outbox", "flush", env=backend, check=False)
            return _arrived(db, [str(run), *task_runs])

        wait_for("the flow's lineage to reach the backend", delivered, timeout=300, interval=2)
    finally:
        server.terminate()
        server.wait(timeout=30)
