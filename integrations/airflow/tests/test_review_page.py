"""The example DAG against a team server: its gate waits on a request filed with the worker's
token, a reviewer approves on the review page in headless Chromium, and the gate goes on."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from _airflow_harness import AirflowEnv, free_port, wait_for

from tracline.identity import TokenStore
from tracline.testing import chromium

DAG_ID = "train_pipeline"


@pytest.fixture
def team_server(airflow: AirflowEnv) -> Iterator[tuple[str, dict[str, str]]]:
    """`tracline serve` with the harness's policy; tokens for the trainer agent and chris."""
    root = airflow.root / f"team-{time.time_ns()}"
    root.mkdir()
    store = f"sqlite:///{root / 'team.db'}"
    tokens = TokenStore(store)
    issued = {p: tokens.issue(p, roles, ttl=dt.timedelta(hours=2)).secret for p, roles in
              (("agent:trainer", ["agent"]), ("user:chris", ["requester", "reviewer"]))}
    tokens.close()
    (root / "tracline.toml").write_text(
        '[policy]\nreviewers = ["user:chris", "user:dana"]\n'
        f'[tracline]\nhome = "{root / "home"}"\n')
    port = free_port()
    env = {k: v for k, v in airflow.env.items() if not k.startswith("TRACLINE")}
    env["TRACLINE_CONFIG"] = str(root / "tracline.toml")
    process = subprocess.Popen(
        [sys.executable, "-m", "tracline.cli", "serve", "--port", str(port),
         "--store-url", store, "--registry-url", store], env=env,
        stdout=(root / "serve.log").open("w"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"

    def healthy() -> bool | None:
        try:
            with urllib.request.urlopen(f"{url}/api/v1/health", timeout=2):
                return True
        except OSError:
            return None

    try:
        wait_for("tracline serve", healthy, timeout=120)
        yield url, issued
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_reviewer_approves_on_the_page_and_the_gate_goes_on(
        airflow: AirflowEnv, team_server: tuple[str, dict[str, str]],
        record_property: pytest.RecordProperty) -> None:
    """A gate waiting on a server-filed request goes on to train once chris approves on the
    page in Chromium (claiming as its task try, by the worker's token; the click-to-resume
    time is recorded, not asserted)."""
    url, tokens = team_server
    env = airflow.with_env(TRACLINE_URL=url, TRACLINE_TOKEN=tokens["agent:trainer"])
    process = airflow.start_dag(DAG_ID, env=env)
    try:
        import httpx

        chris = httpx.Client(base_url=url, timeout=60,
                             headers={"Authorization": f"Bearer {tokens['user:chris']}"})

        def pending() -> str | None:
            rows = chris.get("/api/v1/requests", params={"state": "pending"}).json()
            return rows[0]["id"] if rows else None

        request_id = wait_for("the gate to file its request on the server", pending,
                              alive=process)
        wait_for("the gate to defer to its trigger",
                 lambda: "[DAG TEST] running trigger in line" in process.output() or None,
                 alive=process)
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"{url}/signin")
            page.fill("input[name=token]", tokens["user:chris"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{url}/")
            page.click(f"a[href='/requests/{request_id}']")
            clicked = time.monotonic()
            page.click("[data-testid=approve]")
            page.wait_for_selector("[data-testid=state]:has-text('approved')")
            wait_for("the gate to succeed",
                     lambda: airflow.task_state(DAG_ID, "approve_train") == "success" or None,
                     alive=process)
            waited = time.monotonic() - clicked
        record_property("gate_resumed_after_approval_s", round(waited, 2))
        print(f"gate resumed {waited:.2f} s after the approval click")
        Path(os.environ.get("TRACLINE_GATE_TIMING", os.devnull)).write_text(f"{waited:.2f}\n")
        assert process.wait() == 0, process.output()[-4000:]
        assert airflow.task_state(DAG_ID, "train") == "success"
        claimed = chris.get(f"/api/v1/requests/{request_id}").json()
        assert claimed["state"] in {"claimed", "completed", "failed"}
        assert claimed["claimed_by"].startswith("run:airflow/")  # the gate's task try acts
        assert claimed["approvals"][0]["via"] == "server"
        audit = chris.get("/api/v1/audit", params={"request_id": request_id}).json()
        claim = next(e for e in audit if e["action"] == "claim")
        assert "(by agent:trainer)" in claim["details"]["step"]  # the token that did it
    finally:
        process.kill()
