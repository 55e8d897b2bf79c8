"""Schemathesis against the server's own OpenAPI spec: generated calls never get a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from team import TeamServer


@pytest.fixture(scope="module")
def api_schema(sqlite_team: TeamServer) -> Any:
    """The spec as the server publishes it (to an authenticated caller)."""
    token = sqlite_team.tokens["user:chris"]
    return schemathesis.openapi.from_url(f"{sqlite_team.url}/api/v1/openapi.json",
                                         headers={"Authorization": f"Bearer {token}"})


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=30, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, sqlite_team: TeamServer) -> None:
    """Whatever a caller sends to any operation, the answer is never a server error."""
    for principal in ("user:chris", "agent:trainer"):
        headers = {"Authorization": f"Bearer {sqlite_team.tokens[principal]}"}
        response = case.call(base_url=sqlite_team.url, headers=headers)
        case.validate_response(response, checks=[not_a_server_error])
