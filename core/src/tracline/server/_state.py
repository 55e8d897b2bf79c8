"""What one server process holds: its settings, the stores, and the authenticator."""

from __future__ import annotations

import os
import secrets
import threading
from pathlib import Path

import attrs
from starlette.requests import Request

from tracline.approvals import RequestService
from tracline.config import Config
from tracline.identity import Principal, Signatures, SigningSettings, TokenStore, generate_key
from tracline.registry import Registry
from tracline.server._auth import Authenticator
from tracline.server._settings import ServerSettings

__all__ = ["ServerState", "caller", "open_state", "state_of"]


def _secret(path: Path) -> bytes:
    """The server's session secret (made once, readable by its owner only)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
    return path.read_bytes()


@attrs.define
class ServerState:
    """The stores and settings of one ``tracline serve`` process."""

    config: Config
    settings: ServerSettings
    requests: RequestService
    tokens: TokenStore
    registry: Registry
    auth: Authenticator
    ingest_lock: threading.Lock = attrs.field(factory=threading.Lock)

    def close(self) -> None:
        """Release every database connection."""
        self.requests.close()
        self.registry.close()


def open_state(config: Config, settings: ServerSettings, *, store_url: str | None = None,
               registry_url: str | None = None) -> ServerState:
    """Open the stores (making the server's key and secret on first start)."""
    if not settings.key.exists():
        generate_key(settings.key, "tracline-server")
    signing = attrs.evolve(SigningSettings.from_config(config), server_key=str(settings.key))
    if store_url is None and registry_url and not config.section("requests").get("url"):
        store_url = registry_url  # one database for a server given only --registry-url
    registry = Registry(registry_url or config.registry_url)
    requests = RequestService(store_url, config, signatures=Signatures(signing),
                              authenticated=True, registry_url=registry.url)
    tokens = TokenStore(requests.url, engine=requests.store.engine)
    auth = Authenticator(tokens, settings, _secret(settings.home / "session_secret"))
    return ServerState(config, settings, requests, tokens, registry, auth)


def state_of(request: Request) -> ServerState:
    """The server state of the app handling ``request``."""
    state: ServerState = request.app.state.tracline
    return state


def caller(request: Request) -> Principal:
    """The authenticated caller (FastAPI dependency); 401 when there is none."""
    return state_of(request).auth.principal(request)
