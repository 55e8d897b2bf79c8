"""The example flow against a team server (``TRACLINE_URL``): the gate files its request with
the flow's token and suspends the flow run; a reviewer approves through the server; a watcher
reading the server resumes the run, which claims as its flow run and settles with the cost of
its task run — the same lifecycle as with a local store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _prefect_harness import EXAMPLE, PrefectEnv, free_port, issue_tokens, wait_for

TOKENS = {"agent:churn-bot": ["agent", "ingest"], "agent:prefect-watcher": ["agent"],
          "user:chris": ["requester", "reviewer"]}


@pytest.fixture(scope="module")
def example(prefect_env: PrefectEnv) -> str:
    """The example flow, deployed to the session's work pool."""
    return prefect_env.deploy(EXAMPLE, "train_pipeline.py:train_pipeline")


@pytest.fixture
def team_server(prefect_env: PrefectEnv) -> Iterator[tuple[str, dict[str, str]]]:
    """`tracline serve` with its own store and policy; tokens for the flow, a watcher and
    the reviewer chris."""
    root = prefect_env.root / f"team-{time.time_ns()}"
    root.mkdir()
    store = f"sqlite:///{root / 'team.db'}"
    tokens = issue_tokens(store, TOKENS)
    (root / "tracline.toml").write_text(
        '[policy]\nreviewers = ["user:chris", "user:dana"]\n'
        f'[tracline]\nhome = "{root / "home"}"\n')
    port = free_port()
    name = f"team-server-{port}"
    prefect_env.serve(name, port, "--store-url", store, "--registry-url", store,
                      env={"TRACLINE_CONFIG": str(root / "tracline.toml")})
    try:
        yield f"http://127.0.0.1:{port}", tokens
    finally:
        prefect_env.stop_service(name)


def test_approval_through_the_team_server_resumes_the_flow(
        prefect_env: PrefectEnv, example: str, team_server: tuple[str, dict[str, str]]) -> None:
    """With TRACLINE_URL set the flow's request lives on the server (the local store never
    sees it); chris's approval there resumes the suspended run, train runs, and the flow run
    claims and completes the request (the step naming its train task run), by the flow's
    token; once the flow's lineage reaches the server, the request's cost is the train task
    run's recorded one, not an estimate."""
    import httpx

    url, tokens = team_server
    flow_env = {"TRACLINE_URL": url, "TRACLINE_TOKEN": tokens["agent:churn-bot"],
                # the flow's lineage goes to the server too (its outbox delivers it there)
                "TRACLINE__SINKS__TEAM__TYPE": "marquez", "TRACLINE__SINKS__TEAM__URL": url,
                "TRACLINE__SINKS__TEAM__API_KEY": tokens["agent:churn-bot"]}
    prefect_env.start_watcher("team-watcher", {
        "TRACLINE_URL": url, "TRACLINE_TOKEN": tokens["agent:prefect-watcher"]})
    chris = httpx.Client(base_url=f"{url}/api/v1", timeout=60,
                         headers={"Authorization": f"Bearer {tokens['user:chris']}"})
    try:
        flow_run_id = prefect_env.run(example, env=flow_env, model="churn-team", epochs=2)
        suspended = prefect_env.wait_suspended(flow_run_id)
        request_id = str(suspended.labels["tracline.request"])
        filed = chris.get(f"/requests/{request_id}").json()
        assert filed["state"] == "pending", filed
        assert filed["requester"] == "agent:churn-bot"
        local = prefect_env.requests()
        try:
            assert request_id not in {r.id for r in local.list()}
        finally:
            local.close()

        answer = chris.post(f"/requests/{request_id}/approve", json={})
        assert answer.status_code == 200, answer.text
        final = prefect_env.wait_final(flow_run_id)
        assert final.state.is_completed(), prefect_env.logs(flow_run_id)

        done: dict[str, Any] = chris.get(f"/requests/{request_id}").json()
        assert done["state"] == "completed", (done, prefect_env.logs(flow_run_id)[-3000:])
        assert done["claimed_by"] == f"run:prefect/{flow_run_id}"
        assert done["run_id"] == str(flow_run_id)
        assert done["approvals"][0]["via"] == "server"
        audit = chris.get("/audit", params={"request_id": request_id}).json()
        claim = next(e for e in audit if e["action"] == "claim")
        assert "(by agent:churn-bot)" in claim["details"]["step"], claim
        train = [str(t.id) for t in prefect_env.task_runs(flow_run_id)
                 if t.name.startswith("train-")]
        complete = next(e for e in audit if e["action"] == "complete")
        assert complete["actor"] == f"run:prefect/{flow_run_id}", complete
        assert f"task run {train[0]}" in complete["details"]["step"], complete

        def costed() -> dict[str, Any] | None:
            prefect_env.tracline("outbox", "flush", env=flow_env, check=False)
            record = chris.get(f"/requests/{request_id}").json()["completion_record"]
            completion = json.loads(record) if record else None
            return completion if completion and completion["measurement"] != "estimated" \
                else None

        completion = wait_for("the train task run's cost to reach the server", costed,
                              interval=2)
        assert completion["measurement"] in {"declared", "measured"}, completion
        assert (completion["gpu_model"], completion["gpu_count"]) == ("H100", 1), completion
    finally:
        chris.close()
        prefect_env.stop_watcher("team-watcher")
