"""Prefect's own UI, in headless Chromium: the flow run's page shows tracline's artifacts —
the training request (status, estimate, reviewer, link) and the receipt of the approved task."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _prefect_harness import TEST_FLOWS, PrefectEnv

from tracline.testing import chromium, conformance_request

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.skipif(shutil.which("chromium") is None and not Path(CHROMIUM).exists(),
                    reason="needs Debian's chromium (scripts/system-deps.sh installs it)")
def test_flow_run_page_shows_traclines_artifacts(prefect_env: PrefectEnv,
                                                 tmp_path: Path) -> None:
    """On the flow run's page in Prefect's UI, the Artifacts tab lists tracline's request
    and receipt; the request artifact shows its status, estimate, reviewer and where to
    review it. A screenshot of each page is saved in the test's folder."""
    deployment = prefect_env.deploy(TEST_FLOWS, "gated.py:gated", name="gated")
    service = prefect_env.requests()
    try:
        request = service.file(conformance_request(title="Shown in Prefect's UI"))
        service.approve(request.id, "user:chris")
    finally:
        service.close()
    run = prefect_env.run(deployment, request_id=request.id, marker=str(tmp_path / "ran"))
    assert prefect_env.wait_final(run).state.is_completed(), prefect_env.logs(run)
    keys = {a.key for a in prefect_env.artifacts(run) if a.key}
    slug = request.id.lower()
    assert {f"tracline-request-{slug}", f"tracline-receipt-{slug}"} <= keys, keys

    with chromium(CHROMIUM) as browser:
        page = browser.new_page()
        page.set_viewport_size({"width": 1400, "height": 1000})
        page.goto(f"{prefect_env.ui_url}/runs/flow-run/{run}", timeout=180_000)
        page.get_by_text("Artifacts", exact=True).first.click(timeout=180_000)
        page.get_by_text(f"tracline-request-{slug}").first.wait_for(timeout=180_000)
        page.get_by_text(f"tracline-receipt-{slug}").first.wait_for(timeout=180_000)
        listing = tmp_path / "flow-run-artifacts.png"
        page.screenshot(path=str(listing), full_page=True)
        print(f"\nscreenshot of the flow run's artifacts: {listing}")

        page.get_by_text(f"tracline-request-{slug}", exact=True).first.click()
        page.get_by_text("Estimate").first.wait_for(timeout=180_000)
        text = page.inner_text("body")
        shown = tmp_path / "request-artifact.png"
        page.screenshot(path=str(shown), full_page=True)
        print(f"screenshot of tracline's request artifact: {shown}")
    for words in (request.id, "approved", "Estimate", "user:chris", "Reviewers"):
        assert words in text, (words, text[:3000])
