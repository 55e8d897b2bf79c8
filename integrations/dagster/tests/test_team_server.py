"""The approval sensor against a real team server (`tracline serve`, reached through
``TRACLINE_URL`` with the Dagster deployment's own token): it waits, claims once under racing
evaluations, reports a rejection and settles the request exactly as against the local
store; with the server unreachable or the token refused it launches nothing, and an
approval made meanwhile is launched once the server answers again; lineage posted to the
server while it is down reaches it once it is back."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import dagster as dg
import pytest
from _dagster_harness import Project, free_port, wait_for

from tracline.approvals import RemoteRequests, State
from tracline.config import Config
from tracline.delivery import Emitter
from tracline.identity import TokenStore
from tracline.registry import Registry
from tracline.testing import GATE_POLICY, conformance_request
from tracline_dagster import TraclineResource

SENSOR = "train_job_approvals"
#: The team: who files (an agent), who reviews, and the Dagster deployment's own token.
TEAM = {"agent:trainer": ["agent"], "user:chris": ["requester", "reviewer"],
        "agent:dagster": ["agent", "ingest"]}


@attrs.define
class Team:
    """`tracline serve` in its own process, with a token per member of the team."""

    root: Path
    url: str
    store: str
    tokens: dict[str, str]
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACLINE")
               or k.startswith("TRACLINE_TEST_")}
        env["TRACLINE_CONFIG"] = str(self.root / "tracline.toml")
        log = (self.root / "serve.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tracline.cli", "serve", "--port", self.url.rsplit(":", 1)[1],
             "--store-url", self.store, "--registry-url", self.store],
            env=env, cwd=self.root, stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def healthy() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                pytest.fail("tracline serve exited:\n" + (self.root / "serve.log").read_text())
            try:
                with urllib.request.urlopen(f"{self.url}/api/v1/health", timeout=5) as reply:
                    return bool(reply.status == 200)
            except OSError:
                return False

        wait_for("tracline serve to answer", healthy, timeout=180, interval=0.3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    def client(self, principal: str) -> RemoteRequests:
        """The Python API as ``principal``."""
        return RemoteRequests(self.url, self.tokens[principal],
                              Config(sections={}, home=str(self.root / "client-home")))


@pytest.fixture
def team(project: Project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    """A running team server; the project's Dagster code reaches it as ``agent:dagster``
    (TRACLINE_URL, TRACLINE_TOKEN) and posts its lineage to it with that token."""
    root = tmp_path / "team"
    root.mkdir()
    store = f"sqlite:///{root / 'team.db'}"
    tokens = TokenStore(store)
    try:
        issued = {p: tokens.issue(p, roles, ttl=dt.timedelta(hours=4)).secret
                  for p, roles in TEAM.items()}
    finally:
        tokens.close()
    (root / "tracline.toml").write_text(GATE_POLICY + f'\n[tracline]\nhome = "{root / "home"}"\n')
    made = Team(root, f"http://127.0.0.1:{free_port()}", store, issued)
    with (project.root / "tracline.toml").open("a") as handle:
        handle.write(f'\n[sinks.team]\ntype = "http"\nurl = "{made.url}"\n'
                     f'api_key = "{issued["agent:dagster"]}"\n'
                     '\n[sinks.file]\ntype = "file"\npath = ".tracline/events.jsonl"\n')
    monkeypatch.setenv("TRACLINE_URL", made.url)
    monkeypatch.setenv("TRACLINE_TOKEN", issued["agent:dagster"])
    made.start()
    try:
        yield made
    finally:
        made.stop()


def _evaluate(pipeline: Any, project: Project, name: str = SENSOR,
              cursor: str | None = None) -> Any:
    """One real evaluation of a sensor of the test Definitions."""
    return pipeline.defs.resolve_sensor_def(name).evaluate_tick(dg.build_sensor_context(
        instance=project.instance, cursor=cursor, resources={"tracline": TraclineResource()},
        definitions=pipeline.defs))


def _file(team: Team, **changes: Any) -> str:
    trainer = team.client("agent:trainer")
    try:
        return trainer.file(conformance_request(**changes)).id
    finally:
        trainer.close()


def _review(team: Team, request_id: str, *, reject: str | None = None) -> None:
    chris = team.client("user:chris")
    try:
        if reject is None:
            chris.approve(request_id, "user:chris")
        else:
            chris.reject(request_id, "user:chris", reject)
    finally:
        chris.close()


def test_the_sensor_claims_launches_and_settles_through_the_team_server(
        pipeline: Any, project: Project, team: Team) -> None:
    """Filed by an agent and approved by chris on the server: no run while pending, one
    RunRequest from four racing evaluations, the claim and completion recorded by the server
    with the Dagster run as actor (by the deployment's token), the approval on the
    materialisation, and the run's recorded cost as the request's; a rejected request
    launches nothing and is reported with the reviewer's reason."""
    request_id = _file(team)
    rejected = _file(team, title="A second try")
    _review(team, rejected, reject="Use the smaller model.")
    waiting = _evaluate(pipeline, project)
    assert waiting.run_requests == []
    assert f"training request {request_id} waits for a reviewer" in waiting.skip_message
    assert "Use the smaller model." in waiting.skip_message
    _review(team, request_id)

    start = threading.Barrier(4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def evaluate() -> None:
        try:
            start.wait()
            results.append(_evaluate(pipeline, project, cursor=waiting.cursor))
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=evaluate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    launched = [(r, result.cursor) for result in results for r in result.run_requests]
    assert [r.run_key for r, _ in launched] == [request_id]
    assert all("claimed" in (r.skip_message or "") for r in results if not r.run_requests)
    (run_request, cursor), = launched

    result = pipeline.defs.resolve_job_def("train_job").execute_in_process(
        instance=project.instance, tags=run_request.tags,
        run_config={"ops": {"train": {"config": {"marker": str(project.data / "ran")}}}})
    assert result.success
    event = project.instance.get_latest_materialization_event(dg.AssetKey("train"))
    assert event is not None and event.asset_materialization is not None
    approval = str(event.asset_materialization.metadata["tracline/approval"].value)
    assert approval.startswith(f"{request_id} approved by user:chris")
    _evaluate(pipeline, project, name="tracline_lineage")  # the Dagster run's own events
    project.deliver()  # the run's lineage reaches the server's registry

    settled = _evaluate(pipeline, project, cursor=cursor)
    assert f"{request_id} settled as completed" in (settled.skip_message or "")
    reader = team.client("user:chris")
    try:
        request, audit = reader.get(request_id), reader.audit(request_id)
        assert reader.get(rejected).state == State.REJECTED
    finally:
        reader.close()
    assert request.state == State.COMPLETED
    actors = {e.action: e.actor for e in audit}
    claim_actor = f"run:dagster/{run_request.tags['tracline/run_id']}"
    assert actors["claim"] == claim_actor and actors["complete"] == claim_actor, actors
    assert [e.action for e in audit].count("claim") == 1
    assert "agent:dagster" in str([e.details for e in audit if e.action == "claim"])
    # The server takes the cost from the run's recorded events: the step declared 1 × H100.
    assert request.completion is not None
    assert request.completion.measurement == "declared", request.completion
    assert request.completion.run_id == run_request.tags["tracline/run_id"]


def test_an_unreachable_server_or_a_refused_token_launches_nothing(
        pipeline: Any, project: Project, team: Team, monkeypatch: pytest.MonkeyPatch) -> None:
    """The gate fails closed: with the server down, or the token refused, an approved
    request launches no run and the tick says why; once the server answers, it is launched
    once."""
    request_id = _file(team)
    _review(team, request_id)
    team.stop()
    down = _evaluate(pipeline, project)
    assert down.run_requests == []
    assert "nothing launched: cannot reach the tracline server" in (down.skip_message or "")

    team.start()
    monkeypatch.setenv("TRACLINE_TOKEN", "tlk_not-a-token")
    refused = _evaluate(pipeline, project, cursor=down.cursor)
    assert refused.run_requests == []
    assert "nothing launched" in (refused.skip_message or "")

    monkeypatch.setenv("TRACLINE_TOKEN", team.tokens["agent:dagster"])
    back = _evaluate(pipeline, project, cursor=refused.cursor)
    assert [r.run_key for r in back.run_requests] == [request_id]
    reader = team.client("user:chris")
    try:
        request = reader.get(request_id)
    finally:
        reader.close()
    assert request.state == State.CLAIMED
    assert request.run_id == back.run_requests[0].tags["tracline/run_id"]


def test_runs_succeed_while_the_server_is_down_and_their_lineage_reaches_it_later(
        pipeline: Any, project: Project, team: Team) -> None:
    """With the team server (the lineage backend) down, a materialisation succeeds and its
    events wait in the outbox; once the server is back, every one of them is in its
    registry."""
    team.stop()
    result = dg.materialize([pipeline.raw, pipeline.features, pipeline.model],
                            resources={"tracline": TraclineResource()},
                            instance=project.instance)
    assert result.success
    _evaluate(pipeline, project, name="tracline_lineage")
    emitter = Emitter(project.config(), background=False)
    try:
        attempt = emitter.flush(60.0)  # one attempt: the server is down
    finally:
        emitter.close(0)
    assert attempt.pending.get("team"), attempt

    team.start()
    events = project.events()  # delivered to every sink, the server's included
    assert len(events) >= 8  # 3 steps and the run, START and COMPLETE each
    assert result.run_id in {e["run"]["runId"] for e in events}
    registry = Registry(team.store)
    try:
        def arrived() -> bool:
            project.deliver()
            return registry.event_count() >= len(events)

        wait_for("the run's events in the server's registry", arrived)
        assert registry.event_count() == len(events)
    finally:
        registry.close()
