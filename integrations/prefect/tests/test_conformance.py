"""The Prefect gate through core's gated-run conformance suite — a real flow run per case on
the session's server and worker — and a flow retry that reuses its claim."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from _prefect_harness import TEST_FLOWS, PrefectEnv

from tracline.approvals import RequestService, State
from tracline.testing import GatedResult, GatedRunConformanceSuite, conformance_request


@pytest.fixture(scope="module")
def gated(prefect_env: PrefectEnv) -> str:
    """The gated test flow, deployed."""
    return prefect_env.deploy(TEST_FLOWS, "gated.py:gated", name="gated")


class TestPrefectGateConformance(GatedRunConformanceSuite):
    """The gate of a suspended-and-resumed Prefect flow keeps every lifecycle promise."""

    orchestrator = "prefect"
    waits = True
    stops_overruns = True
    env: PrefectEnv
    deployment: str

    @pytest.fixture(autouse=True)
    def _prefect(self, prefect_env: PrefectEnv, gated: str) -> None:
        self.env, self.deployment = prefect_env, gated

    def requests(self) -> RequestService:
        return self.env.requests()

    def run_gated(self, request_id: str, *, marker: Path, fail: bool = False,
                  while_waiting: Callable[[], None] | None = None,
                  overrun: bool = False) -> GatedResult:
        run = self.env.run(self.deployment, request_id=request_id, marker=str(marker),
                           fail=fail, overrun=overrun)
        if while_waiting is not None:
            self.env.wait_suspended(run)
            while_waiting()
        final = self.env.wait_final(run)
        return GatedResult(final.state.is_completed(),
                           f"{final.state.message}\n{self.env.logs(run)}")


def test_flow_retry_reuses_its_claim(prefect_env: PrefectEnv, gated: str,
                                     tmp_path: Path) -> None:
    """A flow run that fails after claiming and is retried by Prefect goes through the gate
    again under the same claim: one claim in the audit log, the work runs once, completed."""
    service = prefect_env.requests()
    try:
        request = service.file(conformance_request(title="Claimed once across a retry"))
        service.approve(request.id, "user:chris")
    finally:
        service.close()
    marker = tmp_path / "ran"
    run = prefect_env.run(gated, request_id=request.id, marker=str(marker),
                          flaky_flag=str(tmp_path / "flaky"))
    final = prefect_env.wait_final(run)
    assert final.state.is_completed(), prefect_env.logs(run)
    assert (tmp_path / "flaky").exists(), "the step after the gate never failed"
    assert marker.read_text().splitlines() == ["ran"]
    service = prefect_env.requests()
    try:
        settled = service.get(request.id)
        claims = [e for e in service.audit(request.id) if e.action == "claim"]
    finally:
        service.close()
    assert settled.state == State.COMPLETED
    assert settled.run_id == str(run)
    assert len(claims) == 1, claims
