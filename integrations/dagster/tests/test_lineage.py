"""Lineage of Dagster runs: core's "correct run" conformance suite over a real
materialisation and the lineage sensor, and delivery that survives a backend outage."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import dagster as dg
import pytest
from _dagster_harness import Project, free_port, make_project, wait_for

from tracline.delivery import Emitter
from tracline.testing import RunConformanceSuite
from tracline_dagster import TraclineResource, lineage_sensor


def _evaluate_lineage_sensor(project: Project, cursor: str | None = None) -> Any:
    sensor = lineage_sensor()
    context = dg.build_sensor_context(instance=project.instance, cursor=cursor,
                                      resources={"tracline": TraclineResource()})
    return sensor.evaluate_tick(context)


class TestDagsterRunConformance(RunConformanceSuite):
    """A three-asset materialisation plus the lineage sensor's tick is "a correct run"."""

    expected_jobs: ClassVar[tuple[str, ...]] = ("assets.raw", "assets.features", "assets.model")

    def produce_events(self) -> list[dict[str, Any]]:
        """Materialise the pipeline on a real instance; the sensor reports the run."""
        import tempfile

        from conftest import load_pipeline

        pipeline = load_pipeline()
        with pytest.MonkeyPatch.context() as monkeypatch, make_project(
                Path(tempfile.mkdtemp(prefix="dagster-conformance-")), monkeypatch) as project:
            result = dg.materialize([pipeline.raw, pipeline.features, pipeline.model],
                                    resources={"tracline": TraclineResource()},
                                    instance=project.instance)
            assert result.success
            tick = _evaluate_lineage_sensor(project)
            assert "reported 2 run start(s)/end(s)" in (tick.skip_message or "")
            return project.events()


def test_the_lineage_sensor_reports_each_run_once(pipeline: Any, project: Project) -> None:
    """The sensor reports a run's START and COMPLETE once, with Dagster's times, and a
    later tick from its cursor reports nothing again."""
    result = dg.materialize([pipeline.raw], resources={"tracline": TraclineResource()},
                            instance=project.instance)
    first = _evaluate_lineage_sensor(project)
    again = _evaluate_lineage_sensor(project, first.cursor)
    assert "reported 0" in (again.skip_message or "")
    runs = [e for e in project.events() if e["run"]["runId"] == result.run_id]
    assert [e["eventType"] for e in sorted(runs, key=lambda e: e["eventTime"])] == [
        "START", "COMPLETE"]
    assert runs[0]["job"]["name"] == "assets"


class _Receiver(BaseHTTPRequestHandler):
    events: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).events.append(json.loads(body))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _deliver_once(project: Project) -> Any:
    """One delivery attempt of the project's outbox (not waiting for a sink that is down)."""
    emitter = Emitter(project.config(), background=False)
    try:
        return emitter.flush(60.0)
    finally:
        emitter.close(0)


@pytest.fixture
def backend_port() -> Iterator[int]:
    """A port for the lineage backend, down until the test starts it."""
    _Receiver.events = []
    yield free_port()


def test_runs_succeed_while_the_backend_is_down_and_lineage_arrives_later(
        pipeline: Any, project: Project, backend_port: int) -> None:
    """With the lineage backend unreachable the materialisation succeeds; once the backend
    is back, every event of the run reaches it."""
    url = f"http://127.0.0.1:{backend_port}"
    with (project.root / "tracline.toml").open("a") as handle:
        handle.write(f'\n[sinks.marquez]\ntype = "marquez"\nurl = "{url}"\n'
                     '\n[sinks.file]\ntype = "file"\npath = ".tracline/events.jsonl"\n')
    result = dg.materialize([pipeline.raw, pipeline.features, pipeline.model],
                            resources={"tracline": TraclineResource()},
                            instance=project.instance)
    assert result.success
    _evaluate_lineage_sensor(project)
    attempt = _deliver_once(project)  # the backend is still down: nothing reaches it
    assert _Receiver.events == []
    assert attempt.pending.get("marquez"), attempt  # ... and nothing is lost: still pending
    server = ThreadingHTTPServer(("127.0.0.1", backend_port), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        expected = len(project.events())  # delivered to the file sink meanwhile
        assert expected >= 8  # 3 steps and the run, START and COMPLETE each

        def arrived() -> bool:
            project.deliver()
            return len(_Receiver.events) >= expected

        wait_for("the run's lineage to reach the backend", arrived)
    finally:
        server.shutdown()
        server.server_close()
    run_ids = {e["run"]["runId"] for e in _Receiver.events}
    assert result.run_id in run_ids
    assert len(_Receiver.events) == expected
