"""Dagster's own UI (a real dagster-webserver) in headless Chromium: the asset page of a
gated materialisation shows tracline's digest, cost and approval."""

from __future__ import annotations

import shutil
import urllib.request
from contextlib import closing
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from _dagster_harness import Project, dagster_service, free_port, wait_for

from tracline.testing import conformance_request
from tracline_dagster import TraclineResource

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _materialize_gated(pipeline: Any, project: Project) -> tuple[str, str]:
    """An approved request, launched by the sensor and run: (request id, the digest)."""
    with closing(project.requests()) as service:
        request = service.file(conformance_request())
        service.approve(request.id, "user:chris")
    sensor = pipeline.defs.resolve_sensor_def("train_job_approvals")
    tick = sensor.evaluate_tick(dg.build_sensor_context(
        instance=project.instance, resources={"tracline": TraclineResource()},
        definitions=pipeline.defs))
    (launch,) = tick.run_requests
    result = pipeline.defs.resolve_job_def("train_job").execute_in_process(
        instance=project.instance, tags=launch.tags,
        run_config={"ops": {"train": {"config": {"marker": str(project.data / "ran")}}}})
    assert result.success
    event = project.instance.get_latest_materialization_event(dg.AssetKey("train"))
    assert event is not None and event.asset_materialization is not None
    return request.id, str(event.asset_materialization.metadata["tracline/digest"].value)


def test_the_asset_page_shows_digest_cost_and_approval(pipeline: Any, project: Project,
                                                       tmp_path: Path) -> None:
    """Dagster's asset page for ``train`` shows the content digest, the GPU cost and the
    approval of the materialisation (screenshot saved in the test's folder)."""
    if not Path(CHROMIUM).exists():
        pytest.fail("chromium is not installed: run scripts/system-deps.sh")
    from playwright.sync_api import sync_playwright

    request_id, digest = _materialize_gated(pipeline, project)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with dagster_service("dagster-webserver", ["dagster-webserver", "-h", "127.0.0.1", "-p",
                                               str(port)], project,
                         tmp_path / "webserver.log") as server:
        def up() -> bool:
            server.alive()
            try:
                with urllib.request.urlopen(f"{base}/server_info", timeout=5) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for("dagster-webserver to answer", up, timeout=300, interval=0.5)
        with sync_playwright() as playwright:
            # A fresh profile (--user-data-dir) for this test alone.
            browser = playwright.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, args=FLAGS,
                headless=True, viewport={"width": 1600, "height": 1000})
            try:
                page = browser.new_page()
                page.goto(f"{base}/assets/train?view=events", timeout=300_000)
                skip = page.get_by_role("button", name="Skip")  # Dagster's newsletter prompt
                if skip.count():
                    skip.first.click()
                page.get_by_text(digest).first.wait_for(timeout=300_000)
                page.get_by_text(f"{request_id} approved by user:chris").first.wait_for(
                    timeout=60_000)
                page.get_by_text("declared: 1 × H100").first.wait_for(timeout=60_000)
                shot = tmp_path / "dagster-asset-page.png"
                page.screenshot(path=str(shot), full_page=True)
                print(f"screenshot of Dagster's asset page: {shot}")
            finally:
                browser.close()
    assert shot.stat().st_size > 0
