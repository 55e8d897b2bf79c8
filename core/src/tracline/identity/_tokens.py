"""API tokens: per user or agent, stored hashed, shown once, revocable, expiring.

A token reads ``tlk_<id>_<secret>``: the id finds the row, the secret (32 random bytes) is
compared with its stored SHA-256 in constant time. Only the id and the hash are kept, so a copy
of the database gives no usable token. Web sessions, made by signing in with a token, live in
the same database and end when their token is revoked or expires.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Callable

import attrs
from sqlalchemy import (
    Column,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)
from sqlalchemy.exc import SQLAlchemyError

from tracline.db import display_url, make_engine
from tracline.errors import AuthenticationError, NotFound, StoreError, ValidationError
from tracline.identity._principal import Principal, check_name, check_roles

__all__ = ["IssuedToken", "TokenInfo", "TokenStore"]

metadata = MetaData()

tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("principal", String(80), nullable=False),
    Column("roles", String(200), nullable=False),
    Column("secret_hash", String(80), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
    Column("note", Text),
    Index("ix_api_tokens_principal", "principal"),
)

sessions = Table(
    "web_sessions",
    metadata,
    Column("secret_hash", String(80), primary_key=True),
    Column("token_id", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("expires_at", String(40), nullable=False),
)

_PREFIX = "tlk_"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _hash(secret: str) -> str:
    return "sha256:" + hashlib.sha256(secret.encode()).hexdigest()


@attrs.frozen
class TokenInfo:
    """A token as listed: everything but its secret."""

    id: str
    principal: str
    roles: tuple[str, ...]
    created_at: str
    expires_at: str
    revoked_at: str | None
    note: str | None


@attrs.frozen
class IssuedToken:
    """A new token: ``secret`` is the whole token, shown once and never stored."""

    info: TokenInfo
    secret: str


class TokenStore:
    """Tokens and web sessions in the database at ``url`` (the request store's)."""

    def __init__(self, url: str, *, clock: Callable[[], dt.datetime] | None = None,
                 engine: Engine | None = None) -> None:
        self.engine = engine or make_engine(url)
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))
        try:
            metadata.create_all(self.engine)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open the token store at {display_url(url)}: "
                             f"{display_url(str(e))}",
                             hint="check the URL and that the database is reachable") from e

    def close(self) -> None:
        """Release the database connections."""
        self.engine.dispose()

    def issue(self, principal: str, roles: tuple[str, ...] | list[str], *,
              ttl: dt.timedelta, note: str | None = None) -> IssuedToken:
        """Make a token for ``principal`` with ``roles``, valid for ``ttl``."""
        principal = check_name(principal)
        chosen = check_roles(principal, roles)
        if ttl <= dt.timedelta(0) or ttl > dt.timedelta(days=3660):
            raise ValidationError("expires_in", f"{ttl} is not between a second and ten years")
        now = self._clock()
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        info = TokenInfo(token_id, principal, chosen, _iso(now), _iso(now + ttl), None, note)
        with self.engine.begin() as conn:
            conn.execute(insert(tokens).values(
                id=token_id, principal=principal, roles=",".join(chosen),
                secret_hash=_hash(secret), created_at=info.created_at,
                expires_at=info.expires_at, note=note))
        return IssuedToken(info, f"{_PREFIX}{token_id}_{secret}")

    def list(self, principal: str | None = None) -> list[TokenInfo]:
        """Every token (of ``principal``), newest first, without secrets."""
        query = select(tokens).order_by(tokens.c.created_at.desc())
        if principal:
            query = query.where(tokens.c.principal == principal)
        with self.engine.connect() as conn:
            return [TokenInfo(r.id, r.principal, tuple(r.roles.split(",")), r.created_at,
                              r.expires_at, r.revoked_at, r.note) for r in conn.execute(query)]

    def revoke(self, token_id: str) -> TokenInfo:
        """Revoke a token (and end its web sessions) from now on."""
        with self.engine.begin() as conn:
            done = conn.execute(update(tokens).where(tokens.c.id == token_id,
                                                     tokens.c.revoked_at.is_(None))
                                .values(revoked_at=_iso(self._clock())))
            conn.execute(delete(sessions).where(sessions.c.token_id == token_id))
        found = [t for t in self.list() if t.id == token_id]
        if not found:
            raise NotFound(f"no token {token_id!r}", hint="list them: tracline admin token list")
        if done.rowcount == 0 and found[0].revoked_at is None:  # pragma: no cover - race
            raise StoreError(f"token {token_id} could not be revoked")
        return found[0]

    def _principal(self, token_id: str, via: str) -> Principal:
        with self.engine.connect() as conn:
            row = conn.execute(select(tokens).where(tokens.c.id == token_id)).first()
        if row is None:
            raise AuthenticationError("unknown token", hint="ask an admin for a token")
        if row.revoked_at is not None:
            raise AuthenticationError(f"token {token_id} was revoked at {row.revoked_at}",
                                      hint="ask an admin for a new token")
        if row.expires_at <= _iso(self._clock()):
            raise AuthenticationError(f"token {token_id} expired at {row.expires_at}",
                                      hint="ask an admin for a new token")
        return Principal(row.principal, frozenset(row.roles.split(",")), via, row.id)

    def authenticate(self, token: str) -> Principal:
        """The principal of a whole token, or :class:`AuthenticationError`."""
        if not isinstance(token, str) or not token.startswith(_PREFIX) or token.count("_") < 2:
            raise AuthenticationError("malformed token",
                                      hint="send the whole token: Authorization: Bearer tlk_...")
        token_id, _, secret = token[len(_PREFIX):].partition("_")
        with self.engine.connect() as conn:
            stored = conn.execute(select(tokens.c.secret_hash)
                                  .where(tokens.c.id == token_id)).scalar()
        if stored is None or not hmac.compare_digest(stored, _hash(secret)):
            raise AuthenticationError("unknown token", hint="ask an admin for a token")
        return self._principal(token_id, "token")

    # -- web sessions ---------------------------------------------------------------------------

    def open_session(self, principal: Principal, ttl: dt.timedelta) -> str:
        """A new session secret for a principal that signed in with a token."""
        if principal.token_id is None:
            raise ValidationError("session", "only a token sign-in opens a session")
        secret = secrets.token_urlsafe(32)
        now = self._clock()
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.expires_at <= _iso(now)))
            conn.execute(insert(sessions).values(secret_hash=_hash(secret),
                                                 token_id=principal.token_id,
                                                 created_at=_iso(now),
                                                 expires_at=_iso(now + ttl)))
        return secret

    def session(self, secret: str) -> Principal:
        """The principal of a live session, or :class:`AuthenticationError`."""
        with self.engine.connect() as conn:
            row = conn.execute(select(sessions).where(sessions.c.secret_hash == _hash(secret))
                               ).first()
        if row is None or row.expires_at <= _iso(self._clock()):
            raise AuthenticationError("no session", hint="sign in again")
        return self._principal(row.token_id, "session")

    def close_session(self, secret: str) -> None:
        """End a session (sign-out)."""
        with self.engine.begin() as conn:
            conn.execute(delete(sessions).where(sessions.c.secret_hash == _hash(secret)))
