"""Who is calling: a bearer token, a web session, or a trusted reverse proxy's header.

Nothing but ``/api/v1/health`` answers without one of them. Sessions are opened by signing
in with a token on the web page; their cookie is HttpOnly and SameSite=Strict (Secure when
served over TLS or behind a proxy), and every form carries a CSRF token derived from the
session. Wrong sign-ins are counted per client address and refused past a limit.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import re
import threading
import time

from starlette.requests import Request

from tracline.errors import AuthenticationError
from tracline.identity import Principal, TokenStore
from tracline.server._settings import ServerSettings

__all__ = ["SESSION_COOKIE", "Authenticator", "SignInLimiter"]

SESSION_COOKIE = "tracline_session"
_PROXY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


class SignInLimiter:
    """Counts wrong sign-ins per address over a sliding window."""

    def __init__(self, attempts: int, window: float) -> None:
        self.attempts, self.window = attempts, window
        self._failures: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> collections.deque[float]:
        failures = self._failures.setdefault(address, collections.deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, address: str) -> int | None:
        """Seconds until ``address`` may try again, or None when it may now."""
        now = time.monotonic()
        with self._lock:
            failures = self._recent(address, now)
            if len(failures) < self.attempts:
                return None
            return max(1, int(failures[0] + self.window - now) + 1)

    def failed(self, address: str) -> None:
        """Record one wrong sign-in from ``address``."""
        with self._lock:
            self._recent(address, time.monotonic()).append(time.monotonic())


class Authenticator:
    """Turns a request's credentials into a :class:`Principal`."""

    def __init__(self, tokens: TokenStore, settings: ServerSettings, secret: bytes) -> None:
        self.tokens = tokens
        self.settings = settings
        self._secret = secret
        self.limiter = SignInLimiter(settings.signin_attempts,
                                     settings.signin_window.total_seconds())

    def csrf_token(self, session: str) -> str:
        """The CSRF token of a session (an HMAC of it: nothing to store)."""
        return hmac.new(self._secret, b"csrf:" + session.encode(), hashlib.sha256).hexdigest()

    def check_csrf(self, session: str | None, token: str | None) -> bool:
        """True when ``token`` is the CSRF token of ``session``."""
        if not session or not token:
            return False
        return hmac.compare_digest(self.csrf_token(session), token)

    def _proxy(self, request: Request) -> Principal | None:
        header = self.settings.proxy_header
        if not header:
            return None
        value = request.headers.get(header)
        client = request.client.host if request.client else ""
        if value is None or client not in self.settings.proxy_trusted:
            return None
        name = value.strip()
        if not name.startswith(("user:", "agent:")):
            name = "user:" + name
        if not _PROXY_NAME.match(name.split(":", 1)[1]):
            raise AuthenticationError(f"the proxy header {header} names {value!r}, which is "
                                      "not a user name")
        roles = set(self.settings.proxy_roles)
        if name.startswith("agent:"):
            roles.discard("reviewer")
        return Principal(name, frozenset(roles), "proxy")

    def principal(self, request: Request) -> Principal:
        """The caller, or :class:`AuthenticationError` saying what was missing or wrong."""
        authorization = request.headers.get("authorization")
        if authorization:
            scheme, _, token = authorization.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise AuthenticationError("the Authorization header is not 'Bearer TOKEN'",
                                          hint="send Authorization: Bearer tlk_...")
            return self.tokens.authenticate(token.strip())
        session = request.cookies.get(SESSION_COOKIE)
        if session:
            return self.tokens.session(session)
        proxied = self._proxy(request)
        if proxied is not None:
            return proxied
        raise AuthenticationError("this needs authentication",
                                  hint="send Authorization: Bearer TOKEN, or sign in on the "
                                  "web page")
