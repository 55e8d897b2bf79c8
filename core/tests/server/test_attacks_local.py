"""Every impersonation from issue #10 in local mode with signing on: identity is the signing
key's owner in the allowed-signers file, approvals carry SSH signatures a claim verifies.
Each attack is refused with a clear reason and every table is byte-identical afterwards."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from team import DIGEST_A, POLICY_TOML, snapshot

from tracline.approvals import _schema as t
from tracline.approvals import open_requests
from tracline.cli import main
from tracline.config import load_config, reset_config
from tracline.db import make_engine
from tracline.identity import NAMESPACE, generate_key, public_key

PEOPLE = ("user:chris", "user:dana", "user:eve", "agent:trainer")


@pytest.fixture
def local(tracline_home: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A working directory with signing on: a key per principal, an allowed-signers file."""
    root = tracline_home.parent
    keys = {}
    for principal in PEOPLE:
        keys[principal] = root / "keys" / principal.split(":")[1]
        generate_key(keys[principal], principal)
    allowed = root / "allowed_signers"
    allowed.write_text("".join(f'{p} namespaces="{NAMESPACE}" {public_key(k)}\n'
                               for p, k in keys.items()))
    (root / "tracline.toml").write_text(
        POLICY_TOML + f'\n[signing]\nallowed_signers = "{allowed}"\nrequired = true\n')
    reset_config()
    open_requests(load_config()).close()  # the store exists before the first snapshot
    return {"root": root, "keys": keys, "allowed": allowed,
            "url": load_config().registry_url, "monkeypatch": monkeypatch}


def act_as(local: dict[str, Any], principal: str) -> None:
    """Use ``principal``'s private key from now on."""
    local["monkeypatch"].setenv("TRACLINE_SIGNING_KEY", str(local["keys"][principal]))
    reset_config()


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the CLI in-process; (exit code, everything it printed)."""
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, err + out


def refused(local: dict[str, Any], capsys: pytest.CaptureFixture[str], *args: str,
            reason: str) -> None:
    """The command fails saying ``reason`` and writes nothing."""
    before = snapshot(local["url"])
    code, text = cli(capsys, *args)
    assert code != 0, text
    assert reason in text, text
    assert snapshot(local["url"]) == before


FILE = ["request", "file", "--title", "t", "--project", "vision", "--dataset",
        f"s3://d@{DIGEST_A}", "--gpu", "H100", "--gpus", "8", "--hours", "10",
        "--rationale", "r"]


def filed(local: dict[str, Any], capsys: pytest.CaptureFixture[str], budget: str = "984",
          reviewer: str = "user:chris") -> str:
    """A request filed by agent:trainer with its own key."""
    act_as(local, "agent:trainer")
    code, text = cli(capsys, *FILE, "--budget", budget, "--reviewer", reviewer, "--json")
    assert code == 0, text
    return str(json.loads(text)["id"])


def test_as_flag_and_actor_variable_are_refused(local: dict[str, Any],
                                                capsys: pytest.CaptureFixture[str],
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """With eve's key, `--as user:chris` and `TRACLINE_ACTOR=user:chris` are refused."""
    rid = filed(local, capsys)
    act_as(local, "user:eve")
    refused(local, capsys, "request", "approve", rid, "--as", "user:chris",
            reason="--as user:chris is refused: signing is on and your key belongs to user:eve")
    monkeypatch.setenv("TRACLINE_ACTOR", "user:chris")
    refused(local, capsys, "request", "approve", rid,
            reason="TRACLINE_ACTOR user:chris is refused")


def test_login_name_is_not_identity(local: dict[str, Any], capsys: pytest.CaptureFixture[str],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """`LOGNAME=chris` with eve's key and no flag: eve acts, and eve is no reviewer."""
    rid = filed(local, capsys)
    act_as(local, "user:eve")
    monkeypatch.setenv("LOGNAME", "chris")
    monkeypatch.setenv("USER", "chris")
    refused(local, capsys, "request", "approve", rid, reason="user:eve is not a reviewer")


def test_agent_cannot_relabel_or_approve(local: dict[str, Any],
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """The agent's key cannot act as a person, nor approve as itself."""
    rid = filed(local, capsys)
    refused(local, capsys, "request", "approve", rid, "--as", "user:trainer",
            reason="your key belongs to agent:trainer")
    refused(local, capsys, "request", "approve", rid, reason="agents never approve")


def test_filing_for_someone_else_is_refused(local: dict[str, Any],
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """chris's key: `file --as user:chris --requester user:dana` is refused."""
    act_as(local, "user:chris")
    refused(local, capsys, *FILE, "--budget", "984", "--reviewer", "user:chris",
            "--as", "user:chris", "--requester", "user:dana",
            reason="--requester user:dana is refused")


def test_one_key_gives_one_approval(local: dict[str, Any],
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """A two-approval request: chris approves; again, as dana, or with a key listed under two
    names, it is refused."""
    rid = filed(local, capsys, budget="9000", reviewer="group:ml-leads")
    act_as(local, "user:chris")
    code, text = cli(capsys, "request", "approve", rid)
    assert code == 0, text
    refused(local, capsys, "request", "approve", rid, reason="already approved")
    refused(local, capsys, "request", "approve", rid, "--as", "user:dana",
            reason="your key belongs to user:chris")
    chris_key = public_key(local["keys"]["user:chris"])
    with local["allowed"].open("a") as f:  # chris's key listed a second time, as dana
        f.write(f'user:dana namespaces="{NAMESPACE}" {chris_key}\n')
    refused(local, capsys, "request", "approve", rid, reason="not to exactly one principal")


def test_forged_row_is_not_claimable_and_audit_names_it(
        local: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """An approval row and state update by hand: the claim is refused (no valid signature)
    and `audit --verify` exits 1 naming the row."""
    rid = filed(local, capsys)
    svc = open_requests(load_config())
    digest = svc.get(rid).digest
    engine = make_engine(local["url"])
    with engine.begin() as conn:
        conn.execute(sa.insert(t.approvals).values(
            request_id=rid, actor="user:chris", digest=digest,
            decided_at="2026-01-01T00:00:00.000000+00:00",
            expires_at="2099-01-01T00:00:00.000000+00:00"))
        conn.execute(sa.update(t.requests).where(t.requests.c.id == rid)
                     .values(state="approved"))
    engine.dispose()
    refused(local, capsys, "request", "claim", rid, "--run-id", str(uuid.uuid4()),
            reason="has no valid signature")
    code, text = cli(capsys, "request", "audit", "--verify")
    assert code == 1 and f"approval of {rid} by user:chris" in text


def test_signed_approval_is_claimable_and_cost_comes_from_the_run(
        local: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """chris's signed approval counts; a declared cost is refused after the claim."""
    rid = filed(local, capsys)
    act_as(local, "user:chris")
    assert cli(capsys, "request", "approve", rid)[0] == 0
    act_as(local, "agent:trainer")
    code, text = cli(capsys, "request", "claim", rid, "--run-id", str(uuid.uuid4()))
    assert code == 0, text
    refused(local, capsys, "request", "complete", rid, "--gpu-seconds", "1", "--cost", "0.01",
            reason="a declared cost (--gpu-seconds/--cost) is refused")
    code, text = cli(capsys, "request", "audit", "--verify")
    assert code == 0, text


def test_tampered_signature_does_not_count(local: dict[str, Any],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """A real approval whose decided_at was moved by hand no longer verifies."""
    rid = filed(local, capsys)
    act_as(local, "user:chris")
    assert cli(capsys, "request", "approve", rid)[0] == 0
    engine = make_engine(local["url"])
    with engine.begin() as conn:
        conn.execute(sa.update(t.approvals).where(t.approvals.c.request_id == rid)
                     .values(decided_at="2099-01-01T00:00:00.000000+00:00"))
    engine.dispose()
    act_as(local, "agent:trainer")
    refused(local, capsys, "request", "claim", rid, "--run-id", str(uuid.uuid4()),
            reason="has no valid signature")
