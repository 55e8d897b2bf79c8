"""The team server through the Python API and the CLI: same methods, same errors, identity
from the token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from team import DIGEST_A, TeamServer, docs_spec

from tracline.approvals import RemoteRequests, State, open_requests
from tracline.config import load_config
from tracline.errors import (
    ApprovalInvalid,
    AuthenticationError,
    NotAuthorized,
    NotFound,
    ValidationError,
)


def gpu_event(run_id: str, gpu_seconds: float, event_type: str = "COMPLETE") -> dict[str, object]:
    """An OpenLineage event of a run that recorded its GPU cost."""
    return {
        "eventType": event_type, "eventTime": "2026-03-02T10:00:00.000000+00:00",
        "producer": "https://github.com/tracline/tracline",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id, "facets": {"tracline_gpuCost": {
            "_producer": "https://github.com/tracline/tracline",
            "_schemaURL": "https://tracline.dev/spec/facets/1-0-0/TraclineGpuCostRunFacet.json",
            "measurement": "measured", "gpuModel": "H100", "gpuCount": 8,
            "gpuSeconds": gpu_seconds, "currency": "USD"}}},
        "job": {"namespace": "tests", "name": "train"}, "inputs": [], "outputs": [],
    }


def test_open_requests_returns_the_remote_client(team: TeamServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With TRACLINE_URL and TRACLINE_TOKEN set, open_requests talks to the server."""
    monkeypatch.setenv("TRACLINE_URL", team.url)
    monkeypatch.setenv("TRACLINE_TOKEN", team.tokens["user:chris"])
    client = open_requests(load_config(environ={}, cwd=team.root))
    assert isinstance(client, RemoteRequests)
    assert client.whoami() == "user:chris"
    client.close()


def test_lifecycle_through_the_server(team: TeamServer) -> None:
    """File as an agent, approve on the server (attested by its key), claim, and complete
    with the cost the claiming run recorded — not a figure the caller gives; a run that
    recorded none is settled with the server's own estimate."""
    agent, chris = team.client("agent:trainer"), team.client("user:chris")
    r = agent.file(docs_spec())
    assert r.state == State.PENDING and r.requester == "agent:trainer"
    approved = chris.approve(r.id, "user:chris", note="go", digest=r.digest)
    assert approved.state == State.APPROVED
    assert approved.approvals[0].via == "server" and approved.approvals[0].signature
    run_id = str(uuid.uuid4())
    claimed = agent.claim(r.id, run_id)
    assert claimed.state == State.CLAIMED and claimed.claimed_by == "agent:trainer"
    status, _ = team.request("POST", "/api/v1/lineage", token=team.tokens["agent:trainer"],
                             body=gpu_event(run_id, 8 * 3600))
    assert status == 201
    done = agent.complete(r.id, run_id=run_id)
    assert done.state == State.COMPLETED
    assert done.completion is not None and done.completion.gpu_hours == 8
    assert done.completion.measurement == "measured"
    assert [e.action for e in chris.audit(r.id)] == ["file", "approve", "claim", "complete"]
    assert chris.verify_audit().ok
    other = agent.file(docs_spec(title="no cost recorded"))
    chris.approve(other.id, "user:chris")
    agent.claim(other.id, str(uuid.uuid4()))
    from tracline.facets import TraclineGpuCostRunFacet

    claimed_cost = TraclineGpuCostRunFacet(measurement="declared", gpuModel="H100",
                                           gpuCount=8, gpuSeconds=1, cost=0.01)
    settled = agent.complete(other.id, claimed_cost)
    assert settled.completion is not None and settled.completion.measurement == "estimated"


def test_cost_that_arrives_after_settling_replaces_the_estimate(team: TeamServer) -> None:
    """A run settled before its events reached the server (an orchestrator settles as the
    task ends; lineage follows) gets its measured cost once they arrive — from its own
    COMPLETE or its child runs' — recorded as an audit entry that keeps the estimate; the
    audit chain still verifies, and a measured cost is never replaced again."""
    agent, chris = team.client("agent:trainer"), team.client("user:chris")
    ingest = team.tokens["agent:trainer"]
    for own in (True, False):
        r = agent.file(docs_spec(title=f"cost arrives late ({'own' if own else 'child'})"))
        chris.approve(r.id, "user:chris")
        run_id = str(uuid.uuid4())
        agent.claim(r.id, run_id)
        settled = agent.complete(r.id, run_id=run_id)
        assert settled.completion is not None and settled.completion.measurement == "estimated"
        event = gpu_event(run_id if own else str(uuid.uuid4()), 2 * 3600)
        if not own:
            event["run"]["facets"]["parent"] = {  # type: ignore[index]
                "_producer": "https://github.com/tracline/tracline",
                "_schemaURL": "https://openlineage.io/spec/facets/1-1-0/ParentRunFacet.json",
                "run": {"runId": run_id}, "job": {"namespace": "tests", "name": "dag"}}
        status, _ = team.request("POST", "/api/v1/lineage", token=ingest, body=event)
        assert status == 201
        now = chris.get(r.id)
        assert now.state == State.COMPLETED
        assert now.completion is not None and now.completion.measurement == "measured"
        assert now.completion.gpu_hours == 2
        trail = chris.audit(r.id)
        assert [e.action for e in trail] == ["file", "approve", "claim", "complete", "cost"]
        assert trail[-1].actor == "agent:trainer"
        assert trail[-1].details["estimated"] == str(settled.completion.actual)
        again = gpu_event(run_id, 9 * 3600)
        assert team.request("POST", "/api/v1/lineage", token=ingest, body=again)[0] == 201
        assert chris.get(r.id).completion.gpu_hours == 2  # type: ignore[union-attr]
        assert len(chris.audit(r.id)) == 5
    assert chris.verify_audit().ok


def test_gate_side_verifies_the_claim_with_its_own_allowed_signers(team: TeamServer) -> None:
    """A client with its own allowed-signers file checks the claimed approvals itself: with
    the server's key listed the claim goes ahead; without it, it is refused."""
    from tracline.config import Config

    status, signing = team.request("GET", "/api/v1/signing", token=team.tokens["user:chris"])
    assert status == 200
    trusting = team.root / "gate_allowed"
    trusting.write_text(signing["allowed_signers_line"] + "\n")
    doubting = team.root / "gate_allowed_empty"
    doubting.write_text("")
    chris = team.client("user:chris")
    for path, ok in ((trusting, True), (doubting, False)):
        config = Config(sections={"signing": {"allowed_signers": str(path)}},
                        home=str(team.root / "gate-home"))
        gate = RemoteRequests(team.url, team.tokens["agent:trainer"], config)
        r = gate.file(docs_spec(title=f"gate check {ok}"))
        chris.approve(r.id, "user:chris")
        if ok:
            assert gate.claim(r.id, str(uuid.uuid4())).state == State.CLAIMED
        else:
            with pytest.raises(ApprovalInvalid, match="0 of 1 required approval"):
                gate.claim(r.id, str(uuid.uuid4()))
        gate.close()


def test_amending_back_through_the_server_voids_the_earlier_approval(team: TeamServer) -> None:
    """Through the server too, content amended to B and back to A is a new revision: the
    approval of A stays void until the reviewer approves again, and audit --verify agrees."""
    agent, chris = team.client("agent:trainer"), team.client("user:chris")
    r = agent.file(docs_spec(title="amended back"))
    chris.approve(r.id, "user:chris", digest=r.digest)
    agent.amend(r.id, "agent:trainer", hours="6")
    back = agent.amend(r.id, "agent:trainer", hours="3.2")
    assert (back.state, back.revision, back.compute) == (State.PENDING, 2, r.compute)
    assert back.digest != r.digest and chris.get(r.id) == back
    with pytest.raises(ApprovalInvalid, match="changed after user:chris approved"):
        agent.claim(r.id, str(uuid.uuid4()))
    assert chris.approve(r.id, "user:chris", digest=back.digest).state == State.APPROVED
    assert agent.claim(r.id, str(uuid.uuid4())).state == State.CLAIMED
    assert chris.verify_audit().ok


def test_same_errors_as_the_local_service(team: TeamServer) -> None:
    """NotFound, ValidationError (naming the field) and NotAuthorized come back as themselves."""
    agent = team.client("agent:trainer")
    with pytest.raises(NotFound, match="no training request 'req-missing'"):
        agent.get("req-missing")
    with pytest.raises(ValidationError) as bad:
        agent.file(docs_spec(budget=-5))
    assert bad.value.field == "budget"
    r = agent.file(docs_spec())
    with pytest.raises(NotAuthorized, match=r"agents never approve|may not approve"):
        agent.approve(r.id, "agent:trainer")
    with pytest.raises(NotAuthorized, match="cannot act as user:chris"):
        team.client("user:eve").approve(r.id, "user:chris")


def test_unknown_and_revoked_tokens_are_refused(team: TeamServer) -> None:
    """A wrong token, a revoked one, and none at all get 401 with the reason."""
    from tracline.identity import TokenStore

    bad = RemoteRequests(team.url, "tlk_000000000000_nope", team.client("user:chris").config)
    with pytest.raises(AuthenticationError, match="unknown token"):
        bad.list()
    import datetime as dt

    store = TokenStore(team.store_url)
    issued = store.issue("user:dana", ["requester"], ttl=dt.timedelta(hours=1))
    store.revoke(issued.info.id)
    store.close()
    revoked = RemoteRequests(team.url, issued.secret, team.client("user:chris").config)
    with pytest.raises(AuthenticationError, match="revoked"):
        revoked.list()
    status, body = team.request("GET", "/api/v1/requests")
    assert status == 401 and body["error"]["type"] == "AuthenticationError"


def test_only_health_answers_without_authentication(sqlite_team: TeamServer) -> None:
    """Every route of the OpenAPI spec but health answers 401 to a caller with no token."""
    status, spec = sqlite_team.request("GET", "/api/v1/openapi.json",
                                       token=sqlite_team.tokens["user:chris"])
    assert status == 200 and "/api/v1/requests" in spec["paths"]
    checked = 0
    for path, methods in spec["paths"].items():
        concrete = path.replace("{request_id}", "req-x").replace("{digest}", DIGEST_A)
        for method in methods:
            status, _ = sqlite_team.request(method.upper(), concrete,
                                            body={} if method != "get" else None)
            expected = 200 if path == "/api/v1/health" else 401
            assert status == expected, (method, path, status)
            checked += 1
    assert checked > 15
    for page in ("/", "/history", "/spend", "/receipt", "/requests/req-x"):
        status, body = sqlite_team.request("GET", page)  # redirected to the sign-in page
        assert status == 200 and "Sign in" in body["raw"], page
    status, _ = sqlite_team.request("GET", "/openapi.json")
    assert status == 404


def test_cli_acts_as_the_token(sqlite_team: TeamServer) -> None:
    """`tracline request` against the server files as the token's principal."""
    done = sqlite_team.cli("agent:trainer", "request", "file", "--title", "t",
                           "--project", "vision", "--dataset", f"s3://d@{DIGEST_A}",
                           "--gpu", "H100", "--gpus", "1", "--hours", "1", "--budget", "100",
                           "--rationale", "r", "--reviewer", "user:chris", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["requester"] == "agent:trainer"


def test_forged_approval_on_the_server_is_not_claimable(team: TeamServer) -> None:
    """An approval row and state update written into the server's database by hand: the
    claim is refused (no valid signature) and the audit verification names the row."""
    import sqlalchemy as sa

    from tracline.approvals import _schema as t
    from tracline.db import make_engine

    agent = team.client("agent:trainer")
    r = agent.file(docs_spec())
    engine = make_engine(team.store_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.approvals).values(
            request_id=r.id, actor="user:chris", digest=r.digest,
            decided_at="2026-01-01T00:00:00.000000+00:00",
            expires_at="2099-01-01T00:00:00.000000+00:00", note="forged"))
        conn.execute(sa.update(t.requests).where(t.requests.c.id == r.id)
                     .values(state="approved"))
    engine.dispose()
    before = team.snapshot()
    with pytest.raises(ApprovalInvalid, match="no valid signature"):
        agent.claim(r.id, str(uuid.uuid4()))
    assert team.snapshot() == before
    report = agent.verify_audit()
    assert not report.ok
    assert any("inserted outside tracline" in p.problem for p in report.problems)
    engine = make_engine(team.store_url)
    with engine.begin() as conn:  # undo the forgery for the tests that share this server
        conn.execute(sa.delete(t.approvals).where(t.approvals.c.request_id == r.id))
        conn.execute(sa.update(t.requests).where(t.requests.c.id == r.id)
                     .values(state="pending"))
    engine.dispose()
    assert agent.verify_audit().ok


def test_remote_client_loads_no_sql(tmp_path: Path) -> None:
    """Requests reached through the team server (an orchestrator's approval gate starting)
    load neither SQLAlchemy nor the local store."""
    probe = ("import sys; from tracline.approvals import open_requests; r = open_requests(); "
             "print(type(r).__name__, 'sqlalchemy' in sys.modules, "
             "'tracline.approvals._store' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True,
                          text=True, check=False,
                          env={**os.environ, "TRACLINE_URL": "http://127.0.0.1:9",
                               "TRACLINE_TOKEN": "tl_probe"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["RemoteRequests", "False", "False"]


def test_an_unreachable_server_is_named_without_the_password_of_its_url(
        tmp_path: Path) -> None:
    """A server URL may carry credentials (``https://user:password@host``): the error of a
    client that cannot reach it names the server without the password."""
    from tracline.errors import StoreError
    from tracline.lineage._remote import RemoteLineage

    url = "http://trainer:pa55-w0rd@127.0.0.1:9"  # the discard port: nothing listens
    config = load_config({"TRACLINE_HOME": str(tmp_path)}, tmp_path)
    for ask in (lambda: RemoteRequests(url, "tlk_x", config, timeout=5).list(),
                lambda: RemoteLineage(url, "tlk_x", timeout=5).trace(DIGEST_A, 1)):
        with pytest.raises(StoreError) as caught:
            ask()
        assert "pa55-w0rd" not in str(caught.value)
        assert "http://trainer:***@127.0.0.1:9" in str(caught.value)
