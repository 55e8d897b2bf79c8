"""`tracline request ...` and `tracline spend`, including the docs' 8× H100 example."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tracline.approvals import _schema as tables
from tracline.approvals import open_requests
from tracline.cli import main
from tracline.config import reset_config

TOML = """
[policy]
reviewers = ["user:chris", "group:ml-leads"]

[policy.groups]
ml-leads = ["user:chris", "user:dana"]
"""
DOCS_EXAMPLE = ["request", "file", "--title", "Fine-tune the cat classifier",
                "--requester", "agent:trainer", "--project", "vision",
                "--dataset", "s3://datasets/cats@sha256:" + "a" * 64,
                "--gpu", "H100", "--gpus", "8", "--hours", "3.2", "--budget", "984",
                "--rationale", "Accuracy plateaued; a longer schedule should help.",
                "--reviewer", "user:chris"]


@pytest.fixture
def home(tracline_home: Path) -> Path:
    """A working directory with the test policy in tracline.toml."""
    (tracline_home.parent / "tracline.toml").write_text(TOML)
    reset_config()
    return tracline_home.parent


def run(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> str:
    """Run the CLI in-process; assert its exit code; return stdout (stderr on failure)."""
    assert main(list(args)) == code
    out, err = capsys.readouterr()
    return out if code == 0 else err + out


def run_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    """Run the CLI with --json and parse what it printed."""
    return json.loads(run(capsys, *args, "--json"))


def test_docs_example_fits_and_shows_arithmetic(home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """8× H100 × 3.2 h, budget $984: the estimate's arithmetic and source, and that it fits."""
    data = run_json(capsys, *DOCS_EXAMPLE)
    assert data["estimate"]["amount"] == 314.62
    assert data["estimate"]["arithmetic"].startswith("8 × H100 × 3.2 h × $12.29/GPU-h (AWS")
    assert "as of 2024-06-01) = $314.62" in data["estimate"]["arithmetic"]
    assert data["fits_budget"] is True and data["shortfall"] is None
    assert data["fit"] == "fits: budget $984.00 covers the estimate $314.62 ($669.38 to spare)"
    assert data["reviewers"] == ["user:chris"] and data["state"] == "pending"

    human = run(capsys, "request", "show", data["id"])
    assert "8 × H100 × 3.2 h × $12.29/GPU-h" in human
    assert "p5.48xlarge" in human and "as of 2024-06-01" in human
    assert "fits: budget $984.00 covers the estimate $314.62" in human
    assert data["digest"] in human


def test_docs_example_names_the_shortfall(home: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """With H100s priced at $40/GPU-h the same request is refused, naming the $40 shortfall."""
    (home / "tracline.toml").write_text(
        TOML + '\n[prices.H100]\nper_gpu_hour = 40\nsource = "test quote"\nas_of = 2026-01-05\n')
    reset_config()
    err = run(capsys, *DOCS_EXAMPLE, code=2)
    assert err.startswith("tracline: error: budget: shortfall: the estimate $1,024.00 "
                          "exceeds the budget $984.00 by $40.00")
    assert run_json(capsys, "request", "list") == []
    data = run_json(capsys, *DOCS_EXAMPLE, "--over-estimate", "we will stop early")
    assert data["shortfall"] == {"amount": 40.0, "currency": "USD"}
    assert "(test quote, as of 2026-01-05) = $1,024.00" in data["estimate"]["arithmetic"]
    assert data["over_estimate"] == "we will stop early"


def test_review_claim_and_spend_through_the_cli(home: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Agent files, agent approval refused, chris approves, one claim, spend and audit report."""
    rid = run_json(capsys, *DOCS_EXAMPLE)["id"]
    err = run(capsys, "request", "approve", rid, "--as", "agent:trainer", code=2)
    assert "agents never approve" in err
    approved = run_json(capsys, "request", "approve", rid, "--as", "user:chris")
    assert approved["state"] == "approved"
    assert approved["approvals"][0]["actor"] == "user:chris"
    run_1, run_2 = str(uuid.uuid4()), str(uuid.uuid4())
    assert run_json(capsys, "request", "claim", rid, "--run-id", run_1)["state"] == "claimed"
    assert f"already claimed by run {run_1}" in run(capsys, "request", "claim", rid, "--run-id",
                                                    run_2, code=2)
    done = run_json(capsys, "request", "complete", rid, "--gpu-seconds", str(8 * 3 * 3600))
    assert done["completion"]["actual"]["amount"] == 294.96
    assert run_json(capsys, "request", "list", "--state", "completed")[0]["id"] == rid

    (row,) = run_json(capsys, "spend", "--by", "agent")
    assert (row["key"], row["estimate"], row["actual"]) == ("agent:trainer", 314.62, 294.96)
    assert "agent:trainer" in run(capsys, "spend")
    actions = [e["action"] for e in run_json(capsys, "request", "audit", rid)]
    assert actions == ["file", "approve", "claim", "complete"]
    assert "claim" in run(capsys, "request", "audit")
    assert run_json(capsys, "request", "audit", "--verify")["ok"] is True
    assert "audit log intact: 4 entries" in run(capsys, "request", "audit", "--verify")


def test_verify_exits_1_on_tampering(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`audit --verify` prints the broken seq and exits 1 after an entry was edited."""
    run_json(capsys, *DOCS_EXAMPLE)
    svc = open_requests()
    with svc.store.engine.begin() as conn:
        conn.execute(sa.update(tables.audit).values(actor="user:mallory"))
    svc.close()
    out = run(capsys, "request", "audit", "--verify", code=1)
    assert "audit log BROKEN" in out and "seq 1: entry 1 was edited" in out
    report = json.loads(run(capsys, "request", "audit", "--verify", "--json", code=1))
    assert report["ok"] is False and report["problems"][0]["seq"] == 1


def test_cancel_reject_amend_and_bad_input(home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The remaining verbs work and bad input is one error line with exit code 2."""
    rid = run_json(capsys, *DOCS_EXAMPLE)["id"]
    amended = run_json(capsys, "request", "amend", rid, "--as", "agent:trainer", "--hours", "2")
    assert amended["estimate"]["amount"] == 196.64
    assert "not a reviewer" in run(capsys, "request", "reject", rid, "--as", "user:dana",
                                   "--reason", "no", code=2)
    assert run_json(capsys, "request", "reject", rid, "--as", "user:chris", "--reason",
                    "wait for the new data")["state"] == "rejected"
    other = run_json(capsys, *DOCS_EXAMPLE)["id"]
    assert run_json(capsys, "request", "cancel", other, "--as", "agent:trainer")["state"] == (
        "cancelled")
    assert "no training request 'req-nope'" in run(capsys, "request", "show", "req-nope", code=2)
    assert "expires_in" in run(capsys, *DOCS_EXAMPLE, "--expires-in", "soon", code=2)
    assert "gpu_model: unknown GPU model 'K80'" in run(
        capsys, *[a if a != "H100" else "K80" for a in DOCS_EXAMPLE], code=2)
    listing = run(capsys, "request", "list")
    assert rid[:6] in listing and "rejected" in listing
