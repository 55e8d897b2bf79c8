"""Schemathesis against the server's own OpenAPI spec: generated calls never get a 5xx."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from team import TeamServer


def test_no_server_errors(sqlite_team: TeamServer) -> None:
    """Whatever a requester, a reviewer or an agent sends to any operation of the published
    spec (valid and invalid bodies, queries, paths), the answer is never a server error."""
    url, tokens = sqlite_team.url, sqlite_team.tokens
    schema = schemathesis.openapi.from_url(
        f"{url}/api/v1/openapi.json",
        headers={"Authorization": f"Bearer {tokens['user:chris']}"})
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 15
    calls: list[int] = []
    for operation in operations:

        @settings(max_examples=20, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def check(case: Any) -> None:
            for principal in ("user:chris", "agent:trainer"):
                headers = {"Authorization": f"Bearer {tokens[principal]}"}
                response = case.call(base_url=url, headers=headers)
                calls.append(response.status_code)
                case.validate_response(response, checks=[not_a_server_error])

        check()
    assert len(calls) >= 10 * len(operations)
    assert not [c for c in calls if c >= 500]
