"""The review web page in headless Chromium against a real team server: sign-in, queue,
approve, what a requester is not shown, history, spend chart, receipt with lineage graph."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from team import TeamServer, docs_spec, make_server
from test_hardening import post_form

from tracline.testing import chromium

WEB_TOML = '\n[marquez]\nweb_url = "http://marquez.example:3000"\n'


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TeamServer]:
    """A team server on SQLite whose receipts link to a Marquez web UI."""
    root = tmp_path_factory.mktemp("web")
    server = make_server(root / "server", f"sqlite:///{root / 'store.db'}",
                         extra_toml=WEB_TOML)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium (Debian's), one profile for the module."""
    with chromium() as context:
        yield context


def sign_in(browser: Any, site: TeamServer, principal: str) -> Any:
    """A new page signed in as ``principal`` (cookies cleared first)."""
    browser.clear_cookies()
    page = browser.new_page()
    page.goto(f"{site.url}/signin")
    page.fill("input[name=token]", site.tokens[principal])
    page.click("button[type=submit]")
    page.wait_for_url(f"{site.url}/")
    assert page.inner_text("[data-testid=me]") == principal
    return page


def test_reviewer_signs_in_and_approves(site: TeamServer, browser: Any) -> None:
    """chris signs in, finds the request in the queue, approves it with a comment; the
    approval is attested by the server's key and counts."""
    r = site.client("agent:trainer").file(docs_spec())
    page = sign_in(browser, site, "user:chris")
    assert r.id in page.inner_text("main")
    assert DIGEST in page.inner_text("main")
    page.click(f"a[href='/requests/{r.id}']")
    page.fill("[data-testid=approve-form] textarea[name=note]", "looks right")
    page.click("[data-testid=approve]")
    page.wait_for_selector("[data-testid=state]:has-text('approved')")
    assert page.inner_text("[data-testid=in-force]").startswith("user:chris")
    stored = site.client("user:chris").get(r.id)
    assert stored.approvals[0].via == "server" and stored.approvals[0].note == "looks right"
    assert site.tokens["user:chris"] not in page.content()  # no secret is ever rendered
    page.close()


DIGEST = "sha256:" + "a" * 64


def test_requester_sees_no_approve_button_and_a_forged_post_is_403(site: TeamServer,
                                                                    browser: Any) -> None:
    """dana (a reviewer) files her own request: her page shows no approve button, and a
    hand-made POST with her session and a valid CSRF token is refused with 403."""
    r = site.client("user:dana").file(docs_spec(requester="user:dana",
                                                reviewers=["group:ml-leads"]))
    page = sign_in(browser, site, "user:dana")
    page.goto(f"{site.url}/requests/{r.id}")
    assert page.query_selector("[data-testid=approve]") is None
    assert page.query_selector("[data-testid=reject]") is None
    csrf = page.get_attribute("header form input[name=csrf]", "value")
    session = next(c for c in browser.cookies() if c["name"] == "tracline_session")
    before = {k: v for k, v in site.snapshot().items() if k != "web_sessions"}
    status, body, _ = post_form(site, f"/requests/{r.id}/approve",
                                {"csrf": csrf or "", "digest": r.digest},
                                f"tracline_session={session['value']}")
    assert status == 403 and "may not approve" in body
    assert {k: v for k, v in site.snapshot().items() if k != "web_sessions"} == before
    page.close()


def test_history_spend_and_receipt_pages(site: TeamServer, browser: Any) -> None:
    """History shows the audit chain verified; spend draws a chart; a receipt draws the
    lineage graph with links into Marquez's web UI."""
    agent = site.client("agent:trainer")
    r = agent.file(docs_spec(title="for the spend chart"))
    site.client("user:chris").approve(r.id, "user:chris")
    run_id = str(uuid.uuid4())
    model = "sha256:" + "c" * 64
    event = {
        "eventType": "COMPLETE", "eventTime": "2026-03-02T10:00:00Z",
        "producer": "https://github.com/tracline/tracline",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id}, "job": {"namespace": "tests", "name": "train"},
        "inputs": [{"namespace": "s3://datasets", "name": "cats", "facets": {
            "version": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/"
                        "1-0-1/DatasourceDatasetFacet.json", "datasetVersion": DIGEST}}}],
        "outputs": [{"namespace": "file", "name": "/models/cat.pt", "facets": {
            "version": {"_producer": "p", "_schemaURL": "https://openlineage.io/spec/facets/"
                        "1-0-1/DatasourceDatasetFacet.json", "datasetVersion": model}}}],
    }
    assert site.request("POST", "/api/v1/lineage", body=event,
                        token=site.tokens["agent:trainer"])[0] == 201
    page = sign_in(browser, site, "user:erin")
    page.goto(f"{site.url}/history")
    assert "Audit chain verified" in page.inner_text("[data-testid=audit-status]")
    page.goto(f"{site.url}/spend?by=agent")
    chart = page.inner_html("[data-testid=spend-chart]")
    assert "<svg" in chart and "agent:trainer" in chart
    page.goto(f"{site.url}/receipt?ref={model}")
    graph = page.inner_html("[data-testid=lineage-graph]")
    assert "<svg" in graph and "cat.pt" in graph and "train" in graph
    link = page.get_attribute("[data-testid=marquez-link]", "href")
    assert link == "http://marquez.example:3000/lineage/dataset/file/%2Fmodels%2Fcat.pt"
    page.close()
