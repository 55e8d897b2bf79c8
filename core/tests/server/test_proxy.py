"""Single sign-on through a reverse proxy: its identity header is trusted from its address
only, and acts as the person it names."""

from __future__ import annotations

from pathlib import Path

import pytest
from team import make_server


@pytest.mark.parametrize(("trusted", "expected"), [("127.0.0.1", 200), ("127.0.0.2", 401)])
def test_proxy_header_only_from_the_proxy(tmp_path: Path, trusted: str, expected: int) -> None:
    """A header from the configured proxy address authenticates user:chris; the same header
    from any other address is ignored (401)."""
    server = make_server(tmp_path / "server", f"sqlite:///{tmp_path / 'store.db'}",
                         extra_toml=f'\n[server.proxy]\nheader = "X-Forwarded-User"\n'
                         f'trusted = ["{trusted}"]\nroles = ["requester", "reviewer"]\n')
    server.start()
    try:
        status, body = server.request("GET", "/api/v1/whoami",
                                      headers={"X-Forwarded-User": "chris"})
        assert status == expected
        if expected == 200:
            assert body["name"] == "user:chris" and body["via"] == "proxy"
            assert set(body["roles"]) == {"requester", "reviewer"}
            status, body = server.request("GET", "/api/v1/whoami",
                                          headers={"X-Forwarded-User": "chris; drop"})
            assert status == 401 and "not a user name" in body["error"]["message"]
    finally:
        server.stop()
