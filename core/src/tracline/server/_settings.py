"""The team server's settings: ``[server]`` in tracline.toml and ``tracline serve``'s options.

::

    [server]
    url = "https://tracline.example.com"   # clients: where the server is (or $TRACLINE_URL)
    token_file = "~/.config/tracline/token" # clients: the API token (or $TRACLINE_TOKEN)
    key = "/var/lib/tracline/server_ed25519" # the server's attesting SSH key (made if missing)
    max_body = "16MiB"                      # largest request body
    session_ttl = "12h"                     # web sessions
    secure_cookies = true                   # default: true when serving TLS or behind a proxy

    [server.proxy]                          # single sign-on through a reverse proxy
    header = "X-Forwarded-User"             # the header the proxy sets (oauth2-proxy)
    trusted = ["127.0.0.1"]                 # only requests from these addresses may set it
    roles = ["requester", "reviewer"]       # the roles of a principal it names

    [marquez]
    web_url = "http://marquez-web:3000"     # links from receipts to Marquez's web UI
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import attrs

from tracline.approvals import parse_duration
from tracline.config import Config
from tracline.errors import ConfigError
from tracline.identity import ROLES

__all__ = ["ServerSettings"]

_KEYS = {"url", "token_file", "key", "max_body", "session_ttl", "secure_cookies", "proxy",
         "signin_attempts"}
_SIZE = re.compile(r"^\s*(\d+)\s*(B|KiB|MiB|GiB|KB|MB|GB)?\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kib": 1024, "mib": 1024**2, "gib": 1024**3, "kb": 1000, "mb": 1000**2,
          "gb": 1000**3}


def _size(value: Any, where: str) -> int:
    match = _SIZE.match(str(value))
    if isinstance(value, bool) or not match:
        raise ConfigError(f"{where} = {value!r} is not a size", hint='write e.g. "16MiB"')
    return int(match.group(1)) * _UNITS[(match.group(2) or "b").lower()]


@attrs.frozen
class ServerSettings:
    """Everything ``tracline serve`` needs beyond the stores' URLs."""

    home: Path
    key: Path
    max_body: int = 16 * 1024 * 1024
    session_ttl: dt.timedelta = dt.timedelta(hours=12)
    secure_cookies: bool = False
    proxy_header: str | None = None
    proxy_trusted: tuple[str, ...] = ()
    proxy_roles: tuple[str, ...] = ("requester", "reviewer")
    marquez_web_url: str | None = None
    #: Wrong sign-ins per address in :attr:`signin_window` before sign-in is refused.
    signin_attempts: int = 10
    signin_window: dt.timedelta = dt.timedelta(minutes=5)

    @classmethod
    def from_config(cls, config: Config, *, tls: bool = False) -> ServerSettings:
        """Read ``[server]`` and ``[marquez] web_url``; raise :class:`ConfigError` if bad."""
        table = config.checked_section("server", _KEYS)
        home = config.home / "server"
        key = Path(str(table.get("key") or home / "server_ed25519")).expanduser()
        proxy = table.get("proxy") or {}
        if not isinstance(proxy, dict):
            raise ConfigError("[server.proxy] must be a table",
                              hint='write [server.proxy] with header = "X-Forwarded-User"')
        trusted = proxy.get("trusted", [])
        roles = tuple(proxy.get("roles", ("requester", "reviewer")))
        if proxy.get("header") and not trusted:
            raise ConfigError("[server.proxy] header is set but trusted names no address",
                              hint='list the proxy\'s address: trusted = ["127.0.0.1"]')
        if any(r not in ROLES for r in roles):
            raise ConfigError(f"[server.proxy] roles = {list(roles)} names an unknown role",
                              hint=f"roles: {', '.join(ROLES)}")
        secure = table.get("secure_cookies", tls or bool(proxy.get("header")))
        attempts = table.get("signin_attempts", 10)
        if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 1:
            raise ConfigError(f"[server] signin_attempts = {attempts!r} is not a count")
        web = config.section("marquez").get("web_url")
        return cls(
            home=home, key=key, max_body=_size(table.get("max_body", "16MiB"),
                                                "[server] max_body"),
            session_ttl=parse_duration(table.get("session_ttl", "12h"), "[server] session_ttl"),
            secure_cookies=bool(secure), proxy_header=proxy.get("header") or None,
            proxy_trusted=tuple(str(a) for a in trusted), proxy_roles=roles,
            marquez_web_url=str(web).rstrip("/") if web else None, signin_attempts=attempts,
        )
