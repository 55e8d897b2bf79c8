"""`tracline serve`: the lineage endpoint in front of the registry."""

from __future__ import annotations

import click

from tracline.cli._common import app, console
from tracline.config import load_config
from tracline.errors import ConfigError


@app.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=5050, show_default=True, type=int, help="Port to bind.")
@click.option("--registry-url", default=None, help="Registry database (default: the config's).")
def serve(host: str, port: int, registry_url: str | None) -> None:
    """Serve POST /api/v1/lineage (OpenLineage events) into the registry."""
    from tracline.registry import Registry
    from tracline.server import LineageServer

    registry = Registry(registry_url or load_config().registry_url)
    try:
        server = LineageServer(host, port, registry)
    except OSError as e:
        raise ConfigError(
            f"cannot listen on {host}:{port}: {e.strerror}",
            hint="choose another --port or stop what uses it",
        ) from e
    console.print(f"tracline: lineage endpoint on {server.url}/api/v1/lineage", markup=False)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        registry.close()
