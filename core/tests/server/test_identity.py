"""Tokens and principals: hashed, shown once, expiring, revocable; roles that hold."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from team import snapshot

from tracline.errors import AuthenticationError, NotAuthorized, ValidationError
from tracline.identity import Principal, TokenStore
from tracline.server import bind_warning


class Clock:
    """A clock the test moves."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now


def test_tokens_are_stored_hashed_and_expire(tmp_path: Path) -> None:
    """The database never holds the secret; a token works until it expires or is revoked."""
    clock = Clock()
    url = f"sqlite:///{tmp_path / 'tokens.db'}"
    store = TokenStore(url, clock=clock)
    issued = store.issue("user:chris", ["requester", "reviewer"], ttl=dt.timedelta(hours=1))
    secret = issued.secret.split("_", 2)[2]
    assert secret not in repr(snapshot(url))
    assert (tmp_path / "tokens.db").read_bytes().find(secret.encode()) == -1
    who = store.authenticate(issued.secret)
    assert who.name == "user:chris" and who.roles == {"requester", "reviewer"}
    with pytest.raises(AuthenticationError, match="unknown token"):
        store.authenticate(issued.secret[:-1] + ("A" if issued.secret[-1] != "A" else "B"))
    clock.now += dt.timedelta(hours=2)
    with pytest.raises(AuthenticationError, match="expired"):
        store.authenticate(issued.secret)
    other = store.issue("agent:bot", ["agent"], ttl=dt.timedelta(days=1))
    store.revoke(other.info.id)
    with pytest.raises(AuthenticationError, match="revoked"):
        store.authenticate(other.secret)
    store.close()


def test_agents_never_get_reviewer(tmp_path: Path) -> None:
    """An agent token with the reviewer role is refused; an agent principal may not approve."""
    store = TokenStore(f"sqlite:///{tmp_path / 'tokens.db'}")
    with pytest.raises(ValidationError, match="cannot be a reviewer"):
        store.issue("agent:bot", ["reviewer"], ttl=dt.timedelta(days=1))
    store.close()
    bot = Principal("agent:bot", frozenset({"reviewer", "agent"}))
    assert not bot.may("approve")
    with pytest.raises(NotAuthorized, match="needs the role"):
        Principal("user:eve", frozenset({"requester"})).require("approve")


def test_bound_elsewhere_without_tls_warns() -> None:
    """Loopback is quiet; any other address without TLS gets a warning, with TLS none."""
    assert bind_warning("127.0.0.1", 5050, tls=False) is None
    assert bind_warning("::1", 5050, tls=False) is None
    warning = bind_warning("0.0.0.0", 5050, tls=False)
    assert warning is not None and "without TLS" in warning
    assert bind_warning("10.1.2.3", 5050, tls=True) is None
