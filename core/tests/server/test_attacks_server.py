"""Every impersonation from issue #10, repeated against a real team server through the CLI:
each is refused with a clear reason, and every table is byte-identical before and after."""

from __future__ import annotations

import json
import uuid

import pytest
from team import DIGEST_A, TeamServer, docs_spec


def refused(team: TeamServer, principal: str, *args: str, reason: str, **env: str) -> str:
    """Run the CLI as ``principal``; assert it fails, says ``reason``, and wrote nothing."""
    before = team.snapshot()
    done = team.cli(principal, *args, **env)
    assert done.returncode != 0, done.stdout
    message = done.stderr + done.stdout
    assert reason in message, message
    assert "Traceback" not in message
    assert team.snapshot() == before
    return message


@pytest.fixture
def pending(team: TeamServer) -> str:
    """A pending request filed by agent:trainer, reviewer chris."""
    return team.client("agent:trainer").file(docs_spec()).id


def test_as_flag_is_refused(team: TeamServer, pending: str) -> None:
    """`--as user:chris` with eve's token: refused, nothing written."""
    refused(team, "user:eve", "request", "approve", pending, "--as", "user:chris",
            reason="--as user:chris is refused against a server")


def test_actor_variable_is_refused(team: TeamServer, pending: str) -> None:
    """`TRACLINE_ACTOR=user:chris` with eve's token: refused, nothing written."""
    refused(team, "user:eve", "request", "approve", pending,
            reason="TRACLINE_ACTOR user:chris is refused", TRACLINE_ACTOR="user:chris")


def test_login_name_does_not_make_a_reviewer(team: TeamServer, pending: str) -> None:
    """`LOGNAME=chris` with no flag: eve still acts as eve, who may not approve."""
    refused(team, "user:eve", "request", "approve", pending,
            reason="user:eve may not approve", LOGNAME="chris", USER="chris")


def test_agent_cannot_relabel_itself_or_approve(team: TeamServer, pending: str) -> None:
    """An agent calling itself a person is refused; approving as itself too."""
    refused(team, "agent:trainer", "request", "approve", pending, "--as", "user:trainer",
            reason="is refused against a server")
    refused(team, "agent:trainer", "request", "approve", pending,
            reason="agent:trainer may not approve")


def test_filing_for_someone_else_is_refused(team: TeamServer) -> None:
    """`request file --as user:chris --requester user:dana` with chris's token: refused."""
    refused(team, "user:chris", "request", "file", "--as", "user:chris", "--requester",
            "user:dana", "--title", "t", "--project", "vision",
            "--dataset", f"s3://d@{DIGEST_A}", "--gpu", "H100", "--gpus", "1",
            "--hours", "1", "--budget", "100", "--rationale", "r", "--reviewer", "user:chris",
            reason="--requester user:dana is refused against a server")


def test_one_person_gives_one_approval(team: TeamServer) -> None:
    """A two-approval request: chris approves once; approving again, or as dana, is refused."""
    r = team.client("agent:trainer").file(docs_spec(
        budget=6000, reviewers=["group:ml-leads"], title="big run"))
    assert team.cli("user:chris", "request", "approve", r.id).returncode == 0
    refused(team, "user:chris", "request", "approve", r.id, reason="already approved")
    refused(team, "user:chris", "request", "approve", r.id, "--as", "user:dana",
            reason="--as user:dana is refused against a server")
    assert team.client("user:chris").get(r.id).state.value == "pending"


def test_declared_cost_is_refused(team: TeamServer, pending: str) -> None:
    """`request complete --gpu-seconds 1 --cost 0.01` on an 80 GPU-h claim: refused."""
    agent = team.client("agent:trainer")
    team.client("user:chris").approve(pending, "user:chris")
    agent.claim(pending, str(uuid.uuid4()))
    refused(team, "agent:trainer", "request", "complete", pending, "--gpu-seconds", "1",
            "--cost", "0.01", reason="a declared cost (--gpu-seconds/--cost) is refused")
    refused(team, "user:eve", "request", "complete", pending,
            reason="user:eve did not claim")


def test_forged_approval_row_is_refused_by_claim_and_audit(team: TeamServer,
                                                           pending: str) -> None:
    """A hand-written approval row plus a state update: `request claim` refuses it (no valid
    signature, nothing written) and `audit --verify` fails naming the row."""
    import sqlalchemy as sa

    from tracline.approvals import _schema as t
    from tracline.db import make_engine

    digest = team.client("user:chris").get(pending).digest
    engine = make_engine(team.store_url)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.approvals).values(
            request_id=pending, actor="user:chris", digest=digest,
            decided_at="2026-01-01T00:00:00.000000+00:00",
            expires_at="2099-01-01T00:00:00.000000+00:00"))
        conn.execute(sa.update(t.requests).where(t.requests.c.id == pending)
                     .values(state="approved"))
    engine.dispose()
    refused(team, "agent:trainer", "request", "claim", pending, "--run-id", str(uuid.uuid4()),
            reason="has no valid signature")
    done = team.cli("user:chris", "request", "audit", "--verify", "--json")
    assert done.returncode == 1
    problems = [p["problem"] for p in json.loads(done.stdout)["problems"]]
    assert any(f"approval of {pending} by user:chris" in p for p in problems)
    assert any("state was changed outside tracline" in p for p in problems)
    engine = make_engine(team.store_url)
    with engine.begin() as conn:  # undo the forgery for the tests that share this server
        conn.execute(sa.delete(t.approvals).where(t.approvals.c.request_id == pending))
        conn.execute(sa.update(t.requests).where(t.requests.c.id == pending)
                     .values(state="pending"))
    engine.dispose()


def test_expect_head_catches_a_rewritten_log(team: TeamServer, pending: str) -> None:
    """`audit --verify --expect-head HASH` fails once the log no longer holds that head,
    although the rewritten chain is consistent in itself (last here: it wipes the log)."""
    import sqlalchemy as sa

    from tracline.approvals import _schema as t
    from tracline.db import make_engine

    status, head = team.request("GET", "/api/v1/audit/head",
                                token=team.tokens["user:chris"])
    assert status == 200 and head["ok"]
    ok = team.cli("user:chris", "request", "audit", "--verify", "--expect-head", head["hash"])
    assert ok.returncode == 0, ok.stderr
    engine = make_engine(team.store_url)
    with engine.begin() as conn:  # drop the whole log and its head: a "fresh", consistent log
        conn.execute(sa.delete(t.audit))
        conn.execute(sa.update(t.audit_head).values(seq=0, hash="sha256:" + "0" * 64))
    engine.dispose()
    bad = team.cli("user:chris", "request", "audit", "--verify", "--expect-head", head["hash"])
    assert bad.returncode == 1
    assert "is not in the log" in bad.stdout
