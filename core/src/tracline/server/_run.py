"""Run the team server under uvicorn, with its limits: loopback by default, a warning when
bound elsewhere without TLS, body limits, header and idle timeouts."""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from collections.abc import Callable

from tracline.config import Config
from tracline.db import display_url
from tracline.errors import ConfigError
from tracline.server._app import create_app
from tracline.server._limits import BodyLimit, TimedH11Protocol
from tracline.server._settings import ServerSettings

__all__ = ["bind_warning", "is_loopback", "serve"]

log = logging.getLogger("tracline.server")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind_warning(host: str, port: int, tls: bool) -> str | None:
    """What to say when the server would be reachable from other machines without TLS."""
    if is_loopback(host) or tls:
        return None
    return (f"tracline: WARNING: serving on {host}:{port} without TLS: tokens and session "
            "cookies cross the network in clear. Put a TLS reverse proxy in front (see "
            "docs/server.md) or pass --tls-cert and --tls-key.")


def serve(config: Config, *, host: str = "127.0.0.1", port: int = 5050,
          store_url: str | None = None, registry_url: str | None = None,
          certfile: str | None = None, keyfile: str | None = None,
          say: Callable[[str], None] = print,
          listening: Callable[[str], None] | None = None) -> None:
    """Serve until interrupted; ``listening(url)`` is called once connections are accepted
    (``port=0`` picks a free port: the url names it)."""
    import uvicorn

    tls = certfile is not None
    if tls and keyfile is None:
        raise ConfigError("--tls-cert needs --tls-key", hint="give the certificate's key file")
    settings = ServerSettings.from_config(config, tls=tls)
    warning = bind_warning(host, port, tls)
    if warning:
        say(warning)
    app = create_app(config, store_url=store_url, registry_url=registry_url,
                     settings=settings)
    state = app.state.tracline
    report = state.requests.verify_audit()
    scheme = "https" if tls else "http"
    try:
        sock = socket.create_server((host, port), backlog=2048,
                                    family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as e:
        state.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {e.strerror}",
                          hint="choose another --port or stop what uses it") from e
    port = sock.getsockname()[1]
    say(f"tracline: team server on {scheme}://{host}:{port} (requests: "
        f"{display_url(state.requests.url)}; registry: {display_url(state.registry.url)})")
    say(f"tracline: audit head {report.head_seq} {report.head_hash}"
        + ("" if report.ok else " — the audit chain does NOT verify: tracline request audit "
           "--verify"))
    uv = uvicorn.Config(
        BodyLimit(app, settings.max_body), host=host, port=port, http=TimedH11Protocol,
        ws="none", lifespan="off", timeout_keep_alive=5, limit_concurrency=1000,
        ssl_certfile=certfile, ssl_keyfile=keyfile, server_header=False,
        log_level="warning", access_log=False,
    )
    server = uvicorn.Server(uv)
    if listening is not None:
        listening(f"{scheme}://{host}:{port}")
    try:
        server.run(sockets=[sock])
    except (OSError, SystemExit) as e:  # uvicorn exits when it cannot bind
        raise ConfigError(f"cannot listen on {host}:{port}",
                          hint="choose another --port or stop what uses it") from e
    finally:
        sock.close()
        state.close()
        sys.stdout.flush()
